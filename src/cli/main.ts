/**
 * The `sluice` command line: one file per command, wired here.
 */
import { Command } from 'commander';
import { serveCommand } from './serve.ts';
import { tableCommand } from './table.ts';
import { ingestCommand } from './ingest.ts';
import { queryCommand } from './query.ts';
import { exportCommand } from './export.ts';
import { clusterCommand } from './cluster.ts';
import { kafkaCommand } from './kafka.ts';
import { indexCommand } from './index-convert.ts';
import { tokenCommand } from './token.ts';
import { certCommand } from './cert.ts';
import { benchCommand } from './bench.ts';
import { dlqCommand } from './dlq.ts';
import { CliError } from './cli-error.ts';
import { resolveClientToken, type TokenOptions } from './client-auth.ts';
import { trustCaCert } from './client-tls.ts';
import { DEFAULT_URL } from './http-client.ts';
import { isSluiceError } from '../core/errors.ts';

const program = new Command()
  .name('sluice')
  .description('sluice: validate, id, route and durably store records; serve them back')
  .version('0.1.0')
  .showHelpAfterError()
  .option('--token <token>', 'bearer token for the node (visible to other users of this machine: prefer --token-file or $SLUICE_TOKEN)')
  .option('--token-file <file>', 'a file holding the bearer token')
  .option('--ca-cert <file>', 'also trust this CA (PEM) for https:// node URLs, e.g. a node\'s --tls auto certificate (or set $SLUICE_CA_CERT)')
  .hook('preAction', (root, action) => {
    resolveClientToken(root.opts<TokenOptions>(), action.opts<{ url?: string }>().url, DEFAULT_URL);
    const caCert = root.opts<{ caCert?: string }>().caCert;
    // Commander gives the program an option it knows wherever it appears, so the --ca-cert of `sluice cert create-*`
    // (the CA to sign with) lands here: hand it back to the command it belongs to.
    if (action.options.some((o) => o.long === '--ca-cert')) {
      if (caCert !== undefined) action.setOptionValue('caCert', caCert);
      return;
    }
    // A node's own trust (its etcd and Kafka clients) is not the CLI user's.
    if (action.name() !== 'serve') trustCaCert(caCert);
  })
  .addCommand(serveCommand())
  .addCommand(tableCommand())
  .addCommand(ingestCommand())
  .addCommand(queryCommand())
  .addCommand(exportCommand())
  .addCommand(clusterCommand())
  .addCommand(kafkaCommand())
  .addCommand(indexCommand())
  .addCommand(tokenCommand())
  .addCommand(certCommand())
  .addCommand(benchCommand())
  .addCommand(dlqCommand());

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CliError) {
    process.stderr.write(`sluice: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  if (isSluiceError(err)) {
    process.stderr.write(`sluice: ${err.code}: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
