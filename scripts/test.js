#!/usr/bin/env node
// `npm test`: type-check, then every test file with node:test. Runs on the
// project's Node 24 (npm puts node_modules/.bin first on PATH).
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, globSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  console.error(`npm test needs Node >= 24 (got ${process.version}); run it through npm after npm ci`);
  process.exit(1);
}

// V8's compiled code of the TypeScript sources, kept on disk and checked against each file's contents: every test
// file's process and every node a test starts loads hundreds of modules (bin/sluice.js turns it on for nodes too).
const compileCache = process.env.NODE_COMPILE_CACHE ?? path.join(os.tmpdir(), 'node-compile-cache');

const testEnv = { ...process.env, NODE_COMPILE_CACHE: compileCache };

function run(cmd, args) {
  console.log(`$ ${[path.relative(root, cmd) || cmd, ...args].join(' ')}`);
  const res = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: testEnv });
  if (res.status !== 0) process.exit(res.status ?? 1);
}

/** etcd for the cluster tests: Debian's etcd-server, installed when missing (CI starts clean). */
function ensureEtcd() {
  const bin = process.env.SLUICE_ETCD_BIN ?? '/usr/bin/etcd';
  if (existsSync(bin)) return;
  console.log(`$ apt-get install -y etcd-server   (${bin} is missing)`);
  const install = () => spawnSync('apt-get', ['install', '-y', '-q', 'etcd-server'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  let res = install();
  if (res.status !== 0) {
    spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit' });
    res = install();
  }
  if (res.status !== 0 || !existsSync(bin)) {
    console.error(`etcd is needed by the cluster tests and could not be installed: run \`apt-get install etcd-server\` as root, or set SLUICE_ETCD_BIN`);
    process.exit(1);
  }
}

/**
 * promtool and Prometheus for the /metrics and dashboard tests: Debian's `prometheus` package,
 * installed when missing without recommends (no node exporter). The package's own service is
 * stopped and disabled: the tests run promtool, and start their own Prometheus on a free port.
 */
function ensurePromtool() {
  const bin = process.env.SLUICE_PROMTOOL_BIN ?? '/usr/bin/promtool';
  if (existsSync(bin)) return;
  console.log(`$ apt-get install -y --no-install-recommends prometheus   (${bin} is missing)`);
  const install = () => spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'prometheus'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  let res = install();
  if (res.status !== 0) {
    spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit' });
    res = install();
  }
  if (res.status !== 0 || !existsSync(bin)) {
    console.error(`promtool is needed by the metrics lint test and could not be installed: run \`apt-get install --no-install-recommends prometheus\` as root, or set SLUICE_PROMTOOL_BIN`);
    process.exit(1);
  }
  // Where the package's service started (a machine booted with an init system), stop it: ours is a test run.
  for (const args of [['service', 'prometheus', 'stop'], ['update-rc.d', 'prometheus', 'disable']]) {
    spawnSync(args[0], args.slice(1), { stdio: 'ignore' });
  }
  spawnSync('systemctl', ['disable', '--now', 'prometheus'], { stdio: 'ignore' });
}

/**
 * apt-get install `args` (packages and options), after an `apt-get update` if the first try fails,
 * with the packages' system services kept from starting (policy-rc.d): the tests start their own.
 */
function installWithoutServices(args) {
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !existsSync(policy);
  // 101: "action forbidden": invoke-rc.d and deb-systemd-invoke start no service.
  if (ownPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  const install = () => spawnSync('apt-get', ['install', '-y', '-q', ...args], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  try {
    if (install().status !== 0) {
      spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit' });
      install();
    }
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
}

/**
 * rsyslog with omelasticsearch for the Elasticsearch _bulk test: Debian's rsyslog and
 * rsyslog-elasticsearch, installed when missing. The test runs its own rsyslogd; the
 * package's system service is kept from starting during the install (policy-rc.d) and
 * stopped if it started anyway, so a CI machine is left without a syslog daemon it did not have.
 */
function ensureRsyslog() {
  const bin = process.env.SLUICE_RSYSLOGD_BIN ?? '/usr/sbin/rsyslogd';
  const hasModule = () => globSync('/usr/lib/*/rsyslog/omelasticsearch.so').length > 0 || existsSync('/usr/lib/rsyslog/omelasticsearch.so');
  const hadRsyslog = existsSync(bin);
  if (hadRsyslog && hasModule()) return;
  console.log(`$ apt-get install -y rsyslog rsyslog-elasticsearch   (${bin} or omelasticsearch is missing)`);
  installWithoutServices(['rsyslog', 'rsyslog-elasticsearch']);
  // Where systemd runs, make sure the service this install brought is not left running (the test needs none);
  // a syslog daemon the machine already had is left alone.
  if (!hadRsyslog && existsSync('/run/systemd/system')) spawnSync('systemctl', ['disable', '--now', 'rsyslog.service', 'syslog.socket'], { stdio: 'inherit' });
  if (!existsSync(bin) || !hasModule()) {
    console.error('rsyslog with omelasticsearch is needed by the Elasticsearch _bulk test and could not be installed: run `apt-get install rsyslog rsyslog-elasticsearch` as root, or set SLUICE_RSYSLOGD_BIN');
    process.exit(1);
  }
}

/**
 * PostgreSQL for the bench's peer and its test (bench/lib/postgres-peer.ts starts a server of its
 * own as the postgres user): Debian's postgresql, installed when missing without recommends and
 * without starting the package's own cluster (policy-rc.d), which nothing here uses.
 */
function ensurePostgres() {
  const has = () => globSync('/usr/lib/postgresql/*/bin/postgres').length > 0;
  if (has()) return;
  console.log('$ apt-get install -y --no-install-recommends postgresql   (no /usr/lib/postgresql/*/bin/postgres)');
  installWithoutServices(['--no-install-recommends', 'postgresql']);
  if (existsSync('/run/systemd/system')) spawnSync('systemctl', ['disable', '--now', 'postgresql.service'], { stdio: 'inherit' });
  if (!has()) {
    console.error('PostgreSQL is needed by the bench peer test and could not be installed: run `apt-get install --no-install-recommends postgresql` as root');
    process.exit(1);
  }
}

/** curl for the `Expect: 100-continue` test (a real client that sends it): Debian's curl, installed when missing. */
function ensureCurl() {
  const bin = process.env.SLUICE_CURL_BIN ?? '/usr/bin/curl';
  if (existsSync(bin)) return;
  console.log(`$ apt-get install -y curl   (${bin} is missing)`);
  installWithoutServices(['--no-install-recommends', 'curl']);
  if (!existsSync(bin)) {
    console.error('curl is needed by the Expect: 100-continue test and could not be installed: run `apt-get install curl` as root');
    process.exit(1);
  }
}

/**
 * Kafka for the Kafka tests: scripts/kafka.sh fetch puts its jars into the cache with Maven
 * the first time (a clean CI machine) and returns at once when they are there.
 */
function ensureKafka() {
  const script = path.join(root, 'scripts', 'kafka.sh');
  console.log(`$ ${path.relative(root, script)} fetch`);
  // Through bash, so a checkout that lost the executable bit still works.
  const res = spawnSync('bash', [script, 'fetch'], { cwd: root, stdio: 'inherit' });
  if (res.status !== 0) {
    const why = res.error ? res.error.message : `exit ${res.status ?? res.signal}`;
    console.error(`Kafka is needed by the Kafka tests and could not be fetched (${why}); the lines above say why. It needs Java 17+ and Maven (apt-get install openjdk-17-jre-headless maven) and a reachable Maven repository.`);
    process.exit(1);
  }
}

ensureEtcd();
ensurePromtool();
ensureRsyslog();
ensurePostgres();
ensureCurl();
ensureKafka();
run(path.join(root, 'node_modules', '.bin', 'tsc'), ['--noEmit', '-p', '.']);
/**
 * Process tests that run in a second lane, one file at a time, beside the others: each starts one node
 * (or none) and asserts nothing on timing. The first lane starts with the Kafka tests, which mostly wait
 * on the broker, so the cluster tests, whose failure detectors are the most sensitive to a busy machine,
 * run after this lane is done (measured 2026-12-08 on a quiet machine: the Kafka tests 184 s; this lane
 * 106 s before the three file-import and crash-recovery files joined it, 145 s after; the gRPC, metrics,
 * dead-letter and flag files after that, which were in the first lane, ~50 s more).
 */
const BESIDE = new Set([
  'bad-input', 'basic-api', 'bench-verify', 'cert-cli', 'connections', 'crash-recovery', 'dead-letters', 'dedupe', 'dir-lock', 'dlq-reimport',
  'elasticsearch-bulk', 'elasticsearch-rsyslog', 'export-limit', 'file-import', 'file-import-changed', 'file-import-kill', 'file-import-rate-limit',
  'grpc-ingest', 'grpc-stream-memory', 'grpc-unary-memory', 'operator-metrics', 'serve-flags', 'start-imports',
  'graceful-shutdown', 'index-convert', 'loki-push', 'npx-quiet', 'otlp-env-config', 'otlp-logs', 'parquet-export',
  'protocol-dead-letters', 'readiness', 'schema-and-cli', 'status-page-tls', 'table-limits', 'token-cli', 'wal-corruption',
]);

/** Runs `node --test` on `files` one at a time, its report to `stdio`; resolves with its exit code. */
async function testFiles(files, stdio) {
  const args = ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files];
  const child = spawn(process.execPath, args, { cwd: root, stdio, env: testEnv });
  const [code] = await once(child, 'exit');
  return code ?? 1;
}

/**
 * Runs the process tests in two lanes at once; the second lane's report is printed after the first's.
 * The first lane is two runs (node --test orders the files of one run itself): the Kafka tests, then the rest.
 */
async function runProcessTests(files) {
  const name = (f) => path.basename(f, '.test.ts');
  const beside = files.filter((f) => BESIDE.has(name(f)));
  const kafka = files.filter((f) => !BESIDE.has(name(f)) && name(f).startsWith('kafka'));
  const rest = files.filter((f) => !beside.includes(f) && !kafka.includes(f));
  const report = path.join(os.tmpdir(), `sluice-test-lane-${process.pid}.log`);
  const fd = openSync(report, 'w');
  console.log(`$ node --test ${beside.join(' ')}   (second lane, reported at the end)`);
  const lane = testFiles(beside, ['ignore', fd, fd]);
  closeSync(fd);
  console.log(`$ node --test ${kafka.join(' ')}`);
  const kafkaCode = await testFiles(kafka, 'inherit');
  console.log(`$ node --test ${rest.join(' ')}`);
  const restCode = await testFiles(rest, 'inherit');
  const laneCode = await lane;
  console.log('\n# second lane: the process tests run beside the others\n');
  process.stdout.write(readFileSync(report));
  rmSync(report, { force: true });
  const failed = [kafkaCode, restCode, laneCode].find((c) => c !== 0);
  if (failed !== undefined) process.exit(failed);
}

const only = process.argv.slice(2);
if (only.length > 0) {
  run(process.execPath, ['--test', '--test-reporter=spec', ...only]);
} else {
  // In-process tests two files at a time (they are mostly CPU and process start-up), then the tests
  // of real processes (nodes, etcd, Kafka, SIGKILL and timeouts) in two lanes of one file at a time.
  const all = globSync('test/**/*.test.ts', { cwd: root }).sort();
  const processTests = all.filter((f) => f.startsWith('test/process/'));
  run(process.execPath, ['--test', '--test-concurrency=2', '--test-reporter=spec', ...all.filter((f) => !processTests.includes(f))]);
  await runProcessTests(processTests);
}
