/**
 * The replica write stream (decision 33) over a real grpc-js server and
 * client on 127.0.0.1: Writes travel on one stream per peer and are
 * answered by id in any order; a refusal keeps its sluice code (a roster
 * refusal becomes INTERNAL, as on unary calls) and the stream goes on; a
 * write past its deadline is NO_QUORUM, and a stream silent that long is
 * replaced; a peer without the stream (an earlier release) gets unary
 * Writes; a stopping server drains its streams; renewed channels leave the
 * old stream's writes to be answered; and malformed messages are refused
 * with REPLICA_PROTOCOL, with mutual TLS and the roster asked per write.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import path from 'node:path';
import { Metadata, credentials, makeGenericClientConstructor, type ClientDuplexStream, type StatusObject, type UntypedHandleCall } from '@grpc/grpc-js';
import { GrpcServer, replicaGrpcService, type GrpcService } from '../../../src/cluster/transport/grpc-server.ts';
import { GrpcTransport } from '../../../src/cluster/transport/grpc-transport.ts';
import { peerAuthInterceptor, streamAdmission } from '../../../src/cluster/transport/peer-auth.ts';
import { mutualTls, plaintextPeers, type PeerSecurity } from '../../../src/cluster/transport/peer-tls.ts';
import { REPLICA_PROTOCOL_METADATA, REPLICA_SERVICE, encodeMessage, type WriteReply, type WriteRequest } from '../../../src/cluster/transport/replica-messages.ts';
import { fromServiceError, protocolMetadata, replicaServiceDefinition, unaryReplicaServiceDefinition } from '../../../src/cluster/transport/replica-service.ts';
import { PeerWriteStream } from '../../../src/cluster/transport/write-stream.ts';
import { PEER_HTTP2_CONNECTION_WINDOW_BYTES, PEER_HTTP2_STREAM_WINDOW_BYTES, REPLICA_STREAM_RETRY_MS } from '../../../src/config.ts';
import type { ReplicaHandlers } from '../../../src/cluster/transport/replica-transport.ts';
import { WRITE_STREAM_METHOD, decodeStreamReply, encodeStreamWrite } from '../../../src/cluster/transport/write-stream-messages.ts';
import { SluiceError, isSluiceError } from '../../../src/core/errors.ts';
import { loadNodeCerts } from '../../../src/security/certs/load-cert-pair.ts';
import { createTestCa, nodeCertsDir } from '../../support/cluster-certs.ts';
import { tempDir } from '../../support/temp-dir.ts';

const TIMEOUT_MS = 5_000;
const RawClient = makeGenericClientConstructor(replicaServiceDefinition, 'Replica');

/** Writes answered by `write`; every other method refuses (the stream is what is under test). */
function writeHandlers(write: (r: WriteRequest) => Promise<WriteReply>): ReplicaHandlers {
  return new Proxy({} as ReplicaHandlers, { get: (_, name) => (name === 'Write' ? write : () => Promise.reject(new Error(`${String(name)} not served here`))) });
}

/** A deferred write answer, for holding a write while others go on. */
function deferred(): { promise: Promise<WriteReply>; resolve: (r: WriteReply) => void; reject: (e: unknown) => void } {
  let resolve!: (r: WriteReply) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<WriteReply>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

interface Served {
  readonly server: GrpcServer;
  readonly transport: GrpcTransport;
  /** Write streams opened on the server. */
  readonly streams: () => number;
}

/**
 * Serves `handlers` (unary Write refused, so a Write that succeeds came on
 * the stream), known to a GrpcTransport as node `peer`; both closed after the test.
 */
async function serve(t: TestContext, handlers: ReplicaHandlers, o: { port?: number; service?: (s: GrpcService) => GrpcService; onStreamRefused?: (nodeId: string, retryMs: number) => void } = {}): Promise<Served> {
  let opened = 0;
  const service = replicaGrpcService(handlers, () => {
    opened++;
    return () => Promise.resolve();
  });
  const noUnaryWrite: GrpcService = { ...service, implementation: { ...service.implementation, Write: ((_: unknown, cb: (e: unknown) => void) => cb({ code: 13, details: 'unary Write used' })) as unknown as UntypedHandleCall } };
  const server = await GrpcServer.start('127.0.0.1', o.port ?? 0, [o.service?.(service) ?? noUnaryWrite]);
  const transport = new GrpcTransport(plaintextPeers(), o.onStreamRefused);
  transport.setAddress('peer', `127.0.0.1:${server.port}`);
  t.after(async () => {
    transport.close();
    await server.stop(1_000);
  });
  return { server, transport, streams: () => opened };
}

const write = (s: Served, batch: string, timeoutMs = TIMEOUT_MS): Promise<WriteReply> => s.transport.call('peer', 'Write', { batch: Buffer.from(batch) }, timeoutMs);

/** A PeerWriteStream of its own to the served peer. */
function streamTo(t: TestContext, served: Served): PeerWriteStream {
  const client = new RawClient(`127.0.0.1:${served.server.port}`, credentials.createInsecure());
  const open = (client as unknown as Record<string, (m: Metadata) => ClientDuplexStream<Buffer, Buffer>>)[WRITE_STREAM_METHOD]!;
  const streams = new PeerWriteStream('peer', () => open.call(client, protocolMetadata()));
  t.after(() => {
    streams.cancel();
    client.close();
  });
  return streams;
}

const held = (r: WriteRequest, holds: Map<string, ReturnType<typeof deferred>>): Promise<WriteReply> => {
  const d = holds.get(r.batch.toString());
  return d === undefined ? Promise.resolve({ lsn: String(r.batch.length) }) : d.promise;
};

test('writes on one stream are answered by id, in whatever order the replica finishes them', async (t) => {
  const holds = new Map([['first', deferred()]]);
  const s = await serve(t, writeHandlers((r) => held(r, holds)));
  const one = streamTo(t, s);
  const first = one.write({ batch: Buffer.from('first') }, TIMEOUT_MS);
  assert.deepEqual(await one.write({ batch: Buffer.from('second!') }, TIMEOUT_MS), { lsn: '7' }, 'answered while the first is held');
  assert.deepEqual(await Promise.all([one.write({ batch: Buffer.from('abc') }, TIMEOUT_MS), one.write({ batch: Buffer.from('abcd') }, TIMEOUT_MS)]), [{ lsn: '3' }, { lsn: '4' }]);
  holds.get('first')!.resolve({ lsn: '99' });
  assert.deepEqual(await first, { lsn: '99' });
  assert.equal(s.streams(), 1, 'one stream for every write');
});

test('the transport sends every write on one stream, not unary calls, however many are in flight', async (t) => {
  const holds = new Map<string, ReturnType<typeof deferred>>();
  let arrived = 0;
  const s = await serve(
    t,
    writeHandlers((r) => {
      arrived++;
      return held(r, holds);
    }),
  );
  for (let i = 0; i < 5; i++) assert.deepEqual(await write(s, 'x'.repeat(i + 1)), { lsn: String(i + 1) });
  for (let i = 0; i < 20; i++) holds.set(`h${i}`, deferred());
  const all = Promise.all([...holds.keys()].map((b) => write(s, b)));
  while (arrived < 25) await new Promise((r) => setTimeout(r, 10));
  [...holds.values()].reverse().forEach((d, i) => d.resolve({ lsn: String(100 + i) }));
  assert.deepEqual((await all).map((r) => r.lsn), [...holds.keys()].map((_, i) => String(119 - i)), 'each answer reached its own write, answered last to first');
  assert.equal(s.streams(), 1, 'one stream carried all 25');
});

test('a refused write keeps its sluice code and the stream goes on', async (t) => {
  const s = await serve(
    t,
    writeHandlers(async (r) => {
      if (r.batch.toString() === 'stale') throw new SluiceError('STALE_PLACEMENT', 'epoch 3 is behind 4');
      if (r.batch.toString() === 'bug') throw new Error('plain error');
      return { lsn: '1' };
    }),
  );
  await assert.rejects(write(s, 'stale'), (err: unknown) => isSluiceError(err, 'STALE_PLACEMENT') && /^peer: epoch 3 is behind 4$/.test(err.message));
  await assert.rejects(write(s, 'bug'), (err: unknown) => isSluiceError(err, 'INTERNAL') && /plain error/.test(err.message));
  assert.deepEqual(await write(s, 'ok'), { lsn: '1' });
  assert.equal(s.streams(), 1);
});

test('a write past its deadline is NO_QUORUM on its own: the stream stays, and the late answer is dropped', async (t) => {
  const late = deferred();
  const s = await serve(t, writeHandlers((r) => (r.batch.toString() === 'hang' ? late.promise : Promise.resolve({ lsn: '1' }))));
  // Even a stream that answers nothing for the whole deadline is kept: a replica holding writes while its index catches up is slow, not gone.
  await assert.rejects(write(s, 'hang', 300), (err: unknown) => isSluiceError(err, 'NO_QUORUM') && /^replica peer: no answer to a write within 300 ms$/.test(err.message));
  late.resolve({ lsn: '9' });
  assert.deepEqual(await write(s, 'ok'), { lsn: '1' });
  assert.equal(s.streams(), 1);
});

test('a peer without the write stream (an earlier release) gets its writes as unary calls', async (t) => {
  const seen: string[] = [];
  const refused: string[] = [];
  const s = await serve(
    t,
    writeHandlers(async (r) => {
      seen.push(r.batch.toString());
      return { lsn: String(seen.length) };
    }),
    { service: (svc) => ({ ...svc, definition: unaryReplicaServiceDefinition }), onStreamRefused: (id, ms) => refused.push(`${id} ${ms}`) },
  );
  // Both were sent on the stream the peer refused, so both are re-sent unary.
  const first = await Promise.all([write(s, 'a'), write(s, 'b')]);
  assert.deepEqual(first.map((r) => r.lsn).sort(), ['1', '2']);
  assert.deepEqual(await write(s, 'c'), { lsn: '3' });
  assert.deepEqual([...seen].sort(), ['a', 'b', 'c'], 'each write applied exactly once');
  assert.equal(s.streams(), 0, 'no stream was served');
  assert.deepEqual(refused, [`peer ${REPLICA_STREAM_RETRY_MS}`], 'the fallback told once, not per write');
});

test('a stopping server answers the writes it holds, then ends its streams; writes after it find the peer unreachable until it is back', async (t) => {
  const held = deferred();
  const handlers = writeHandlers((r) => (r.batch.toString() === 'held' ? held.promise : Promise.resolve({ lsn: '1' })));
  const s = await serve(t, handlers);
  assert.deepEqual(await write(s, 'ok'), { lsn: '1' });
  const inFlight = write(s, 'held');
  await new Promise((r) => setTimeout(r, 50));
  const stopped = s.server.stop(60_000).then(() => 'stopped');
  setTimeout(() => held.resolve({ lsn: '42' }), 100);
  assert.deepEqual(await inFlight, { lsn: '42' }, 'the held write is answered during the stop');
  const outcome = await Promise.race([stopped, new Promise((r) => setTimeout(() => r('still waiting'), 10_000))]);
  assert.equal(outcome, 'stopped', 'the drained stream let the server stop without waiting out its grace');
  await assert.rejects(write(s, 'after', 1_000), (err: unknown) => isSluiceError(err, 'NO_QUORUM'));
  // The same address serves again: once the channel's reconnect backoff lets it, a write opens a stream to the new server.
  const again = await serve(t, handlers, { port: s.server.port });
  const until = Date.now() + 10_000;
  let reply: WriteReply | undefined;
  while (reply === undefined && Date.now() < until) reply = await write(s, 'ok', 1_000).catch(() => new Promise<undefined>((r) => setTimeout(() => r(undefined), 100)));
  assert.deepEqual(reply, { lsn: '1' });
  assert.equal(again.streams(), 1);
});

test('renewed channels half-close the old stream: its waiting write is answered, new writes open a new stream', async (t) => {
  const held = deferred();
  const s = await serve(t, writeHandlers((r) => (r.batch.toString() === 'held' ? held.promise : Promise.resolve({ lsn: '1' }))));
  const old = write(s, 'held');
  await new Promise((r) => setTimeout(r, 50));
  s.transport.renewChannels();
  assert.deepEqual(await write(s, 'ok'), { lsn: '1' });
  held.resolve({ lsn: '7' });
  assert.deepEqual(await old, { lsn: '7' });
  assert.equal(s.streams(), 2);
});

/** A raw write stream to `address` with `metadata`, as another node or release might open it. */
function rawStream(t: TestContext, address: string, metadata: Metadata): { call: ClientDuplexStream<Buffer, Buffer>; replies: Buffer[]; status: Promise<StatusObject> } {
  const client = new RawClient(address, credentials.createInsecure());
  t.after(() => client.close());
  const call = (client as unknown as Record<string, (m: Metadata) => ClientDuplexStream<Buffer, Buffer>>)[WRITE_STREAM_METHOD]!.call(client, metadata);
  const replies: Buffer[] = [];
  call.on('data', (b: Buffer) => replies.push(b));
  call.on('error', () => undefined);
  return { call, replies, status: new Promise((resolve) => call.on('status', resolve)) };
}

test('malformed stream messages: a bad Write is refused by id and the stream goes on; a message without an id, or another protocol version, ends the stream with REPLICA_PROTOCOL', async (t) => {
  const applied: WriteRequest[] = [];
  const s = await serve(
    t,
    writeHandlers(async (r) => {
      applied.push(r);
      return { lsn: '5' };
    }),
  );
  const address = `127.0.0.1:${s.server.port}`;
  const v1 = new Metadata();
  v1.set(REPLICA_PROTOCOL_METADATA, '1');
  const raw = rawStream(t, address, v1);
  raw.call.write(encodeMessage({ id: 1, batch: 'not bytes' }));
  raw.call.write(encodeStreamWrite(2, { batch: Buffer.from('fine') }));
  await new Promise((r) => setTimeout(r, 200));
  const replies = raw.replies.map((b) => decodeStreamReply(b, 'peer'));
  const bad = replies.find((r) => r.id === 1);
  assert.ok(bad !== undefined && 'error' in bad && isSluiceError(bad.error, 'REPLICA_PROTOCOL') && /field batch must be bytes/.test(bad.error.message), JSON.stringify(replies));
  assert.deepEqual(replies.find((r) => r.id === 2), { id: 2, reply: { lsn: '5' } });
  assert.deepEqual(applied.map((r) => r.batch.toString()), ['fine'], 'the handler saw only the good write, without the id');
  assert.equal((applied[0] as { id?: unknown }).id, undefined);
  raw.call.write(encodeMessage({ batch: Buffer.from('no id') }));
  const ended = await raw.status;
  assert.ok(isSluiceError(fromServiceError(ended, 'peer'), 'REPLICA_PROTOCOL'), ended.details);
  assert.match(ended.details, /field id must be an integer >= 0/);

  const v2 = new Metadata();
  v2.set(REPLICA_PROTOCOL_METADATA, '2');
  const newer = rawStream(t, address, v2);
  newer.call.write(encodeStreamWrite(1, { batch: Buffer.from('from v2') }));
  const refused = await newer.status;
  assert.match(refused.details, /peer speaks replica-v2, this node replica-v1/);
  assert.equal(applied.length, 1, 'nothing from the v2 stream was applied');
});

/** Mutual-TLS security of nodes n1 (the server) and n2 (the caller) of one test CA. */
async function twoNodes(t: TestContext): Promise<{ server: PeerSecurity; client: PeerSecurity }> {
  const ca = await createTestCa(path.join(tempDir(t), 'certs'), 'stream');
  const [server, client] = await Promise.all([loadNodeCerts(await nodeCertsDir(ca, 'n1')), loadNodeCerts(await nodeCertsDir(ca, 'n2'))]);
  return { server: mutualTls(server), client: mutualTls(client) };
}

test('over mutual TLS the roster is asked before every write on the stream: a caller it drops is refused from its next write on, as INTERNAL naming the peer', async (t) => {
  const { server: serverSecurity, client: clientSecurity } = await twoNodes(t);
  let admitted = true;
  const asked: string[] = [];
  const admit = async (id: string): Promise<void> => {
    asked.push(id);
    if (!admitted) throw new SluiceError('PERMISSION_DENIED', `node ${id} is decommissioned`);
  };
  const refusals: string[] = [];
  const applied: string[] = [];
  const handlers = writeHandlers(async (r) => {
    applied.push(r.batch.toString());
    return { lsn: String(applied.length) };
  });
  const service = replicaGrpcService(handlers, streamAdmission({ security: serverSecurity, admit, onRefused: (r) => refusals.push(`${r.nodeId} ${r.error.code}`) }));
  const interceptors = [peerAuthInterceptor({ security: serverSecurity, service: REPLICA_SERVICE, admit })];
  const server = await GrpcServer.start('127.0.0.1', 0, [service], serverSecurity.serverCredentials(), interceptors);
  const transport = new GrpcTransport(clientSecurity);
  transport.setAddress('n1', `127.0.0.1:${server.port}`);
  t.after(async () => {
    transport.close();
    await server.stop(1_000);
  });
  const call = (batch: string): Promise<WriteReply> => transport.call('n1', 'Write', { batch: Buffer.from(batch) }, TIMEOUT_MS);
  assert.deepEqual(await call('a'), { lsn: '1' });
  assert.deepEqual(await call('b'), { lsn: '2' });
  assert.deepEqual(asked, ['n2', 'n2', 'n2'], 'once as the stream opened, then once per write');
  admitted = false;
  await assert.rejects(call('c'), (err: unknown) => isSluiceError(err, 'INTERNAL') && /replica n1 refused this node's certificate: .*node n2 is decommissioned/.test(err.message));
  assert.deepEqual(applied, ['a', 'b'], 'the refused write was not applied');
  assert.deepEqual(refusals, ['n2 PERMISSION_DENIED']);
  admitted = true;
  assert.deepEqual(await call('d'), { lsn: '3' }, 'the same stream serves the node once the roster admits it again');
});

test('a server started with flow-control windows offers them to every connection (the peer listener: 64 KiB would cost a window update per 64 KiB of a batch)', async (t) => {
  const windows = { streamBytes: PEER_HTTP2_STREAM_WINDOW_BYTES, connectionBytes: PEER_HTTP2_CONNECTION_WINDOW_BYTES };
  const server = await GrpcServer.start('127.0.0.1', 0, [replicaGrpcService(writeHandlers(async () => ({ lsn: '1' })))], undefined, [], windows);
  t.after(() => server.stop(1_000));
  const session = http2.connect(`http://127.0.0.1:${server.port}`);
  t.after(() => session.close());
  await once(session, 'remoteSettings');
  assert.equal(session.remoteSettings.initialWindowSize, PEER_HTTP2_STREAM_WINDOW_BYTES, 'each stream may carry a whole batch before a window update');
  // The connection window grows by a WINDOW_UPDATE right after the session starts; a ping round trip is after it.
  await new Promise<void>((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
  assert.ok(session.state.remoteWindowSize! >= PEER_HTTP2_CONNECTION_WINDOW_BYTES - 65_535, `connection window ${session.state.remoteWindowSize}`);
  const plain = await GrpcServer.start('127.0.0.1', 0, [replicaGrpcService(writeHandlers(async () => ({ lsn: '1' })))]);
  t.after(() => plain.stop(1_000));
  const other = http2.connect(`http://127.0.0.1:${plain.port}`);
  t.after(() => other.close());
  await once(other, 'remoteSettings');
  assert.equal(other.remoteSettings.initialWindowSize, 65_535, 'without windows, HTTP/2 defaults (the client listener)');
});

test('over mutual TLS with the caller check, a peer of an earlier release (no write stream) still gets every write, as unary calls', async (t) => {
  const { server: serverSecurity, client: clientSecurity } = await twoNodes(t);
  const applied: string[] = [];
  const handlers = writeHandlers(async (r) => {
    applied.push(r.batch.toString());
    return { lsn: String(applied.length) };
  });
  const admit = async (): Promise<void> => undefined;
  const service = replicaGrpcService(handlers);
  const interceptors = [peerAuthInterceptor({ security: serverSecurity, service: REPLICA_SERVICE, admit })];
  const server = await GrpcServer.start('127.0.0.1', 0, [{ ...service, definition: unaryReplicaServiceDefinition }], serverSecurity.serverCredentials(), interceptors);
  const refused: string[] = [];
  const transport = new GrpcTransport(clientSecurity, (id) => refused.push(id));
  transport.setAddress('n1', `127.0.0.1:${server.port}`);
  t.after(async () => {
    transport.close();
    await server.stop(1_000);
  });
  for (const b of ['a', 'b', 'c']) await transport.call('n1', 'Write', { batch: Buffer.from(b) }, TIMEOUT_MS);
  assert.deepEqual(applied, ['a', 'b', 'c']);
  assert.deepEqual(refused, ['n1']);
});
