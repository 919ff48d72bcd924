/**
 * Debian's rsyslog with omelasticsearch (rsyslog-elasticsearch) sending
 * syslog lines to a live node's `_bulk`, as an operator would run it: its
 * own rsyslogd with its own config, pid file and work directory, an
 * `imtcp` input on a free port (no /dev/log, no system service), bulk
 * mode, and the sluice token as the basic-auth password (omelasticsearch
 * has no header option: docs/decisions/0025-es-shipper-credentials.md).
 * What it sends (application/json, blank lines between ops, no `_id`,
 * a `_type`) lands in `es_syslog`; with `bulkid` + `writeoperation="create"`
 * a message id sent twice is stored once and answered 409. rsyslogd is
 * killed by PID when the file ends (and by the kernel if the runner dies).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { NodeProcess, TEST_TOKEN, http, sleep, tempDir } from './harness.ts';
import { spawnOwned } from './owned-spawn.ts';

const RSYSLOGD = process.env['SLUICE_RSYSLOGD_BIN'] ?? '/usr/sbin/rsyslogd';
/** How long a test waits for rsyslog's batches to land. */
const LAND_TIMEOUT_MS = 20_000;

let node: NodeProcess;
let rsyslog: ChildProcess;
let dir: string;
const ports = { plain: 0, ids: 0 };
const cleanups: (() => Promise<void> | void)[] = [];
const fileScope = { after: (fn: () => Promise<void> | void) => void cleanups.push(fn) };

before(async () => {
  assert.ok(existsSync(RSYSLOGD), `${RSYSLOGD} is missing: apt-get install rsyslog rsyslog-elasticsearch (scripts/test.js does it)`);
  node = await NodeProcess.start(fileScope, { dataDir: tempDir(fileScope) });
  dir = tempDir(fileScope, 'sluice-rsyslog-');
  ports.plain = await freePort();
  ports.ids = await freePort();
  mkdirSync(path.join(dir, 'work'));
  const conf = path.join(dir, 'rsyslog.conf');
  // The token is a secret: the config file is the owner's only.
  writeFileSync(conf, rsyslogConf(dir, new URL(node.url).port), { mode: 0o600 });
  rsyslog = spawnOwned(RSYSLOGD, ['-n', '-f', conf, '-i', path.join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  rsyslog.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  rsyslog.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => rsyslog.once('exit', () => resolve()));
  fileScope.after(async () => {
    if (rsyslog.exitCode === null && rsyslog.signalCode === null) rsyslog.kill('SIGKILL');
    await exited;
  });
  await waitListening(ports.plain, () => `rsyslogd did not listen: ${output}`);
  await waitListening(ports.ids, () => `rsyslogd did not listen: ${output}`);
});
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

function rsyslogConf(base: string, httpPort: string): string {
  const action = (extra: string): string =>
    `action(type="omelasticsearch" server="127.0.0.1" serverport="${httpPort}" template="doc" bulkmode="on" uid="rsyslog" pwd="${TEST_TOKEN}" ${extra})`;
  return `
global(workDirectory="${base}/work")
module(load="imtcp")
module(load="omelasticsearch")
template(name="doc" type="list" option.jsonf="on") {
  property(outname="@timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="host" name="hostname" format="jsonf")
  property(outname="tag" name="syslogtag" format="jsonf")
  property(outname="message" name="msg" format="jsonf")
}
template(name="msgid" type="string" string="%msgid%")
ruleset(name="plain") { ${action(`searchIndex="syslog" errorfile="${base}/plain-errors.json"`)} }
ruleset(name="ids") { ${action(`searchIndex="syslog-ids" dynbulkid="on" bulkid="msgid" writeoperation="create" errorfile="${base}/ids-errors.json"`)} }
input(type="imtcp" address="127.0.0.1" port="${ports.plain}" ruleset="plain")
input(type="imtcp" address="127.0.0.1" port="${ports.ids}" ruleset="ids")
`;
}

/** Sends newline-framed syslog lines to rsyslog's TCP input. */
async function sendLines(port: number, lines: readonly string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end(lines.map((l) => `${l}\n`).join('')));
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
}

/** The records of `table` once there are `count` of them (rsyslog sends asynchronously). */
async function landed(table: string, count: number): Promise<Record<string, any>[]> {
  const deadline = Date.now() + LAND_TIMEOUT_MS;
  let records: Record<string, any>[] = [];
  while (Date.now() < deadline) {
    const res = await http(`${node.url}/v1/tables/${table}/export?format=ndjson`);
    if (res.status === 200) {
      records = res.text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, any>);
      if (records.length >= count) return records;
    }
    await sleep(100);
  }
  assert.fail(`${table} holds ${records.length} records, expected ${count}, after ${LAND_TIMEOUT_MS} ms`);
}

test('syslog lines sent through rsyslog omelasticsearch land in es_syslog with host, message and event time', async () => {
  const lines: string[] = [];
  for (let i = 0; i < 40; i++) lines.push(`<13>1 2026-12-05T08:00:${String(i).padStart(2, '0')}.123Z web${i % 3} app 42 m${i} - hello ${i} "quoted" \\ é`);
  // The older BSD format (RFC 3164) too: rsyslog fills in the year.
  lines.push('<13>Dec  5 08:01:00 oldhost legacy: plain 3164 line');
  await sendLines(ports.plain, lines);
  const records = await landed('es_syslog', lines.length);
  assert.equal(records.length, lines.length, 'every line once');
  const hello7 = records.find((r) => r['doc']['message'] === 'hello 7 "quoted" \\ é');
  assert.ok(hello7 !== undefined, JSON.stringify(records.slice(0, 2)));
  assert.equal(hello7['doc']['host'], 'web1');
  assert.equal(hello7['es_index'], 'syslog');
  assert.equal(hello7['ts'], Date.parse('2026-12-05T08:00:07.123Z'), '@timestamp is the event time');
  assert.equal(typeof hello7['doc_id'], 'string', 'rsyslog sends no _id: one was made up');
  const legacy = records.find((r) => r['doc']['host'] === 'oldhost');
  assert.match(String(legacy?.['doc']['message']), /plain 3164 line/);
  assert.equal(existsSync(path.join(dir, 'plain-errors.json')), false, 'rsyslog saw no error');
});

test('bulkid + writeoperation=create: a message id sent twice is stored once, and rsyslog is told 409', async () => {
  const line = (id: string, text: string): string => `<13>1 2026-12-05T09:00:00Z host app - ${id} - ${text}`;
  await sendLines(ports.ids, [line('id-1', 'first'), line('id-2', 'second')]);
  await landed('es_syslog_ids', 2);
  await sendLines(ports.ids, [line('id-1', 'first again'), line('id-3', 'third')]);
  const records = await landed('es_syslog_ids', 3);
  assert.deepEqual(records.map((r) => r['doc_id']).sort(), ['id-1', 'id-2', 'id-3']);
  assert.equal(records.find((r) => r['doc_id'] === 'id-1')?.['doc']['message'], 'first', 'a create never overwrites');
  const errorsFile = path.join(dir, 'ids-errors.json');
  const deadline = Date.now() + LAND_TIMEOUT_MS;
  while (!existsSync(errorsFile) && Date.now() < deadline) await sleep(100);
  assert.match(readFileSync(errorsFile, 'utf8'), /version_conflict_engine_exception/, 'the duplicate came back as a 409 item');
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

async function waitListening(port: number, why: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  assert.fail(why());
}
