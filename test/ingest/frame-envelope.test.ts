/**
 * Documents wrapped into records where they are parsed (frame-envelope.ts):
 * the record of each frame, refusals of frames that are not JSON objects,
 * and the dead letter's raw text, which must be a record of the table (so
 * `sluice dlq replay` can store it once the cause is fixed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UnparsedRecord } from '../../src/ingest/batch-encoder.ts';
import { decodeFrames } from '../../src/ingest/decode-frames.ts';
import { rawRecordsAt } from '../../src/ingest/dead-letters/raw-records.ts';
import { packStrings, wrapFrames, type FrameEnvelope } from '../../src/ingest/frame-envelope.ts';

const NOW = 1_800_000_000_000;
const DOCS = ['{"t":"2026-01-01T00:00:00Z","m":"a"}', '{"m":', '[1]', '{"m":"no time","t":null}', '{"t":{"bad":1}}'];

function framed(docs: readonly string[]): { body: Buffer; frames: Uint32Array } {
  return { body: Buffer.from(docs.join(''), 'utf8'), frames: Uint32Array.from(docs, (d) => Buffer.byteLength(d)) };
}

const ENV: FrameEnvelope = {
  docField: 'doc',
  timeField: 'ts',
  docTimePath: 't',
  fields: [
    { name: 'id', values: packStrings(DOCS.map((_, i) => `id${i}`)) },
    { name: 'ix', values: packStrings(DOCS.map(() => 'logs')) },
  ],
  noun: 'source',
};

test('each frame becomes {fields…, time, doc}; frames that are not JSON objects are refused alone', () => {
  const { body, frames } = framed(DOCS);
  const records = wrapFrames(decodeFrames(body, frames, undefined, ENV.noun), ENV, NOW);
  assert.deepEqual(records[0], { id: 'id0', ix: 'logs', ts: '2026-01-01T00:00:00Z', doc: { t: '2026-01-01T00:00:00Z', m: 'a' } });
  assert.ok(records[1] instanceof UnparsedRecord);
  assert.match(records[1].message, /^the source is not valid JSON/);
  assert.ok(records[2] instanceof UnparsedRecord);
  assert.equal(records[2].message, 'the source must be a JSON object');
  assert.equal(records[2].code, 'INVALID_JSON');
  assert.deepEqual(records[3], { id: 'id3', ix: 'logs', ts: NOW, doc: { m: 'no time', t: null } }, 'no time: the receive time');
  assert.deepEqual(records[4], { id: 'id4', ix: 'logs', ts: { bad: 1 }, doc: { t: { bad: 1 } } }, 'a bad time is passed on for validation to refuse');
});

test('a dead letter of a wrapped document keeps its record, as the decode worker built it; one that did not parse keeps its text', () => {
  const { body, frames } = framed(DOCS);
  const raws = rawRecordsAt({ body, format: 'ndjson', frames, envelope: { env: ENV, nowMs: NOW } }, [4, 1, 0]);
  const text = raws.map((r) => Buffer.from(r).toString('utf8'));
  assert.deepEqual(JSON.parse(text[0] as string), { id: 'id4', ix: 'logs', ts: { bad: 1 }, doc: { t: { bad: 1 } } });
  assert.equal(text[1], '{"m":');
  assert.deepEqual(JSON.parse(text[2] as string), { id: 'id0', ix: 'logs', ts: '2026-01-01T00:00:00Z', doc: { t: '2026-01-01T00:00:00Z', m: 'a' } });
});
