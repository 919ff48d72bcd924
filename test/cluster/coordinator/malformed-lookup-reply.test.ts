/**
 * A peer whose LookupPks reply holds an id or version that is not a
 * decimal (a bug, or a peer of another version). The reply was checked as
 * strings only, and the coordinator's BigInt() threw a plain SyntaxError
 * out of a read by id or a write (found in a review, 2026-12-08). The
 * message layer refuses it as REPLICA_PROTOCOL, so that peer counts as not
 * answering: the read and the write go on with the others.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessCluster, type TestNode } from '../../support/in-process-cluster.ts';
import { RecordBatchBuilder, RecordBatchReader, readStoredValue } from '../../../src/core/codec/record-batch-v1.ts';
import { decodeFields, encodeFields } from '../../../src/core/codec/fields-codec.ts';
import { hlcFromParts } from '../../../src/core/hlc.ts';
import { shardOf } from '../../../src/core/murmur3.ts';
import { parseTableDef } from '../../../src/core/schema/parse-table-def.ts';
import type { ReplicaHandlers } from '../../../src/cluster/transport/replica-transport.ts';

test('a LookupPks reply with an id that is not a decimal counts as that peer not answering: a read by id and an upsert still answer', async (t) => {
  const cluster = await InProcessCluster.start(t);
  await cluster.waitAllAlive();
  const def = parseTableDef(
    { name: 'pk', shardKey: 'k', timeField: 'ts', primaryKey: 'p', replicationFactor: 3, fields: [{ name: 'k', type: 'string', required: true }, { name: 'ts', type: 'timestamp', required: true }, { name: 'p', type: 'string', required: true }, { name: 'v', type: 'int' }] },
    Date.now(),
  );
  const [n1, ...rest] = cluster.nodes as [TestNode, ...TestNode[]];
  const entry = await n1.catalog.create(def, Date.now());
  for (const n of rest) await n.catalog.install(entry);
  const key = 'dev-1';
  const ts = Date.UTC(2026, 0, 1);
  const batch = (v: number): Buffer => {
    const b = new RecordBatchBuilder(entry.id, 1, Date.now());
    b.add(shardOf(key, cluster.shards), key, 'P1', ts, encodeFields([key, ts, 'P1', v]));
    return Buffer.from(b.finish());
  };
  const vOf = (value: Uint8Array): unknown => decodeFields(readStoredValue(value).fields)[3];

  // n2 answers every primary-key lookup with an id that is not a number (the reply is shaped as before: strings).
  const network = cluster.network as unknown as { nodes: Map<string, ReplicaHandlers> };
  const n2 = network.nodes.get('n2') as ReplicaHandlers;
  cluster.network.register('n2', { ...n2, LookupPks: async ({ pks }) => ({ entries: pks.map(() => ['not-an-id', '1']) }) });

  // A record only n3 holds: a read by id through n3 looks its key up on n1 and n2, which answered without it.
  const id = 5_000_005n;
  const stamped = batch(1);
  const r = new RecordBatchReader(stamped);
  r.next();
  r.id = id;
  r.version = hlcFromParts(Date.now(), 0);
  await cluster.node('n1').transport.call('n3', 'Write', { batch: stamped }, 5_000);
  const got = await cluster.node('n3').coordinator.getById(entry, id, { consistency: 'quorum' });
  assert.equal(got === undefined ? undefined : vOf(got.value), 1, 'the record is answered; n2 counts as not holding a newer one');

  // An upsert of the key through n1 looks it up on every replica; n2's reply is refused and a quorum answers.
  const written = await n1.coordinator.write(entry, batch(2), 1, () => undefined, { consistency: 'quorum' });
  assert.deepEqual(written.ids, [id], 'the upsert keeps the id n1 and n3 hold');
});
