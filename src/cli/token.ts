/**
 * `sluice token create|list|revoke|rotate|whoami` over the HTTP API (an
 * admin token for all but whoami), and `sluice token reset-admin` on a
 * stopped node's data dir: the way back in when every admin token is lost.
 */
import { Command } from 'commander';
import { lockDataDir } from '../storage/dir-lock.ts';
import { DEFAULT_CONFIG } from '../config.ts';
import { adminTokenFile, writeTokenFile } from '../security/bootstrap.ts';
import { FileTokenStore } from '../security/file-token-store.ts';
import { TokenRegistry } from '../security/token-registry.ts';
import { CliError } from './cli-error.ts';
import { DEFAULT_URL, requestJson } from './http-client.ts';

interface UrlOption {
  url: string;
}

interface TokenInfo {
  id: string;
  name: string;
  scopes: string[];
  createdAt: string;
  expiresAt?: string;
  revokedAt?: string;
  token?: string;
}

/** The token command group. */
export function tokenCommand(): Command {
  const token = new Command('token').description('make, list, revoke and rotate bearer tokens');
  token
    .command('create')
    .description('make a token (its secret is printed once, on stdout)')
    .requiredOption('--name <name>', 'a name for people and the audit log, e.g. ingest-bot')
    .option('--scope <scope>', 'read:T, write:T, schema:T (T a table, a prefix like ledger_*, or *), ops, cluster or admin; repeatable', collect, [])
    .option('--expires <duration>', 'lifetime, e.g. 90d or 12h (default: no expiry)')
    .option('--url <url>', 'sluice node URL', DEFAULT_URL)
    .action(async (o: UrlOption & { name: string; scope: string[]; expires?: string }) => {
      if (o.scope.length === 0) throw new CliError('give at least one --scope', 2);
      const body = JSON.stringify({ name: o.name, scopes: o.scope, ...(o.expires === undefined ? {} : { expires: o.expires }) });
      const t = (await requestJson(`${o.url}/v1/auth/tokens`, { method: 'POST', body, headers: { 'content-type': 'application/json' } })) as TokenInfo;
      printIssued(t);
    });
  token
    .command('list')
    .description('list tokens (never their secrets)')
    .option('--url <url>', 'sluice node URL', DEFAULT_URL)
    .action(async (o: UrlOption) => {
      const res = (await requestJson(`${o.url}/v1/auth/tokens`)) as { tokens: TokenInfo[] };
      for (const t of res.tokens) process.stdout.write(`${t.id}\t${t.name}\t${t.scopes.join(',')}\t${state(t)}\n`);
    });
  token
    .command('revoke <id>')
    .description('revoke a token at once (on every node of a cluster within seconds)')
    .option('--url <url>', 'sluice node URL', DEFAULT_URL)
    .action(async (id: string, o: UrlOption) => {
      const t = (await requestJson(`${o.url}/v1/auth/tokens/${encodeURIComponent(id)}`, { method: 'DELETE' })) as TokenInfo;
      process.stdout.write(`revoked ${t.id} (${t.name})\n`);
    });
  token
    .command('rotate <id>')
    .description('make a successor with the same name and scopes; the old token ends after --grace')
    .option('--grace <duration>', 'how long the old token keeps working, e.g. 24h (default: it ends now)')
    .option('--url <url>', 'sluice node URL', DEFAULT_URL)
    .action(async (id: string, o: UrlOption & { grace?: string }) => {
      const body = JSON.stringify(o.grace === undefined ? {} : { grace: o.grace });
      const t = (await requestJson(`${o.url}/v1/auth/tokens/${encodeURIComponent(id)}/rotate`, { method: 'POST', body, headers: { 'content-type': 'application/json' } })) as TokenInfo;
      printIssued(t);
    });
  token
    .command('whoami')
    .description('show the token this CLI sends: id, name, scopes')
    .option('--url <url>', 'sluice node URL', DEFAULT_URL)
    .action(async (o: UrlOption) => {
      const t = (await requestJson(`${o.url}/v1/auth/whoami`)) as TokenInfo;
      process.stdout.write(`${t.id}\t${t.name}\t${t.scopes.join(',')}\t${state(t)}\n`);
    });
  token
    .command('reset-admin')
    .description('on a STOPPED single node: make a new admin token, write it to <data-dir>/admin.token and print it (lockout recovery)')
    .option('--data-dir <dir>', 'the node\'s data directory', DEFAULT_CONFIG.dataDir)
    .action(async (o: { dataDir: string }) => resetAdmin(o.dataDir));
  return token;
}

/** Makes a new admin token in a stopped node's tokens file (the data dir lock proves it is stopped). */
async function resetAdmin(dataDir: string): Promise<void> {
  const lock = await lockDataDir(dataDir);
  try {
    const registry = new TokenRegistry();
    await registry.load(new FileTokenStore(dataDir));
    const issued = await registry.create({ name: 'admin', scopes: ['admin'] }, 'reset-admin');
    await writeTokenFile(adminTokenFile(dataDir), issued.token);
    process.stderr.write(`sluice: a new admin token ${issued.record.id} was made; it is also in ${adminTokenFile(dataDir)} (mode 0600). Revoke tokens you no longer trust with \`sluice token revoke\`.\n`);
    process.stdout.write(`${issued.token}\n`);
  } finally {
    lock.release();
  }
}

function printIssued(t: TokenInfo): void {
  process.stderr.write(`token ${t.id} (${t.name}) scopes ${t.scopes.join(',')}${t.expiresAt === undefined ? '' : ` expires ${t.expiresAt}`}; its secret is shown once:\n`);
  process.stdout.write(`${t.token ?? ''}\n`);
}

function state(t: TokenInfo): string {
  if (t.revokedAt !== undefined) return `revoked ${t.revokedAt}`;
  if (t.expiresAt !== undefined) return `expires ${t.expiresAt}`;
  return 'active';
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
