/**
 * replica-v1 over a real grpc-js server and client on 127.0.0.1: every
 * method round-trips through GrpcServer and GrpcTransport; a call naming
 * another protocol version, or carrying a malformed request, is refused
 * with REPLICA_PROTOCOL before its handler runs; a call without the
 * version header (a node from before it) is served as replica-v1; a
 * malformed reply is refused by the client; and the real replica endpoint
 * over a real store answers in shapes the client accepts.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Metadata, credentials, makeGenericClientConstructor, type Client, type ServiceError } from '@grpc/grpc-js';
import { pino } from 'pino';
import { GrpcServer, replicaGrpcService } from '../../../src/cluster/transport/grpc-server.ts';
import { GrpcTransport } from '../../../src/cluster/transport/grpc-transport.ts';
import { plaintextPeers } from '../../../src/cluster/transport/peer-tls.ts';
import { REPLICA_METHODS, REPLICA_PROTOCOL_METADATA, decodeMessage, encodeMessage, type ReplicaMethod } from '../../../src/cluster/transport/replica-messages.ts';
import { fromServiceError, replicaServiceDefinition, unaryReplicaServiceDefinition } from '../../../src/cluster/transport/replica-service.ts';
import { WRITE_STREAM_METHOD } from '../../../src/cluster/transport/write-stream-messages.ts';
import type { ReplicaHandlers } from '../../../src/cluster/transport/replica-transport.ts';
import { replicaHandlers } from '../../../src/cluster/replica/replica-endpoint.ts';
import { leafOf } from '../../../src/cluster/repair/merkle.ts';
import { resolveConfig } from '../../../src/config.ts';
import { RecordBatchBuilder, RecordBatchReader } from '../../../src/core/codec/record-batch-v1.ts';
import { encodeFields } from '../../../src/core/codec/fields-codec.ts';
import { systemClock } from '../../../src/core/clock.ts';
import { isSluiceError, type SluiceError } from '../../../src/core/errors.ts';
import { Hlc } from '../../../src/core/hlc.ts';
import { EVENTS_TABLE } from '../../../src/core/schema/parse-table-def.ts';
import { openDataDir } from '../../../src/storage/data-dir.ts';
import { SAMPLES } from './replica-samples.ts';

const TIMEOUT_MS = 5_000;
const RawClient = makeGenericClientConstructor(replicaServiceDefinition, 'Replica');
type RawUnary = (request: Buffer, metadata: Metadata, options: { deadline: number }, callback: (err: ServiceError | null, reply?: Buffer) => void) => { on(event: 'status', listener: (s: { code: number; metadata: Metadata }) => void): void };

/** Serves `handlers` on a free port; a GrpcTransport knows it as node `peer`. Both are closed after the test. */
async function serve(t: TestContext, handlers: ReplicaHandlers): Promise<{ address: string; transport: GrpcTransport }> {
  const server = await GrpcServer.start('127.0.0.1', 0, [replicaGrpcService(handlers)]);
  const transport = new GrpcTransport(plaintextPeers());
  const address = `127.0.0.1:${server.port}`;
  transport.setAddress('peer', address);
  t.after(async () => {
    transport.close();
    await server.stop(1_000);
  });
  return { address, transport };
}

/** Handlers answering each method's last sample reply, recording what they were called with. */
function cannedHandlers(calls: [ReplicaMethod, unknown][]): ReplicaHandlers {
  return Object.fromEntries(
    REPLICA_METHODS.map((m) => [
      m,
      async (request: unknown) => {
        calls.push([m, request]);
        return SAMPLES[m].replies.at(-1);
      },
    ]),
  ) as unknown as ReplicaHandlers;
}

/** One call the way another node (or another release) might make it: raw bytes and metadata of our choosing. */
function rawCall(t: TestContext, address: string, method: ReplicaMethod, body: Buffer, metadata: Metadata): Promise<{ reply: unknown; version: unknown }> {
  const client: Client = new RawClient(address, credentials.createInsecure());
  t.after(() => client.close());
  const fn = (client as unknown as Record<string, RawUnary>)[method] as RawUnary;
  return new Promise((resolve, reject) => {
    let reply: Buffer | undefined;
    const call = fn.call(client, body, metadata, { deadline: Date.now() + TIMEOUT_MS }, (err, r) => {
      if (err !== null) reject(fromServiceError(err, 'peer'));
      else reply = r;
    });
    // The server names its protocol in the trailers, which come with the status after the reply.
    call.on('status', (status) => {
      if (status.code === 0) resolve({ reply: decodeMessage(reply as Buffer), version: status.metadata.get(REPLICA_PROTOCOL_METADATA)[0] });
    });
  });
}

function withVersion(version?: string): Metadata {
  const m = new Metadata();
  if (version !== undefined) m.set(REPLICA_PROTOCOL_METADATA, version);
  return m;
}

test('every method round-trips over gRPC: the handler gets the request, the caller the reply', async (t) => {
  const calls: [ReplicaMethod, unknown][] = [];
  const { transport } = await serve(t, cannedHandlers(calls));
  for (const method of REPLICA_METHODS) {
    for (const request of SAMPLES[method].requests) {
      const reply = await transport.call('peer', method, request as never, TIMEOUT_MS);
      assert.deepEqual(reply, SAMPLES[method].replies.at(-1), `${method} reply`);
      assert.deepEqual(calls.at(-1), [method, request], `${method} request`);
    }
  }
});

test('a call naming replica-v2 is refused with REPLICA_PROTOCOL before its handler runs; v1, and no header at all (an older node), are served', async (t) => {
  const calls: [ReplicaMethod, unknown][] = [];
  const { address } = await serve(t, cannedHandlers(calls));
  const body = encodeMessage({ tableId: 1, id: '5' });

  await assert.rejects(rawCall(t, address, 'Get', body, withVersion('2')), (err: unknown) => {
    assert.ok(isSluiceError(err, 'REPLICA_PROTOCOL'), String(err));
    assert.match(err.message, /Get: peer speaks replica-v2, this node replica-v1: upgrade this node/);
    return true;
  });
  await assert.rejects(rawCall(t, address, 'Get', body, withVersion('one')), (err: unknown) => isSluiceError(err, 'REPLICA_PROTOCOL') && /unreadable protocol version "one"/.test(err.message));
  assert.equal(calls.length, 0, 'no handler ran');

  const v1 = await rawCall(t, address, 'Get', body, withVersion('1'));
  assert.deepEqual(v1.reply, SAMPLES.Get.replies.at(-1));
  assert.equal(v1.version, '1', 'the reply names the server protocol');
  const older = await rawCall(t, address, 'Get', body, withVersion());
  assert.deepEqual(older.reply, SAMPLES.Get.replies.at(-1), 'no header: replica-v1');
  assert.equal(calls.length, 2);
});

test('GrpcTransport names replica-v1 in the metadata of every call (to a node without the write stream, Writes too)', async (t) => {
  const seen: unknown[] = [];
  const implementation = Object.fromEntries(
    REPLICA_METHODS.map((m) => [
      m,
      (call: { metadata: Metadata }, callback: (err: null, reply: Buffer) => void) => {
        seen.push(call.metadata.get(REPLICA_PROTOCOL_METADATA));
        callback(null, encodeMessage(SAMPLES[m].replies.at(-1)));
      },
    ]),
  );
  const server = await GrpcServer.start('127.0.0.1', 0, [{ name: 'probe', definition: unaryReplicaServiceDefinition, implementation, access: Object.fromEntries(REPLICA_METHODS.map((m) => [m, 'node-certificate' as const])) }]);
  const transport = new GrpcTransport(plaintextPeers());
  transport.setAddress('peer', `127.0.0.1:${server.port}`);
  t.after(async () => {
    transport.close();
    await server.stop(1_000);
  });
  for (const method of REPLICA_METHODS) await transport.call('peer', method, SAMPLES[method].requests[0] as never, TIMEOUT_MS);
  assert.deepEqual(seen, REPLICA_METHODS.map(() => ['1']));
});

test('a malformed request is refused with REPLICA_PROTOCOL naming the field, and its handler never runs', async (t) => {
  const calls: [ReplicaMethod, unknown][] = [];
  const { address } = await serve(t, cannedHandlers(calls));
  await assert.rejects(rawCall(t, address, 'Write', encodeMessage({ batch: 'not bytes', epoch: 3 }), withVersion('1')), (err: unknown) => {
    assert.ok(isSluiceError(err, 'REPLICA_PROTOCOL'), String(err));
    assert.match(err.message, /^peer: replica-v1 Write request: field batch must be bytes \(msgpack bin\), got string "not bytes"/);
    return true;
  });
  await assert.rejects(rawCall(t, address, 'Fetch', Buffer.from([0x82]), withVersion('1')), (err: unknown) => isSluiceError(err, 'REPLICA_PROTOCOL') && /Fetch request: not a msgpack value/.test(err.message));
  assert.equal(calls.length, 0);
});

test('a malformed reply is refused by the client with REPLICA_PROTOCOL naming the peer, method and field', async (t) => {
  const handlers = { ...cannedHandlers([]), Get: async () => ({ record: 'oops' }), Write: async () => ({ lsn: 7 }) } as unknown as ReplicaHandlers;
  const { transport } = await serve(t, handlers);
  await assert.rejects(transport.call('peer', 'Get', { tableId: 1, id: '5' }, TIMEOUT_MS), (err: unknown) => {
    assert.ok(isSluiceError(err, 'REPLICA_PROTOCOL'), String(err));
    assert.equal((err as SluiceError).message, 'replica peer: replica-v1 Get reply: field record must be a record [recordKey: bin, value: bin], got string "oops"');
    return true;
  });
  await assert.rejects(transport.call('peer', 'Write', { batch: Buffer.alloc(1) }, TIMEOUT_MS), (err: unknown) => isSluiceError(err, 'REPLICA_PROTOCOL') && /Write reply: field lsn/.test(err.message));
});

test('the real replica endpoint over a real store answers every method in replica-v1 shapes', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-'));
  const { store, catalog } = await openDataDir(resolveConfig({ dataDir: dir, shards: 4 }), [EVENTS_TABLE], {}, pino({ level: 'silent' }));
  const handlers = replicaHandlers({ store, catalog, hlc: new Hlc(systemClock), reloadTables: async () => undefined, readBarrierMsMax: TIMEOUT_MS, unindexedBytesMax: 64 * 1024 * 1024, epoch: () => 1 });
  const { transport } = await serve(t, handlers);
  // After the server stops (hooks run in the order they were added): close the store, then remove its dir.
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const tableId = catalog.require('events').id;

  const builder = new RecordBatchBuilder(tableId, 1, Date.now());
  for (let i = 0; i < 3; i++) builder.add(0, 'trace-a', undefined, 1_000 + i, encodeFields(['trace-a']));
  const batch = Buffer.from(builder.finish());
  const reader = new RecordBatchReader(batch);
  const ids: bigint[] = [];
  for (let id = 1_000n << 22n; reader.next(); id++) {
    reader.id = id;
    reader.version = id;
    ids.push(id);
  }
  const call = <M extends ReplicaMethod>(method: M, request: Parameters<ReplicaHandlers[M]>[0]) => transport.call('peer', method, request, TIMEOUT_MS);

  const written = await call('Write', { batch, epoch: 1 });
  assert.match(written.lsn, /^[0-9]+$/);
  const got = await call('Get', { tableId, id: String(ids[0]), lsn: written.lsn });
  assert.ok(got.record !== undefined);
  assert.deepEqual(await call('Get', { tableId, id: '1' }), {});
  const scanned = await call('Scan', { tableId, shard: 0, key: Buffer.from('trace-a'), limit: 10, lsn: written.lsn });
  assert.equal(scanned.records.length, 3);
  const page = await call('ScanShard', { tableId, shard: 0, limit: 2 });
  assert.equal(page.records.length, 2);
  const next = await call('ScanShard', { tableId, shard: 0, limit: 2, after: page.records[1]?.[0] as Buffer });
  assert.equal(next.records.length, 1);
  assert.deepEqual(await call('LookupPks', { tableId, shard: 0, pks: ['none'] }), { entries: [null] });
  const merkle = await call('Merkle', { shard: 0, tableId });
  assert.ok(Buffer.isBuffer(merkle.tree));
  const leaves = scanned.records.map(([recordKey]) => leafOf(recordKey));
  const entries = await call('LeafEntries', { shard: 0, leaves });
  assert.deepEqual(entries.entries.map(([, version]) => version).sort(), ids.map(String).sort());
  const fetched = await call('Fetch', { keys: scanned.records.map(([recordKey]) => recordKey) });
  assert.deepEqual(fetched.records, scanned.records);
});

test('a gRPC server refuses to start with a method that declares no access (deny by default)', async () => {
  const implementation = Object.fromEntries(REPLICA_METHODS.map((m) => [m, () => undefined]));
  const access = Object.fromEntries([...REPLICA_METHODS.slice(1), WRITE_STREAM_METHOD].map((m) => [m, 'node-certificate' as const]));
  await assert.rejects(GrpcServer.start('127.0.0.1', 0, [{ name: 'probe', definition: replicaServiceDefinition, implementation, access }]), new RegExp(`${REPLICA_METHODS[0]} declare no access`));
});
