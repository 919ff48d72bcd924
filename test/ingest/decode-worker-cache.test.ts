import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runDecode, schemaFor, schemasCached } from '../../src/ingest/decode-worker.ts';
import { parseTableDef } from '../../src/core/schema/parse-table-def.ts';

const def = parseTableDef({ name: 't', shardKey: 'k', fields: [{ name: 'k', type: 'string', required: true }] }, Date.now());
const ctx = (tableId: number) => ({ tableId, shards: 4, nowMs: Date.now(), keyBytesMax: 1024, errorDetailsMax: 10 });

test('the decode thread keeps at most 256 compiled schemas, the most recently used, and decodes with any table again', () => {
  const first = schemaFor(def, 1, 32);
  for (let tableId = 2; tableId <= 400; tableId++) {
    const answer = runDecode({ body: Buffer.from('{"k":"a"}\n'), format: 'ndjson', def, ctx: ctx(tableId), jsonDepthMax: 32 } as never);
    assert.ok(answer.ok && answer.encoded.count === 1);
    // Table 1 used all along stays; tables used once come and go.
    assert.equal(schemaFor(def, 1, 32), first);
  }
  assert.equal(schemasCached(), 256);
  const again = runDecode({ body: Buffer.from('{"k":"b"}\n'), format: 'ndjson', def, ctx: ctx(2), jsonDepthMax: 32 } as never);
  assert.ok(again.ok && again.encoded.count === 1, 'a dropped schema is compiled again');
  assert.equal(schemasCached(), 256);
});
