/**
 * A single node's read token names the LSN its write got. One past every
 * LSN the node acknowledged was never given by it (another node's token, a
 * data dir made anew, a made-up one): the read waited the whole read
 * barrier (--read-barrier-ms-max) for an LSN that will never come and
 * answered 503 READ_TIMEOUT (found in a review, 2026-12-08). It is a bad
 * token: 400 INVALID_ARGUMENT at once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeLocalToken, decodeLocalToken } from '../../../src/cluster/coordinator/read-token.ts';
import { RecordBatchBuilder } from '../../../src/core/codec/record-batch-v1.ts';
import { encodeFields } from '../../../src/core/codec/fields-codec.ts';
import { isSluiceError } from '../../../src/core/errors.ts';
import { shardOf } from '../../../src/core/murmur3.ts';
import { parseTableDef } from '../../../src/core/schema/parse-table-def.ts';
import { localNode } from '../../support/local-node.ts';

const SHARDS = 4;

test("a local token ahead of every LSN the node acknowledged is refused at once as INVALID_ARGUMENT; the write's own token reads", async (t) => {
  const { catalog, coordinator } = await localNode(t, SHARDS, 'sluice-token-ahead-');
  const entry = await catalog.create(parseTableDef({ name: 't', shardKey: 'k', fields: [{ name: 'k', type: 'string', required: true }] }, Date.now()), Date.now());
  const b = new RecordBatchBuilder(entry.id, 1, Date.now());
  b.add(shardOf('a', SHARDS), 'a', undefined, Date.now(), encodeFields(['a']));
  const ack = await coordinator.write(entry, b.finish(), 1, () => undefined);
  const id = ack.ids[0] as bigint;
  assert.equal((await coordinator.getById(entry, id, { token: ack.token }))?.id, id);
  const ahead = encodeLocalToken(decodeLocalToken(ack.token) + 1_000n);
  const refused = (err: unknown) => isSluiceError(err, 'INVALID_ARGUMENT') && /not a token returned by a write/.test(err.message);
  const started = Date.now();
  await assert.rejects(coordinator.getById(entry, id, { token: ahead }), refused);
  await assert.rejects(coordinator.queryRange(entry, { key: 'a', limit: 10, token: ahead }), refused);
  assert.ok(Date.now() - started < 1_000, `refused without waiting for the read barrier (${Date.now() - started} ms)`);
});
