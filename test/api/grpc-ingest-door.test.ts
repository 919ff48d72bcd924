/**
 * The gRPC Ingest door against an in-process node: what a refused request
 * leaves behind. A write refused for its options gives its admission back
 * (else a few bad requests leave the node refusing every write with
 * OVERLOADED), and a stream ended by a revoked token while an earlier batch
 * is still being written ends with UNAUTHENTICATED and nothing unhandled
 * (an unhandled rejection ends a node's process).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { status, type ServiceError } from '@grpc/grpc-js';
import { resolveConfig, type NodeConfig } from '../../src/config.ts';
import { SluiceNode } from '../../src/sluice-node.ts';
import { tempDir } from '../process/harness.ts';
import { ingestClient, ingestStream, ingestWrite, type IngestClient, type IngestReply } from '../process/ingest-client.ts';
import { TEST_TOKEN, authHeaders } from '../support/auth.ts';

type Owner = { after: (fn: () => Promise<void> | void) => void };

const METERED = {
  name: 'metered',
  shardKey: 'device',
  fields: [
    { name: 'device', type: 'string', required: true },
    { name: 'n', type: 'int' },
  ],
};

function records(prefix: string, n: number): Buffer {
  return Buffer.from(Array.from({ length: n }, (_, i) => JSON.stringify({ device: `${prefix}-${i}`, n: i })).join('\n'));
}

async function api(node: SluiceNode, method: string, path: string, body?: object): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${node.url}${path}`, { method, headers: { ...authHeaders(), 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  return { status: res.status, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

async function startNode(t: Owner, options: Partial<NodeConfig> = {}): Promise<{ node: SluiceNode; client: (token?: string) => IngestClient }> {
  // The directory goes once the node has stopped.
  let node: SluiceNode | undefined;
  const removals: (() => void)[] = [];
  t.after(async () => {
    await node?.stop();
    for (const remove of removals) remove();
  });
  const dir = tempDir({ after: (fn) => removals.push(fn) }, 'sluice-grpc-door-');
  const config = resolveConfig({ dataDir: dir, httpPort: 0, grpcEnabled: true, grpcPort: 0, bootstrapToken: TEST_TOKEN, diskFreeBytesMin: 0, auditLog: 'off', ...options });
  const started = await SluiceNode.start(config, pino({ level: 'silent' }));
  node = started;
  const created = await api(started, 'POST', '/v1/tables', METERED);
  assert.equal(created.status, 201, JSON.stringify(created.json));
  const client = (token?: string): IngestClient => {
    const c = ingestClient(started.grpcPort as number, token === undefined ? {} : { token });
    t.after(() => c.close());
    return c;
  };
  return { node: started, client };
}

test('a gRPC write refused for its options gives its admission back: later writes are not OVERLOADED', { timeout: 30_000 }, async (t) => {
  const { client } = await startNode(t, { inFlightRequestsMax: 2 });
  const c = client();
  // More refused requests than admission has room for, unary and streamed.
  const codes: (string | undefined)[] = [];
  for (let i = 0; i < 3; i++) {
    const refused = await ingestWrite(c, { table: 'metered', records: records(`c${i}`, 1), consistency: 'most' }).then(
      () => undefined,
      (err: ServiceError) => err,
    );
    codes.push(refused?.metadata.get('sluice-code')[0]?.toString());
  }
  assert.deepEqual(codes, ['INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT'], 'each refused for its option, none for a full admission');
  const streamed = await ingestStream(c, [0, 1, 2].map((i) => ({ table: 'metered', records: records(`s${i}`, 1), onInvalid: 'sometimes', sequence: String(i) })));
  assert.deepEqual(streamed.map((r) => r.error?.code), ['INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT']);

  const ok = await ingestWrite(c, { table: 'metered', records: records('ok', 5) }).then(
    (r) => r.written,
    (err: ServiceError) => `${err.code} ${err.metadata.get('sluice-code')[0]}: ${err.details}`,
  );
  assert.equal(ok, 5, 'admission has room again once the refused requests are answered');
});

test('a stream whose token is revoked while an earlier batch waits ends UNAUTHENTICATED, with no unhandled rejection', { timeout: 30_000 }, async (t) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.after(() => void process.off('unhandledRejection', onUnhandled));

  const { node, client } = await startNode(t);
  // A rate limit makes the second batch wait (a stream's batch waits for the rate, it is not refused).
  assert.equal((await api(node, 'PATCH', '/v1/tables/metered', { limits: { recordsPerSecond: 10, recordsBurst: 10 } })).status, 200);
  const made = await api(node, 'POST', '/v1/auth/tokens', { name: 'streamer', scopes: ['write:metered'] });
  assert.equal(made.status, 201, JSON.stringify(made.json));

  const stream = client(made.json['token'] as string).WriteStream();
  const replies: IngestReply[] = [];
  const ended = new Promise<ServiceError | undefined>((resolve) => {
    stream.on('data', (r: IngestReply) => replies.push(r));
    stream.on('error', (err: ServiceError) => resolve(err));
    stream.on('end', () => resolve(undefined));
  });
  const replied = async (n: number): Promise<void> => {
    while (replies.length < n) await new Promise((r) => setTimeout(r, 5));
  };
  stream.write({ table: 'metered', records: records('a', 10), sequence: '0' });
  await replied(1);
  // Waits about a second for the rate while the token is revoked and the next batch comes.
  stream.write({ table: 'metered', records: records('b', 10), sequence: '1' });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal((await api(node, 'DELETE', `/v1/auth/tokens/${made.json['id'] as string}`)).status, 200);
  stream.write({ table: 'metered', records: records('c', 1), sequence: '2' });
  const err = await ended;

  assert.equal(err?.code, status.UNAUTHENTICATED, `stream ended with ${err?.code} ${err?.details}`);
  assert.deepEqual(replies.map((r) => [r.sequence, r.written]), [
    ['0', 10],
    ['1', 10],
  ]);
  assert.deepEqual(unhandled, [], 'the refused batch is answered in its turn, not dropped as an unhandled rejection');
});

test('a stopping node ends an open WriteStream once its batches are answered, instead of waiting out its grace', { timeout: 30_000 }, async (t) => {
  const graceMs = 6_000;
  const { node, client } = await startNode(t, { shutdownGraceMs: graceMs });
  const stream = client().WriteStream();
  const replies: IngestReply[] = [];
  const ended = new Promise<ServiceError | undefined>((resolve) => {
    stream.on('data', (r: IngestReply) => replies.push(r));
    stream.on('error', (err: ServiceError) => resolve(err));
    stream.on('end', () => resolve(undefined));
  });
  stream.write({ table: 'metered', records: records('a', 10), sequence: '0' });
  while (replies.length < 1) await new Promise((r) => setTimeout(r, 5));
  // A shipper keeps its stream open between batches.
  const startedMs = Date.now();
  await node.stop();
  const tookMs = Date.now() - startedMs;
  const err = await ended;
  assert.ok(tookMs < graceMs / 2, `the stop took ${tookMs} ms with a stream open (grace ${graceMs} ms)`);
  assert.equal(err?.code, status.UNAVAILABLE, `the client is told to go elsewhere: ${err?.code} ${err?.details}`);
  assert.equal(err?.metadata.get('sluice-code')[0], 'SHUTTING_DOWN');
  assert.deepEqual(replies.map((r) => [r.sequence, r.written]), [['0', 10]]);
});

test('the client port does not take a message far past the body limit: grpc refuses it before it is read whole (RESOURCE_EXHAUSTED), one just past it gets PAYLOAD_TOO_LARGE', async (t) => {
  const MiB = 2 ** 20;
  const { client } = await startNode(t, { bodyBytesMax: MiB });
  const c = client();
  const over = await ingestWrite(c, { table: 'metered', records: Buffer.alloc(MiB + 1024, 0x20) }).then(
    () => assert.fail('a body past the limit was taken'),
    (err: ServiceError) => err,
  );
  assert.equal(over.code, status.RESOURCE_EXHAUSTED, over.message);
  assert.equal(over.metadata.get('sluice-code')[0], 'PAYLOAD_TOO_LARGE', 'sluice answers a body just past its limit itself');
  // The peer port's 256 MiB message bound applied here too: the whole message was received before the check.
  const far = await ingestWrite(c, { table: 'metered', records: Buffer.alloc(8 * MiB, 0x20) }).then(
    () => assert.fail('a body far past the limit was taken'),
    (err: ServiceError) => err,
  );
  assert.equal(far.code, status.RESOURCE_EXHAUSTED, far.message);
  assert.equal(far.metadata.get('sluice-code')[0], undefined, `refused by gRPC's receive bound, not after reading it: ${far.message}`);
  assert.match(far.message, /larger than max/i);
});
