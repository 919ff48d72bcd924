/**
 * RecordView on a node behind on a table's schema versions (a cluster node
 * whose etcd watch has not yet installed version N+1 while a record written
 * under N+1 is read through it): the read is retryable, and once the node
 * reads the cluster catalog again the record renders under the new version.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecordBatchBuilder, RecordBatchReader } from '../../src/core/codec/record-batch-v1.ts';
import { encodeFields } from '../../src/core/codec/fields-codec.ts';
import { isSluiceError } from '../../src/core/errors.ts';
import { evolveSchema } from '../../src/core/schema/evolve-schema.ts';
import { parseTableDef } from '../../src/core/schema/parse-table-def.ts';
import type { TableEntry } from '../../src/storage/catalog.ts';
import { RecordView, renderWithCurrentSchema } from '../../src/api/record-view.ts';
import type { ReadRecord } from '../../src/cluster/coordinator/coordinator.ts';

const v1 = parseTableDef({ name: 't', shardKey: 'k', fields: [{ name: 'k', type: 'string', required: true }] }, 0);
const v2 = evolveSchema(v1, { fields: [{ name: 'k', type: 'string', required: true }, { name: 'note', type: 'string' }] }, 0);
const behind: TableEntry = { id: 7, name: 't', createdAtMs: 0, versions: [v1] };
const caughtUp: TableEntry = { ...behind, versions: [v1, v2] };

/** One record stored under schema version 2, as a replica hands it back. */
function recordUnderV2(): ReadRecord {
  const b = new RecordBatchBuilder(7, 2, 1234);
  b.add(0, 'a', undefined, 0, encodeFields(['a', 'hello']));
  const reader = new RecordBatchReader(b.finish());
  assert.ok(reader.next());
  reader.id = 42n;
  return { id: 42n, value: Buffer.from(reader.value) };
}

test('a record of a schema version this node has not installed yet is NOT_READY (retryable), not INTERNAL', () => {
  const view = new RecordView();
  assert.throws(() => view.toObject(behind, recordUnderV2()), (err: unknown) => isSluiceError(err, 'NOT_READY') && err.canRetry);
  // The same record once the version is installed.
  assert.deepEqual(view.toObject(caughtUp, recordUnderV2()), { _id: '42', k: 'a', note: 'hello', _ingested_at: 1234 });
});

test('renderWithCurrentSchema reads the cluster catalog again once and renders under the version it finds', async () => {
  const view = new RecordView();
  let entry = behind;
  let refreshes = 0;
  const out = await renderWithCurrentSchema(
    () => entry,
    async () => {
      refreshes++;
      entry = caughtUp;
    },
    (e) => view.toObject(e, recordUnderV2()),
  );
  assert.equal(refreshes, 1);
  assert.deepEqual(out, { _id: '42', k: 'a', note: 'hello', _ingested_at: 1234 });
  // Still behind after the refresh: the retryable error reaches the client.
  entry = behind;
  await assert.rejects(renderWithCurrentSchema(() => behind, async () => {}, (e) => view.toObject(e, recordUnderV2())), (err: unknown) => isSluiceError(err, 'NOT_READY'));
});

test('an export started under version 1 shows a record rewritten under version 2 in its own shape (later)', () => {
  const view = new RecordView();
  assert.deepEqual(view.toObject(behind, recordUnderV2(), () => caughtUp), { _id: '42', k: 'a', _ingested_at: 1234 });
});
