/**
 * A node's own Parquet import encodes rows in the conversion threads
 * (decision 31). Each record batch must be what the pipeline's decode step
 * makes of the JSON body the same rows became before: the same bytes, the
 * same refusals with the same indexes and codes, the same positions and
 * dedupe keys, the same raw bytes for dead letters; inline and in a worker
 * thread. A pre-encoded write must skip the decode pool and answer as the
 * JSON body's write answers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parquetWriteFile, type SchemaElement } from 'hyparquet-writer';
import { isSluiceError } from '../../../src/core/errors.ts';
import { parseTableDef } from '../../../src/core/schema/parse-table-def.ts';
import type { TableDef } from '../../../src/core/schema/table-def.ts';
import type { Coordinator } from '../../../src/cluster/coordinator/coordinator.ts';
import { Admission } from '../../../src/ingest/admission.ts';
import { encodeBatch, type EncodedBatch, type OnInvalid } from '../../../src/ingest/batch-encoder.ts';
import { decodeBody } from '../../../src/ingest/decode-body.ts';
import type { DecodePool } from '../../../src/ingest/decode-pool.ts';
import { schemaFor } from '../../../src/ingest/decode-worker.ts';
import { refusedIndexes } from '../../../src/ingest/dead-letters/collect-dead-letters.ts';
import { rawRecordsAt } from '../../../src/ingest/dead-letters/raw-records.ts';
import { ConvertPool } from '../../../src/ingest/formats/convert-pool.ts';
import type { RowEncodeParams } from '../../../src/ingest/formats/encode-rows.ts';
import { ROW_KEY_DIGITS, type FileBatch, type FileReadOptions } from '../../../src/ingest/formats/file-batch.ts';
import { readFileBatches } from '../../../src/ingest/formats/read-file-batches.ts';
import { IngestPipeline, type WriteRequest } from '../../../src/ingest/pipeline.ts';
import { TableRateLimiter } from '../../../src/ingest/table-rate-limiter.ts';
import { Catalog } from '../../../src/storage/catalog.ts';
import { tempDir } from '../../support/temp-dir.ts';

const NOW = Date.UTC(2026, 11, 5);
const ROWS = 300;

const DEF: TableDef = parseTableDef(
  {
    name: 'enc',
    shardKey: 'device',
    timeField: 'at',
    fields: [
      { name: 'device', type: 'string', required: true },
      { name: 'at', type: 'timestamp', required: true },
      { name: 'value', type: 'float' },
      { name: 'price', type: 'decimal' },
      { name: 'big', type: 'int' },
      { name: 'meta', type: 'json' },
    ],
  },
  7,
);

/**
 * Rows the conversion refuses (NaN, row 41), and rows only the node's validation refuses: a null device
 * (required), a device longer than the key limit, an event time an hour ahead; -0 and int64s past 2^53 besides.
 */
function writeFile(file: string): void {
  const k = Array.from({ length: ROWS }, (_, i) => i);
  parquetWriteFile({
    filename: file,
    columnData: [
      { name: 'device', data: k.map((i) => (i % 23 === 5 ? null : i % 31 === 7 ? `a-device-name-far-too-long-${i}` : `dev-${i % 9}`)) },
      { name: 'at', data: k.map((i) => BigInt(NOW - 1000 * i + (i % 37 === 11 ? 3_600_000 + 1000 * i : 0))) },
      { name: 'value', data: k.map((i) => (i === 41 ? Number.NaN : i % 10 === 0 ? -0 : i % 4 === 1 ? null : i / 8 - 10)) },
      { name: 'price', data: k.map((i) => BigInt(i * 101 - 5000)) },
      { name: 'big', data: k.map((i) => (i % 3 === 0 ? null : 9007199254740993n + BigInt(i))) },
      { name: 'meta', data: k.map((i) => (i % 8 === 0 ? null : { k: i, tags: ['a', 'ü'], nested: { none: null } })) },
    ],
    schema: [
      { name: 'root', num_children: 6 },
      { name: 'device', repetition_type: 'OPTIONAL', type: 'BYTE_ARRAY', converted_type: 'UTF8' },
      { name: 'at', repetition_type: 'REQUIRED', type: 'INT64', converted_type: 'TIMESTAMP_MILLIS' },
      { name: 'value', repetition_type: 'OPTIONAL', type: 'DOUBLE' },
      { name: 'price', repetition_type: 'REQUIRED', type: 'INT64', converted_type: 'DECIMAL', scale: 2, precision: 18 },
      { name: 'big', repetition_type: 'OPTIONAL', type: 'INT64' },
      { name: 'meta', repetition_type: 'OPTIONAL', type: 'BYTE_ARRAY', converted_type: 'JSON' },
    ] as SchemaElement[] as never,
    rowGroupSize: 128,
    pageSize: 512,
  });
}

function params(onInvalid: OnInvalid, prefix?: string): RowEncodeParams {
  return {
    tableId: 3,
    shards: 8,
    keyBytesMax: 24,
    errorDetailsMax: onInvalid === 'dead_letter' ? 1000 : 5,
    eventTimeAheadMsMax: 60_000,
    jsonDepthMax: 16,
    deadLetters: onInvalid === 'dead_letter',
    ...(prefix === undefined ? {} : { dedupe: { prefix, digits: ROW_KEY_DIGITS } }),
    nowMs: NOW,
  };
}

function options(onInvalid: OnInvalid, encode?: RowEncodeParams): FileReadOptions {
  return { format: 'parquet', gzip: false, def: DEF, onInvalid, limits: { rowsMax: 40, bytesMax: 1 << 20 }, taskRows: 100, ...(encode === undefined ? {} : { encode }) };
}

async function collect(file: string, o: FileReadOptions, pool: ConvertPool): Promise<FileBatch[]> {
  const out: FileBatch[] = [];
  for await (const b of readFileBatches(file, o, pool)) out.push(b);
  return out;
}

/** What the pipeline's decode step makes of a JSON body (the decode worker's encode, at the same clock). */
function decodedFromBody(body: Uint8Array, firstRow: number, p: RowEncodeParams): EncodedBatch {
  return encodeBatch(decodeBody(body, 'json'), schemaFor(DEF, p.tableId, p.jsonDepthMax), {
    tableId: p.tableId,
    shards: p.shards,
    nowMs: NOW,
    eventTimeMaxMs: NOW + p.eventTimeAheadMsMax,
    keyBytesMax: p.keyBytesMax,
    errorDetailsMax: p.errorDetailsMax,
    ...(p.dedupe === undefined ? {} : { dedupe: { prefix: p.dedupe.prefix, first: firstRow, digits: p.dedupe.digits } }),
  });
}

function comparable(e: EncodedBatch) {
  return { batch: Buffer.from(e.batch).toString('hex'), count: e.count, total: e.total, rejected: e.rejected, rejectedCount: e.rejectedCount, futureCount: e.futureCount, positions: e.positions === undefined ? undefined : [...e.positions], keyed: e.keyed };
}

for (const threads of [0, 1]) {
  test(`record batches from the conversion ${threads === 0 ? 'inline' : 'in a worker'} equal the decode step's of the JSON bodies, in every mode`, async (t) => {
    const file = path.join(tempDir(t), 'rows.parquet');
    writeFile(file);
    const pool = new ConvertPool({ threads });
    t.after(() => pool.close());
    for (const [onInvalid, prefix] of [['skip', undefined], ['skip', 'file-a/'], ['dead_letter', 'file-b/'], ['dead_letter', undefined]] as const) {
      const p = params(onInvalid, prefix);
      const bodies = await collect(file, options(onInvalid), pool);
      const encoded = await collect(file, options(onInvalid, p), pool);
      const what = `${onInvalid} ${prefix ?? ''}`;
      assert.deepEqual(
        encoded.map((b) => [b.firstRow, b.rows, b.body, b.encoded !== undefined]),
        bodies.map((b) => [b.firstRow, b.rows, null, b.body !== null]),
        `${what}: the same row ranges, each sent as a record batch instead of a body`,
      );
      assert.deepEqual(
        encoded.map((b) => [b.problems, b.problemCount]),
        bodies.map((b) => [b.problems, b.problemCount]),
        `${what}: the conversion's own refusals are unchanged`,
      );
      let refused = 0;
      for (let i = 0; i < bodies.length; i++) {
        const body = (bodies[i] as FileBatch).body;
        const mine = (encoded[i] as FileBatch).encoded;
        if (body === null || mine === undefined) continue;
        const theirs = decodedFromBody(body, (bodies[i] as FileBatch).firstRow, p);
        assert.deepEqual(comparable(mine), comparable(theirs), `${what}: batch of row ${(bodies[i] as FileBatch).firstRow}`);
        refused += mine.rejectedCount;
        // A letter's raw bytes: what the pipeline would cut from the body.
        const cut = onInvalid === 'dead_letter' ? rawRecordsAt({ body, format: 'json' }, refusedIndexes(theirs)).map((b) => Buffer.from(b).toString()) : undefined;
        assert.deepEqual(mine.refusedRaw?.map((b) => Buffer.from(b).toString()), cut?.length === 0 ? undefined : cut);
      }
      // Null device (13), key too long (8, one of them also null-free), an hour ahead (8): the node's refusals happen in the conversion threads.
      assert.ok(refused >= 25, `${what}: ${refused} rows refused by validation`);
    }
  });
}

test('a stop in reject mode: the rows before it are encoded, and the first batch the node refuses is the body’s refusal', async (t) => {
  const file = path.join(tempDir(t), 'rows.parquet');
  writeFile(file);
  const p = params('reject');
  const pool = new ConvertPool({ threads: 0 });
  const collectUntilStop = async (o: FileReadOptions): Promise<{ batches: FileBatch[]; error: unknown }> => {
    const batches: FileBatch[] = [];
    try {
      for await (const b of readFileBatches(file, o, pool)) batches.push(b);
    } catch (error) {
      return { batches, error };
    }
    return { batches, error: undefined };
  };
  const json = await collectUntilStop(options('reject'));
  const mine = await collectUntilStop(options('reject', p));
  assert.deepEqual((mine.error as Error).message, (json.error as Error).message, 'the conversion stops at the same row (NaN, row 42)');
  assert.equal(mine.batches.length, json.batches.length);
  const first = json.batches[0] as FileBatch;
  const theirs = decodedFromBody(first.body as Uint8Array, 0, p);
  assert.ok(theirs.rejectedCount > 0, 'the first batch holds rows the node refuses');
  assert.deepEqual(comparable((mine.batches[0] as FileBatch).encoded as EncodedBatch), comparable(theirs));
});

/** A pipeline whose decode pool fails the test if it is used; the coordinator records what reaches it. */
async function pipelineSetup(t: { after: (fn: () => unknown) => void }) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-pre-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const catalog = await Catalog.open(dir, [], 0);
  const entry = await catalog.create({ ...DEF, version: 1 }, 0, {});
  const reached: { count: number; batch: string }[] = [];
  let next = 1n;
  const coordinator = {
    write: async (_entry, batch, count, release) => {
      reached.push({ count, batch: Buffer.from(batch).toString('hex') });
      release();
      return { ids: Array.from({ length: count }, () => next++), token: 't' };
    },
  } as Partial<Coordinator> as Coordinator;
  let decodes = 0;
  const real = await import('../../../src/ingest/decode-pool.ts');
  const inner = new real.DecodePool({ threads: 0, workerBodyBytesMin: 1 << 30, workerHeapMbMax: 64 });
  const pool = { decode: (...args: Parameters<DecodePool['decode']>) => (decodes++, inner.decode(...args)), close: () => inner.close() } as unknown as DecodePool;
  const pipeline = new IngestPipeline({
    catalog,
    coordinator,
    pool,
    options: { shards: 8, keyBytesMax: 24, errorDetailsMax: 5, jsonDepthMax: 16 },
    limiter: new TableRateLimiter({ share: () => 1, eventTimeAheadMsMax: 60_000 }),
  });
  const admission = new Admission({ inFlightBytesMax: 1 << 24, inFlightRequestsMax: 16 });
  const write = (req: Omit<WriteRequest, 'table' | 'format' | 'ticket'>) => {
    const ticket = admission.tryAcquire(req.body.length);
    assert.ok(ticket !== undefined);
    return pipeline.write({ table: 'enc', format: 'json', ...req, ticket });
  };
  return { pipeline, write, reached, decodes: () => decodes, tableId: entry.id, admission };
}

test('a pre-encoded write skips the decode pool and answers as the JSON body’s write does', async (t) => {
  const s = await pipelineSetup(t);
  const file = path.join(tempDir(t), 'rows.parquet');
  writeFile(file);
  for (const onInvalid of ['skip', 'reject'] as const) {
    const p = { ...s.pipeline.encodeParams('enc', onInvalid), nowMs: Date.now() };
    assert.equal(p.tableId, s.tableId);
    assert.equal(p.eventTimeAheadMsMax, 60_000, 'the table’s event-time bound');
    const pool = new ConvertPool({ threads: 0 });
    // Valid rows at the time of the write (the file's times are relative to NOW).
    const bodies = await collect(file, { ...options('skip'), limits: { rowsMax: 1000, bytesMax: 1 << 24 }, taskRows: 1000 }, pool);
    const encoded = await collect(file, { ...options('skip', p), limits: { rowsMax: 1000, bytesMax: 1 << 24 }, taskRows: 1000 }, pool);
    const body = bodies.find((b) => b.body !== null) as FileBatch;
    const pre = encoded.find((b) => b.encoded !== undefined) as FileBatch;
    const decodesBefore = s.decodes();
    const viaJson = await s.write({ body: body.body as Uint8Array, onInvalid }).catch((err: unknown) => err);
    assert.equal(s.decodes(), decodesBefore + 1);
    const viaBatch = await s.write({ body: (pre.encoded as EncodedBatch).batch, preEncoded: { batch: pre.encoded as EncodedBatch, tableId: s.tableId }, onInvalid }).catch((err: unknown) => err);
    assert.equal(s.decodes(), decodesBefore + 1, `${onInvalid}: the pre-encoded write did not decode`);
    if (onInvalid === 'reject') {
      assert.ok(isSluiceError(viaJson, 'SCHEMA_VIOLATION') && isSluiceError(viaBatch, 'SCHEMA_VIOLATION'));
      assert.equal(viaBatch.message, viaJson.message);
      assert.deepEqual(viaBatch.details, viaJson.details);
    } else {
      const strip = (r: unknown) => ({ ...(r as Record<string, unknown>), ids: undefined, token: undefined });
      assert.deepEqual(strip(viaBatch), strip(viaJson));
      assert.ok((viaJson as { rejectedCount: number }).rejectedCount > 0);
      const [a, b] = s.reached.slice(-2);
      assert.equal(a?.count, b?.count);
    }
  }
  assert.equal(s.admission.inFlightBytes, 0, 'every ticket released');
  assert.equal(s.admission.inFlightRequests, 0);
});

test('a pre-encoded batch of another table id is refused; in dead_letter mode it must carry its refused rows', async (t) => {
  const s = await pipelineSetup(t);
  const p = { ...s.pipeline.encodeParams('enc', 'skip'), nowMs: Date.now() };
  const schema = schemaFor(DEF, p.tableId, p.jsonDepthMax);
  const batch = encodeBatch([{ device: 'd', at: Date.now() }, { at: Date.now() }], schema, { tableId: p.tableId, shards: p.shards, nowMs: p.nowMs, keyBytesMax: p.keyBytesMax, errorDetailsMax: 5 });
  await assert.rejects(
    s.write({ body: batch.batch, preEncoded: { batch, tableId: s.tableId + 1 }, onInvalid: 'skip' }),
    (err) => isSluiceError(err, 'TABLE_NOT_FOUND'),
  );
  await assert.rejects(
    s.write({ body: batch.batch, preEncoded: { batch, tableId: s.tableId }, onInvalid: 'dead_letter' }),
    (err) => isSluiceError(err) && (err.code === 'INTERNAL' || err.code === 'INVALID_ARGUMENT'),
  );
  assert.equal(s.reached.length, 0);
  assert.equal(s.decodes(), 0);
});
