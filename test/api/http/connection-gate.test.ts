/**
 * connection-gate.ts in one process: connections past the cap get a whole
 * 503 TOO_MANY_CONNECTIONS answer (plain HTTP) or a clean close (TLS),
 * never reach the HTTP server, and are counted; closes and keep-alive
 * timeouts are counted too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { gateConnections, type ConnectionEvent } from '../../../src/api/http/connection-gate.ts';
import { rawConnection as connect } from '../../support/raw-connection.ts';

/** An HTTP server answering `ok`, gated at `connectionsMax`, with its events recorded; closed when the test ends. */
async function gatedServer(t: { after: (fn: () => Promise<void>) => void }, connectionsMax: number, tls = false) {
  let requests = 0;
  const server = http.createServer((_req, res) => {
    requests += 1;
    res.end('ok');
  });
  // Keep-alive timeouts within the test's time: Node adds keepAliveTimeoutBuffer (1 s) to the socket timer.
  server.keepAliveTimeout = 100;
  server.keepAliveTimeoutBuffer = 0;
  const events: ConnectionEvent[] = [];
  const gate = gateConnections(server, { connectionsMax, tls, retryAfterSeconds: 3, lingerMs: 1_000, onEvent: (e) => events.push(e) });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const port = (server.address() as net.AddressInfo).port;
  return { server, gate, events, port, requests: () => requests };
}


async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(condition(), what);
}

const count = (events: readonly ConnectionEvent[], event: ConnectionEvent): number => events.filter((e) => e === event).length;

test('past the cap a connection gets a whole 503 TOO_MANY_CONNECTIONS answer and is closed; a freed slot is served again', async (t) => {
  const { gate, events, port, requests } = await gatedServer(t, 2);
  const a = await connect(port);
  const b = await connect(port);
  await until(() => gate.open === 2, 'both held');

  const refused = await connect(port);
  refused.socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
  await refused.closed;
  const [head = '', body = ''] = refused.received().split('\r\n\r\n');
  assert.match(head, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
  assert.match(head, /\r\nretry-after: 3\r\n/);
  assert.match(head, /\r\nconnection: close/);
  assert.match(head, new RegExp(`\\r\\ncontent-length: ${Buffer.byteLength(body)}\\r\\n`));
  const error = JSON.parse(body).error;
  assert.equal(error.code, 'TOO_MANY_CONNECTIONS');
  assert.match(error.message, /2 HTTP connections \(--connections-max\)/);
  assert.equal(requests(), 0, 'the refused request never reached the server');
  assert.equal(gate.open, 2);
  assert.equal(count(events, 'refused'), 1);

  a.socket.destroy();
  await until(() => gate.open === 1, 'the closed one is let go');
  const again = await connect(port);
  again.socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
  await until(() => again.received().endsWith('ok'), 'answered');
  assert.match(again.received(), /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(again.received(), /\r\nkeep-alive: timeout=0/i);
  // Idle after its answer: the keep-alive timer closes it, and the gate counts that.
  await again.closed;
  await until(() => count(events, 'idle_timeout') === 1, 'the keep-alive close is counted');
  b.socket.destroy();
  await until(() => gate.open === 0, 'all let go');
  assert.deepEqual({ accepted: count(events, 'accepted'), closed: count(events, 'closed'), refused: count(events, 'refused') }, { accepted: 3, closed: 3, refused: 1 });
});

test('a refused connection is closed after the linger even while its client keeps sending', async (t) => {
  // lingerMs is 1 s (gatedServer): a byte every 200 ms kept an idle timer from ever firing.
  const { gate, events, port } = await gatedServer(t, 1);
  const held = await connect(port);
  await until(() => gate.open === 1, 'the one slot held');
  // Half-open, as a hostile client keeps it: the node's FIN does not end the client's side.
  const refused = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  refused.on('error', () => undefined);
  let received = '';
  refused.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
  let closed = false;
  refused.once('close', () => (closed = true));
  const trickle = setInterval(() => {
    if (refused.writable) refused.write('x');
  }, 200);
  t.after(() => {
    clearInterval(trickle);
    refused.destroy();
  });
  await until(() => received.includes('TOO_MANY_CONNECTIONS'), 'answered 503');
  // Not counted by the gate: a refused socket held open is a file descriptor past --connections-max.
  await new Promise((r) => setTimeout(r, 3_000));
  clearInterval(trickle);
  assert.ok(closed, 'the refused connection is still open 3 s after its answer, 3 times the linger');
  assert.equal(count(events, 'refused'), 1);
  held.socket.destroy();
});

test('on a TLS listener a connection past the cap is closed without an answer', async (t) => {
  const { events, port } = await gatedServer(t, 0, true);
  const refused = await connect(port);
  refused.socket.write('\x16\x03\x01'); // the start of a ClientHello
  await refused.closed;
  assert.equal(refused.received(), '');
  assert.deepEqual(events, ['refused']);
});

test('a server with a connection handler besides its own is a programmer error', () => {
  const server = http.createServer();
  server.on('connection', () => undefined);
  assert.throws(() => gateConnections(server, { connectionsMax: 1, tls: false, retryAfterSeconds: 1, lingerMs: 1, onEvent: () => undefined }), /exactly its own connection handler/);
});
