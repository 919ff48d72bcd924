/**
 * `sluice serve`: runs a single node until SIGTERM/SIGINT, then stops
 * gracefully (stop accepting, finish requests in flight, flush, exit 0).
 */
import { Command, Option } from 'commander';
import { DEFAULT_CONFIG, resolveConfig, type NodeConfig } from '../config.ts';
import { SluiceNode } from '../sluice-node.ts';
import { isSluiceError } from '../core/errors.ts';
import { CliError } from './cli-error.ts';

interface ServeOptions {
  dataDir: string;
  http: string;
  engine: string;
  shards: string;
  datacenterId: string;
  machineId: string;
  bodyBytesMax: string;
  inFlightBytesMax: string;
  decodeThreads: string;
  walFlushMode: string;
  walFlushDelayMsMax: string;
  walFlushBytesMax: string;
  walSegmentBytesMax: string;
  walRecovery: string;
  diskFreeBytesMin: string;
  indexSyncIntervalMs: string;
  logLevel: string;
}

/** The serve command. */
export function serveCommand(): Command {
  const d = DEFAULT_CONFIG;
  return new Command('serve')
    .description('run a single sluice node (HTTP API, WAL, index) until SIGTERM')
    .option('--data-dir <dir>', 'data directory (wal/, index/, catalog.json)', d.dataDir)
    .option('--http <host:port>', 'HTTP listen address', `${d.httpHost}:${d.httpPort}`)
    .addOption(new Option('--engine <kind>', 'index engine').choices(['lmdb', 'level']).default(d.engine))
    .option('--shards <n>', 'shards per table (fixed for a data dir)', String(d.shards))
    .option('--datacenter-id <n>', 'snowflake datacenter id 0..31', String(d.datacenterId))
    .option('--machine-id <n>', 'snowflake machine id 0..31', String(d.machineId))
    .option('--body-bytes-max <bytes>', 'largest request body after gzip (413 past it)', String(d.bodyBytesMax))
    .option('--in-flight-bytes-max <bytes>', 'write bytes admitted at once (429 past it)', String(d.inFlightBytesMax))
    .option('--decode-threads <n>', 'worker threads decoding large bodies (0: main thread only)', String(d.decodeThreads))
    .addOption(new Option('--wal-flush-mode <mode>', 'group commit policy').choices(['idle', 'adaptive']).default(d.walFlushMode))
    .option('--wal-flush-delay-ms-max <ms>', 'longest a write waits for its group commit (≤ 200)', String(d.walFlushDelayMsMax))
    .option('--wal-flush-bytes-max <bytes>', 'group commit flushes at this many bytes', String(d.walFlushBytesMax))
    .option('--wal-segment-bytes-max <bytes>', 'WAL segment size before rotation', String(d.walSegmentBytesMax))
    .addOption(
      new Option('--wal-recovery <mode>', 'on a corrupt WAL frame before the tail: refuse to start, or truncate there').choices(['strict', 'truncate']).default(d.walRecovery),
    )
    .option('--disk-free-bytes-min <bytes>', 'refuse writes (507) below this much free disk', String(d.diskFreeBytesMin))
    .option('--index-sync-interval-ms <ms>', 'how often the index is fsync\'d and applied WAL segments released', String(d.indexSyncIntervalMs))
    .option('--log-level <level>', 'pino log level', d.logLevel)
    .action(async (opts: ServeOptions) => {
      const config = toConfig(opts);
      let node: SluiceNode;
      try {
        node = await SluiceNode.start(config);
      } catch (err) {
        if (isSluiceError(err)) throw new CliError(`${err.code}: ${err.message}`, 2);
        throw err;
      }
      let signalled = false;
      const stop = (signal: string): void => {
        if (signalled) return;
        signalled = true;
        node.log.info({ event: 'signal', signal }, 'shutting down');
        node.stop().then(
          () => process.exit(0),
          (err: unknown) => {
            node.log.fatal({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });
}

function toConfig(o: ServeOptions): NodeConfig {
  const [host, port] = splitHostPort(o.http);
  return resolveConfig({
    dataDir: o.dataDir,
    httpHost: host,
    httpPort: port,
    engine: o.engine as NodeConfig['engine'],
    shards: int(o.shards, '--shards'),
    datacenterId: int(o.datacenterId, '--datacenter-id'),
    machineId: int(o.machineId, '--machine-id'),
    bodyBytesMax: int(o.bodyBytesMax, '--body-bytes-max'),
    inFlightBytesMax: int(o.inFlightBytesMax, '--in-flight-bytes-max'),
    decodeThreads: int(o.decodeThreads, '--decode-threads'),
    walFlushMode: o.walFlushMode as NodeConfig['walFlushMode'],
    walFlushDelayMsMax: int(o.walFlushDelayMsMax, '--wal-flush-delay-ms-max'),
    walFlushBytesMax: int(o.walFlushBytesMax, '--wal-flush-bytes-max'),
    walSegmentBytesMax: int(o.walSegmentBytesMax, '--wal-segment-bytes-max'),
    walRecovery: o.walRecovery as NodeConfig['walRecovery'],
    diskFreeBytesMin: int(o.diskFreeBytesMin, '--disk-free-bytes-min'),
    indexSyncIntervalMs: int(o.indexSyncIntervalMs, '--index-sync-interval-ms'),
    logLevel: o.logLevel,
  });
}

function splitHostPort(value: string): [string, number] {
  const m = /^(.*):([0-9]{1,5})$/.exec(value);
  if (m === null || m[1] === undefined || m[2] === undefined) throw new CliError(`--http must be HOST:PORT, got ${value}`, 2);
  return [m[1].replace(/^\[(.*)\]$/, '$1') || '0.0.0.0', Number(m[2])];
}

function int(value: string, flag: string): number {
  if (!/^-?[0-9]+$/.test(value)) throw new CliError(`${flag} must be an integer, got ${value}`, 2);
  return Number(value);
}
