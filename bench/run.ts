/**
 * `npm run bench [-- single|ring|etcd|cluster|sources|engines|security|connections|protocols|wal ...] [--records N] [--runs N] [--quick] [--parts grpc,kafka,parquet] [--engine-puts N]`:
 * runs the benchmarks (by default `single` then `ring`) and prints Markdown
 * tables ready for docs/benchmarks.md, with the date and the machine.
 * Also: `--engines level,lmdb` (the index engines `single` loads),
 * `--connections N` (bulk load connections, 32), `--etcd-seconds S
 * --etcd-clients N` (`etcd`), `--cluster-records N --failover-seconds S`
 * (`cluster`), `--help`.
 *
 * `single [--single-seconds S] [--single-warmup-seconds W] [--read-seconds R]`:
 * single-record requests are measured for S seconds after W seconds of the
 * same load that are not counted, on sluice and on its bare fastify peer
 * alike; after each bulk load, reads by shard key and by id for R seconds
 * each (after R not counted) and an NDJSON export, beside PostgreSQL's on
 * the same rows (0: no reads).
 *
 * `connections [--bench-connections N] [--hold-seconds S] [--load-seconds S]
 * [--sustain-rate R] [--cost-seconds S]`: the white paper's load test with
 * `sluice bench` (bench/connections.bench.ts).
 *
 * `cluster [--parts steady,transport] [--profile-dir DIR --profile-seconds N]`:
 * only the bulk ingest (with its CPU per thread) and/or what one replica
 * copy of a batch costs by transport, instead of bulk, failover, etcd and
 * ring; with DIR, every node's CPU profile during the bulk ingest.
 *
 * `cluster --atomic [--cluster-records N] [--single-shard-records N]
 * [--small-body-records N] [--atomic-loads spanning,single-shard,small]
 * [--atomic-rounds N] [--read-requests N] [--profile-seconds N]`: the
 * cluster's load with and without atomic=true in the same run
 * (bench/cluster-atomic.bench.ts), instead of the bulk, failover and etcd
 * figures.
 *
 * `protocols [--records N] [--runs N] [--batch B] [--ways es-bulk,…]`: the
 * same log records through native NDJSON, OTLP/HTTP (protobuf, JSON),
 * Elasticsearch `_bulk` and Loki push (protobuf+snappy, JSON) on one node
 * (bench/protocols.bench.ts); `--ways` loads only those (and the native
 * peer); `--quick` loads 5,000 records per way once.
 *
 * `wal [--main DIR] [--wal-appends N] [--wrk-seconds S] [--port-base P]`: WAL
 * segment preallocation before and after (bench/wal-prealloc.bench.ts); DIR
 * is a `git archive` snapshot of main to run side by side.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { runSingleNodeBench } from './single-node.bench.ts';
import { runSecurityBench } from './security.bench.ts';
import { runRingBench } from './ring.ts';
import { runEtcdBaseline } from './etcd-baseline.ts';
import { runClusterBench } from './cluster.bench.ts';
import { LOADS, runClusterAtomicBench } from './cluster-atomic.bench.ts';
import { runSourcesBench, type SourcesPart } from './sources.bench.ts';
import { runEnginesBench } from './engines.bench.ts';
import { runConnectionsBench } from './connections.bench.ts';
import { runProtocolsBench } from './protocols.bench.ts';
import { parseWays } from './lib/protocol-ways.ts';
import { runWalPreallocBench } from './wal-prealloc.bench.ts';
import { ensureEtcd } from './lib/debian-package.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    records: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    'single-seconds': { type: 'string', default: '10' },
    'single-warmup-seconds': { type: 'string', default: '3' },
    // single: each read load (by key, by id) after the bulk load; 0 leaves reads and export out.
    'read-seconds': { type: 'string', default: '5' },
    engines: { type: 'string', default: 'level,lmdb' },
    'etcd-seconds': { type: 'string', default: '10' },
    'etcd-clients': { type: 'string', default: '32' },
    'cluster-records': { type: 'string', default: '1000000' },
    'failover-seconds': { type: 'string', default: '20' },
    quick: { type: 'boolean', default: false },
    parts: { type: 'string', default: 'grpc,kafka,parquet' },
    // protocols: which ways in (the native peer always runs).
    ways: { type: 'string', default: '' },
    'engine-puts': { type: 'string', default: '3000000' },
    atomic: { type: 'boolean', default: false },
    // Defaults of the atomic comparison: the single-shard load as large as the main one; 100-record bodies a fifth of it.
    'single-shard-records': { type: 'string' },
    'small-body-records': { type: 'string' },
    'read-requests': { type: 'string', default: '6000' },
    'profile-seconds': { type: 'string', default: '10' },
    // cluster: CPU profiles of every node during the bulk ingest, saved in this directory.
    'profile-dir': { type: 'string' },
    'atomic-loads': { type: 'string', default: 'spanning,single-shard,small' },
    'atomic-rounds': { type: 'string', default: '1' },
    // connections: the white paper's load test with `sluice bench`.
    'bench-connections': { type: 'string' },
    'hold-seconds': { type: 'string', default: '60' },
    'load-seconds': { type: 'string', default: '60' },
    'sustain-rate': { type: 'string', default: '15000' },
    'cost-seconds': { type: 'string', default: '6' },
    // protocols: records per request.
    batch: { type: 'string', default: '1000' },
    // wal: preallocated segments against main.
    main: { type: 'string' },
    'wal-appends': { type: 'string', default: '3000' },
    'wrk-seconds': { type: 'string', default: '5' },
    'port-base': { type: 'string', default: '18700' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help === true) {
  // The usage is this file's opening comment, so `--help` says what the code above it reads.
  const head = /^\/\*\*([\s\S]*?)\*\//.exec(readFileSync(new URL(import.meta.url), 'utf8'))?.[1] ?? '';
  console.log(head.split('\n').map((l) => l.replace(/^ \* ?/, '')).join('\n').trim());
  process.exit(0);
}
const known = ['single', 'ring', 'etcd', 'cluster', 'sources', 'engines', 'security', 'connections', 'protocols', 'wal'];
// `ring` joins the default run: it is pure computation and takes about a second.
const suites = positionals.length > 0 ? positionals : ['single', 'ring'];
const quick = values.quick === true;
for (const suite of suites) {
  if (!known.includes(suite)) {
    console.error(`unknown benchmark suite ${suite} (known: ${known.join(', ')})`);
    process.exit(2);
  }
}

// The suites that start etcd: a fresh machine gets Debian's etcd-server first, as `npm test` does.
if (suites.some((s) => ['etcd', 'cluster', 'security'].includes(s))) ensureEtcd();

console.log(`# sluice benchmark: ${suites.join(', ')}`);
console.log('');
console.log(`${new Date().toISOString()} · ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'} · ${Math.round(os.totalmem() / 2 ** 30)} GiB · ${os.type()} ${os.release()} · Node ${process.version}`);
console.log(`command: npm run bench -- ${process.argv.slice(2).join(' ')}`);
console.log('');

for (const suite of suites) {
  if (suite === 'single') {
    await runSingleNodeBench({
      records: quick ? 100_000 : Number(values.records),
      perBody: 1000,
      connections: Number(values.connections),
      singleSeconds: quick ? 3 : Number(values['single-seconds']),
      singleWarmupSeconds: quick ? 1 : Number(values['single-warmup-seconds']),
      runs: quick ? 1 : Number(values.runs),
      engines: String(values.engines).split(',') as ('lmdb' | 'level')[],
      readSeconds: quick ? 1 : Number(values['read-seconds']),
    });
  } else if (suite === 'ring') {
    runRingBench();
  } else if (suite === 'etcd') {
    await runEtcdBaseline({
      seconds: quick ? 3 : Number(values['etcd-seconds']),
      runs: quick ? 1 : Number(values.runs),
      clients: Number(values['etcd-clients']),
      perTxn: 128,
    });
  } else if (suite === 'cluster' && values.atomic === true) {
    const loads = String(values['atomic-loads']).split(',');
    for (const l of loads) {
      if (!(LOADS as readonly string[]).includes(l)) {
        console.error(`unknown --atomic-loads entry ${l} (known: ${LOADS.join(', ')})`);
        process.exit(2);
      }
    }
    const records = quick ? 100_000 : Number(values['cluster-records']);
    await runClusterAtomicBench({
      records,
      singleShardRecords: values['single-shard-records'] === undefined ? records : Number(values['single-shard-records']),
      smallBodyRecords: values['small-body-records'] === undefined ? records / 5 : Number(values['small-body-records']),
      connections: Number(values.connections),
      runs: quick ? 1 : Number(values.runs),
      readRequests: quick ? 2_000 : Number(values['read-requests']),
      profileSeconds: quick ? 3 : Number(values['profile-seconds']),
      loads: loads as (typeof LOADS)[number][],
      rounds: Number(values['atomic-rounds']),
      ...(process.argv.some((arg) => arg.startsWith('--engines')) ? { engine: String(values.engines).split(',')[0] as 'lmdb' | 'level' } : {}),
    });
  } else if (suite === 'cluster') {
    // Not in the default run: it starts 3 nodes and two 3-member etcd clusters and takes minutes.
    await runClusterBench({
      records: quick ? 100_000 : Number(values['cluster-records']),
      perBody: 1000,
      connections: Number(values.connections),
      runs: quick ? 1 : Number(values.runs),
      failoverSeconds: quick ? 8 : Number(values['failover-seconds']),
      // Only when asked for (`--engines lmdb`): otherwise the nodes' own default.
      ...(process.argv.some((arg) => arg.startsWith('--engines')) ? { engine: String(values.engines).split(',')[0] as 'lmdb' | 'level' } : {}),
      // `--parts steady,transport`: only the bulk ingest (its CPU per thread included) and/or the transport costs.
      ...(process.argv.some((arg) => arg.startsWith('--parts')) ? { parts: String(values.parts).split(',') as ('steady' | 'transport')[] } : {}),
      ...(values['profile-dir'] === undefined ? {} : { profileDir: String(values['profile-dir']), profileSeconds: Number(values['profile-seconds']) }),
      etcd: {
        seconds: quick ? 3 : Number(values['etcd-seconds']),
        runs: quick ? 1 : Number(values.runs),
        clients: Number(values['etcd-clients']),
        perTxn: 128,
      },
    });
  } else if (suite === 'sources') {
    await runSourcesBench({
      records: quick ? 100_000 : Number(values.records) / 2,
      perBody: 1000,
      connections: Number(values.connections),
      runs: quick ? 1 : Number(values.runs),
      parts: String(values.parts).split(',') as SourcesPart[],
      parquetRows: quick ? 100_000 : 1_000_000,
    });
  } else if (suite === 'security') {
    await runSecurityBench({
      records: quick ? 100_000 : Number(values.records) / 2,
      clusterRecords: quick ? 50_000 : Number(values['cluster-records']) / 4,
      connections: Number(values.connections),
      singleSeconds: quick ? 3 : Number(values['single-seconds']),
      runs: quick ? 1 : Number(values.runs),
    });
  } else if (suite === 'connections') {
    await runConnectionsBench({
      runs: quick ? 1 : Number(values.runs),
      connections: values['bench-connections'] === undefined ? (quick ? 2_000 : undefined) : Number(values['bench-connections']),
      holdSeconds: quick ? 5 : Number(values['hold-seconds']),
      loadSeconds: quick ? 8 : Number(values['load-seconds']),
      sustainRate: Number(values['sustain-rate']),
      profileSeconds: quick ? 3 : Number(values['profile-seconds']),
      costSeconds: quick ? 0 : Number(values['cost-seconds']),
    });
  } else if (suite === 'protocols') {
    await runProtocolsBench({
      records: quick ? 5_000 : Number(values.records),
      perBody: Number(values.batch),
      connections: Number(values.connections),
      runs: quick ? 1 : Number(values.runs),
      ways: parseWays(values.ways),
      // Quick proves the bench works end to end: one 2 s look at the machine, no waiting.
      ...(quick ? { quietWaitMsMax: 0 } : {}),
    });
  } else if (suite === 'wal') {
    await runWalPreallocBench({
      runs: quick ? 1 : Number(values.runs),
      appends: quick ? 500 : Number(values['wal-appends']),
      wrkSeconds: quick ? 2 : Number(values['wrk-seconds']),
      mainDir: values.main,
      portBase: Number(values['port-base']),
    });
  } else if (suite === 'engines') {
    await runEnginesBench({
      puts: quick ? 300_000 : Number(values['engine-puts']),
      segments: 6,
      runs: quick ? 1 : Number(values.runs),
      engines: String(values.engines).split(',') as ('lmdb' | 'level')[],
    });
  }
}
