/**
 * A node's HTTP connections, on a real `sluice serve`: past --connections-max
 * a connection gets a whole 503 TOO_MANY_CONNECTIONS answer and is closed,
 * /metrics counts what is open and what was refused, a freed slot is
 * served again, an idle keep-alive connection is closed by the node after
 * --http-keepalive-timeout, and a cap no open-file limit can hold stops the
 * start (exit 2) naming the limit. Raw `node:net` clients: fetch's pool
 * would hold connections of its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { NodeProcess, TEST_TOKEN, sleep, tempDir } from './harness.ts';
import { rawConnection as connect } from '../support/raw-connection.ts';

const CONNECTIONS_MAX = 6;


type Connection = Awaited<ReturnType<typeof connect>>;

/** Sends a keep-alive GET on `conn` and waits for its whole answer (content-length framed) or the close. */
async function get(conn: Connection, path: string): Promise<{ status: number; head: string; body: string }> {
  const start = conn.received().length;
  conn.socket.write(`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${TEST_TOKEN}\r\n\r\n`);
  let closed = false;
  void conn.closed.then(() => (closed = true));
  for (;;) {
    const text = conn.received().slice(start);
    const split = text.indexOf('\r\n\r\n');
    const length = Number(/\r\ncontent-length: (\d+)/i.exec(text)?.[1] ?? Number.NaN);
    if (split >= 0 && text.length - split - 4 >= length) {
      return { status: Number(text.slice(9, 12)), head: text.slice(0, split), body: text.slice(split + 4, split + 4 + length) };
    }
    assert.ok(!closed, `closed before a whole answer: ${JSON.stringify(text)}`);
    await sleep(5);
  }
}

/** The value of one sample in a Prometheus text, 0 when absent. */
function sample(metrics: string, name: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(name.length + 1));
}

test('past --connections-max: 503 TOO_MANY_CONNECTIONS and closed; counted in /metrics; a freed slot serves; idle keep-alive connections are closed', async (t) => {
  const node = await NodeProcess.start(t, { dataDir: tempDir(t), args: ['--connections-max', String(CONNECTIONS_MAX), '--http-keepalive-timeout', '1000'] });
  const port = Number(new URL(node.url).port);
  assert.deepEqual(
    node.events('connections_max').map((e) => [e['connectionsMax'], e['auto']]),
    [[CONNECTIONS_MAX, false]],
    'the cap is logged at start',
  );

  // An idle keep-alive connection is closed by the node (we never close it).
  const idle = await connect(port);
  const health = await get(idle, '/healthz');
  assert.equal(health.status, 200);
  assert.match(health.head, /\r\nkeep-alive: timeout=1/i);
  await idle.closed;

  // The cap: one connection to read /metrics on, the rest held idle, then one too many.
  const control = await connect(port);
  const held: Connection[] = [];
  for (let i = 1; i < CONNECTIONS_MAX; i++) held.push(await connect(port));
  const refused = await connect(port);
  await refused.closed;
  const [head = '', body = ''] = refused.received().split('\r\n\r\n');
  assert.match(head, /^HTTP\/1\.1 503 /);
  assert.match(head, /\r\nretry-after: \d+/);
  assert.match(head, /\r\nconnection: close/);
  assert.equal(JSON.parse(body).error.code, 'TOO_MANY_CONNECTIONS');

  const metrics = (await get(control, '/metrics')).body;
  assert.equal(sample(metrics, 'sluice_http_connections_open'), CONNECTIONS_MAX, 'open: what this test holds');
  assert.ok(sample(metrics, 'sluice_http_connections_total{event="refused"}') >= 1);
  assert.ok(sample(metrics, 'sluice_http_connections_total{event="accepted"}') >= CONNECTIONS_MAX + 1);
  assert.ok(sample(metrics, 'sluice_http_connections_total{event="idle_timeout"}') >= 1, 'the keep-alive close is counted');

  // A freed slot is served again (the node may see the new connection before the close: try again then).
  held[0]?.socket.destroy();
  let status = 0;
  for (let attempt = 0; attempt < 100 && status !== 200; attempt++) {
    const next = await connect(port);
    status = (await get(next, '/healthz').catch(() => ({ status: 503 }))).status;
    next.socket.destroy();
    if (status !== 200) await sleep(20);
  }
  assert.equal(status, 200);
  for (const c of [control, ...held]) c.socket.destroy();
});

test('a --connections-max past fs.nr_open stops the start with exit 2, naming the open-file limit', async (t) => {
  const nrOpen = Number(readFileSync('/proc/sys/fs/nr_open', 'utf8').trim());
  if (nrOpen >= 10_000_000) {
    t.skip(`fs.nr_open ${nrOpen} allows every cap the config takes`);
    return;
  }
  const node = NodeProcess.spawn({ dataDir: tempDir(t), args: ['--connections-max', String(nrOpen + 1)] });
  t.after(async () => {
    await node.kill('SIGKILL');
  });
  const exit = await node.waitExit();
  assert.equal(exit.code, 2, node.stderr);
  assert.match(node.stderr, new RegExp(`--connections-max ${nrOpen + 1} needs an open-file limit \\(RLIMIT_NOFILE\\)`));
  assert.match(node.stderr, new RegExp(`fs\\.nr_open = ${nrOpen}`));
  assert.match(node.stderr, /ulimit -n \d+/);
  assert.match(node.stderr, /LimitNOFILE=\d+/);
});
