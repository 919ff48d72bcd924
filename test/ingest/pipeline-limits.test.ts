/**
 * The write pipeline with a table's limits, in process: a real catalog,
 * decode pool and admission, a coordinator that records what reaches it.
 * A refused write never reaches the coordinator and releases its ticket; a
 * waiting write (how the Kafka source writes: framed, skip, dedupe keys)
 * goes through once its tokens are due, and gives up with SHUTTING_DOWN
 * when its source stops; far-future records are refused with their code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isSluiceError } from '../../src/core/errors.ts';
import { parseTableDef } from '../../src/core/schema/parse-table-def.ts';
import type { Coordinator } from '../../src/cluster/coordinator/coordinator.ts';
import { Admission } from '../../src/ingest/admission.ts';
import { DecodePool } from '../../src/ingest/decode-pool.ts';
import { IngestPipeline, type WriteRequest } from '../../src/ingest/pipeline.ts';
import { TableRateLimiter } from '../../src/ingest/table-rate-limiter.ts';
import { Catalog } from '../../src/storage/catalog.ts';

const DEF = parseTableDef({ name: 'm', shardKey: 'k', timeField: 'ts', fields: [{ name: 'k', type: 'string', required: true }, { name: 'ts', type: 'timestamp', required: true }] }, 0);

async function setup(t: { after: (fn: () => unknown) => void }, limits: object, threads = 0) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-pl-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const catalog = await Catalog.open(dir, [], 0);
  await catalog.create(DEF, 0, limits);
  const written: number[] = [];
  let next = 1n;
  const coordinator = {
    write: async (_entry, _batch, count, release) => {
      written.push(count);
      release();
      return { ids: Array.from({ length: count }, () => next++), token: 't' };
    },
  } as Partial<Coordinator> as Coordinator;
  // With threads, bodies from 1 KiB are decoded in a worker (and transferred there when they own their memory).
  const pool = new DecodePool({ threads, workerBodyBytesMin: threads === 0 ? 1 << 30 : 1024, workerHeapMbMax: 64 });
  t.after(() => pool.close());
  const admission = new Admission({ inFlightBytesMax: 1 << 20, inFlightRequestsMax: 16 });
  const future: number[] = [];
  const pipeline = new IngestPipeline({
    catalog,
    coordinator,
    pool,
    options: { shards: 4, keyBytesMax: 256, errorDetailsMax: 10, jsonDepthMax: 8 },
    limiter: new TableRateLimiter({ share: () => 1, eventTimeAheadMsMax: 3_600_000 }),
    observer: { onFutureTime: (_t, n) => future.push(n) },
  });
  const write = (req: Omit<WriteRequest, 'table' | 'format' | 'ticket'>) => {
    const ticket = admission.tryAcquire(req.body.length);
    assert.ok(ticket !== undefined);
    return pipeline.write({ table: 'm', format: 'ndjson', ...req, ticket });
  };
  return { write, written, admission, future, catalog };
}

function ndjson(n: number, aheadMs = 0): Buffer {
  const ts = Date.now() + aheadMs;
  return Buffer.from(Array.from({ length: n }, (_, i) => JSON.stringify({ k: `k${i}`, ts })).join('\n'));
}

/** `n` records as a Kafka source sends them: one frame each, with dedupe keys. */
function framed(n: number): Pick<WriteRequest, 'body' | 'frames' | 'dedupe' | 'onInvalid'> {
  const values = Array.from({ length: n }, (_, i) => Buffer.from(JSON.stringify({ k: `f${i}`, ts: Date.now() })));
  return {
    body: Buffer.concat(values),
    frames: Uint32Array.from(values, (v) => v.length),
    dedupe: { prefixes: ['topic/0/'], prefixIndex: new Uint16Array(n), numbers: Float64Array.from(values, (_, i) => i), digits: 20 },
    onInvalid: 'skip',
  };
}

test('a refused write never reaches the coordinator and releases its admission ticket', async (t) => {
  const { write, written, admission } = await setup(t, { recordsPerSecond: 10, recordsBurst: 10 });
  assert.equal((await write({ body: ndjson(10), onInvalid: 'reject' })).written, 10);
  await assert.rejects(write({ body: ndjson(5), onInvalid: 'reject' }), (err) => isSluiceError(err, 'RATE_LIMITED') && (err.retryAfterMs ?? 0) > 0);
  await assert.rejects(write({ body: ndjson(11), onInvalid: 'reject' }), (err) => isSluiceError(err, 'RATE_LIMIT_BURST_EXCEEDED'));
  assert.deepEqual(written, [10]);
  assert.equal(admission.inFlightRequests, 0);
  assert.equal(admission.inFlightBytes, 0);
});

test("a body transferred to a decode worker still counts its bytes against the table's bytes rate", async (t) => {
  const { write, written } = await setup(t, { bytesPerSecond: 10_000, bytesBurst: 10_000 }, 1);
  // Bodies that own their memory, as a large HTTP body does: the pool transfers them, which empties the caller's view.
  const owned = (n: number): Buffer => {
    const text = ndjson(n);
    const body = Buffer.from(new ArrayBuffer(text.length));
    body.set(text);
    return body;
  };
  const first = owned(250);
  assert.ok(first.length > 6000 && first.length < 10_000, String(first.length));
  assert.equal((await write({ body: first, onInvalid: 'reject' })).written, 250);
  await assert.rejects(write({ body: owned(250), onInvalid: 'reject' }), (err) => isSluiceError(err, 'RATE_LIMITED'));
  assert.deepEqual(written, [250]);
});

test('a waiting write (the Kafka source\'s form) goes through once its tokens are due, even past the burst', async (t) => {
  const { write, written } = await setup(t, { recordsPerSecond: 100, recordsBurst: 10 });
  const started = Date.now();
  const result = await write({ ...framed(30), rateLimit: 'wait' });
  assert.equal(result.written, 30);
  assert.ok(Date.now() - started >= 190, `20 records of debt at 100/s (took ${Date.now() - started} ms)`);
  assert.deepEqual(written, [30]);
});

test('a waiting write gives up with SHUTTING_DOWN when its source stops, and writes nothing', async (t) => {
  const { write, written, admission } = await setup(t, { recordsPerSecond: 1, recordsBurst: 1 });
  const stop = new AbortController();
  const started = Date.now();
  const pending = write({ ...framed(30), rateLimit: 'wait', signal: stop.signal });
  setTimeout(() => stop.abort(), 50);
  await assert.rejects(pending, (err) => isSluiceError(err, 'SHUTTING_DOWN'));
  assert.ok(Date.now() - started < 29_000, `not held for the whole debt (${Date.now() - started} ms)`);
  assert.deepEqual(written, []);
  assert.equal(admission.inFlightRequests, 0);
});

test('a waiting write whose debt is longer than the longest timer (24.8 days) still waits, not 1 ms', async (t) => {
  // The lowest rate a table may have: 3,000 records are 3,000,000 s (35 days) of debt, past setTimeout's 2^31 - 1 ms.
  const { write, written, admission } = await setup(t, { recordsPerSecond: 0.001, recordsBurst: 1 });
  const stop = new AbortController();
  const pending = write({ ...framed(3000), rateLimit: 'wait', signal: stop.signal });
  pending.catch(() => undefined);
  const early = await Promise.race([pending.then(() => 'written'), new Promise((r) => setTimeout(r, 500, 'waiting'))]);
  stop.abort();
  assert.equal(early, 'waiting', "a wait of weeks overflowed Node's timer and was cut to 1 ms: the whole batch went past the rate");
  await assert.rejects(pending, (err) => isSluiceError(err, 'SHUTTING_DOWN'));
  assert.deepEqual(written, []);
  assert.equal(admission.inFlightRequests, 0);
});

test("a waiting write goes through once its table's limit is raised or removed, not after the debt at the old rate", async (t) => {
  for (const patch of [{ recordsPerSecond: 1e6, recordsBurst: 1e6 }, {}]) {
    const { write, written, admission, catalog } = await setup(t, { recordsPerSecond: 1, recordsBurst: 1 });
    const stop = new AbortController();
    t.after(() => stop.abort());
    // 29 records of debt at 1/s: 29 s at the rate it was reserved at.
    const pending = write({ ...framed(30), rateLimit: 'wait', signal: stop.signal });
    pending.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    // The operator finds the limit far too low (PATCH /v1/tables/m).
    await catalog.setLimits('m', () => patch);
    const done = await Promise.race([pending.then((r) => r.written), new Promise((r) => setTimeout(r, 3_000, 'still waiting'))]);
    stop.abort();
    assert.equal(done, 30, `limits ${JSON.stringify(patch)}: the batch kept sleeping off its debt at 1 record/s, holding its admission ticket`);
    assert.deepEqual(written, [30]);
    assert.equal(admission.inFlightRequests, 0);
  }
});

test('far-future records: EVENT_TIME_IN_FUTURE under reject (nothing written), listed under skip, counted either way', async (t) => {
  const { write, written, future } = await setup(t, { eventTimeAheadMsMax: 1000 });
  const body = Buffer.concat([ndjson(2), Buffer.from('\n'), ndjson(1, 60_000)]);
  await assert.rejects(write({ body, onInvalid: 'reject' }), (err) => isSluiceError(err, 'EVENT_TIME_IN_FUTURE') && err.details[0]?.index === 2);
  assert.deepEqual(written, []);
  const skipped = await write({ body, onInvalid: 'skip' });
  assert.equal(skipped.written, 2);
  assert.deepEqual(skipped.rejected?.map((r) => [r.index, r.code]), [[2, 'EVENT_TIME_IN_FUTURE']]);
  assert.deepEqual(future, [1, 1]);
  // Mixed with another problem, the request's code is SCHEMA_VIOLATION and each record keeps its own.
  const mixed = Buffer.concat([Buffer.from('{"ts": 1}\n'), ndjson(1, 60_000)]);
  await assert.rejects(write({ body: mixed, onInvalid: 'reject' }), (err) => isSluiceError(err, 'SCHEMA_VIOLATION') && err.details.map((d) => d.code).join() === 'REQUIRED,EVENT_TIME_IN_FUTURE');
});

test('a write past the dedupe fence tells the coordinator its keys are fresh and their digit count; one the fence resolves does not', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-pl-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const catalog = await Catalog.open(dir, [], 0);
  await catalog.create(DEF, 0, {});
  const seen: { freshKeys?: boolean; fencedDigits?: number }[] = [];
  let next = 1n;
  const coordinator = {
    // Nothing stored yet: the fence starts below every number.
    highestDedupeKey: async () => undefined,
    write: async (_entry, _batch, count, release, options) => {
      seen.push({ ...(options?.freshKeys === undefined ? {} : { freshKeys: options.freshKeys }), ...(options?.fencedDigits === undefined ? {} : { fencedDigits: options.fencedDigits }) });
      release();
      return { ids: Array.from({ length: count }, () => next++), token: 't' };
    },
  } as Partial<Coordinator> as Coordinator;
  const pool = new DecodePool({ threads: 0, workerBodyBytesMin: 1 << 30, workerHeapMbMax: 64 });
  t.after(() => pool.close());
  const admission = new Admission({ inFlightBytesMax: 1 << 20, inFlightRequestsMax: 16 });
  const pipeline = new IngestPipeline({ catalog, coordinator, pool, options: { shards: 4, keyBytesMax: 256, errorDetailsMax: 10, jsonDepthMax: 8 }, limiter: new TableRateLimiter({ share: () => 1, eventTimeAheadMsMax: 3_600_000 }) });
  const write = async (req: Pick<WriteRequest, 'body' | 'frames' | 'dedupe' | 'onInvalid'>) => {
    const ticket = admission.tryAcquire(req.body.length);
    assert.ok(ticket !== undefined);
    return pipeline.write({ table: 'm', format: 'ndjson', ...req, ticket });
  };
  assert.equal((await write(framed(5))).written, 5);
  // The same offsets again (a re-delivery): below the admitted range, resolved, not fresh.
  assert.equal((await write(framed(5))).written, 5);
  assert.deepEqual(seen, [{ freshKeys: true, fencedDigits: 20 }, {}]);
});
