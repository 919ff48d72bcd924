/**
 * The dedupe fence over a real store (WAL and index in a temp dir): a
 * request whose keys overlap a fresh request still in flight must not be
 * appended before it. Fresh keys are applied without a lookup, so a fresh
 * batch landing after an overlapping one that was already applied would
 * store its keys a second time. The case arises when an importer is killed
 * with its last request still being decoded on a loaded node and is then
 * run again: the rerun re-sends those rows.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Coordinator, WriteAck } from '../../src/cluster/coordinator/coordinator.ts';
import { decodeFields } from '../../src/core/codec/fields-codec.ts';
import { readStoredValue } from '../../src/core/codec/record-batch-v1.ts';
import { parseTableDef } from '../../src/core/schema/parse-table-def.ts';
import { Admission } from '../../src/ingest/admission.ts';
import { DecodePool } from '../../src/ingest/decode-pool.ts';
import { IngestPipeline, type WriteRequest } from '../../src/ingest/pipeline.ts';
import { TableRateLimiter } from '../../src/ingest/table-rate-limiter.ts';
import { localNode } from '../support/local-node.ts';

/** Rows `first..first+n-1` of one file as the importer sends them: `k` is the row number, the dedupe key names it too. */
function rows(first: number, n: number): Pick<WriteRequest, 'body' | 'dedupe' | 'onInvalid'> {
  const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ k: `row${first + i}` }));
  return { body: Buffer.from(lines.join('\n')), dedupe: { prefix: 'file:a.csv:', first, digits: 12 }, onInvalid: 'reject' };
}

test('a request overlapping a fresh one in flight is appended after it: every row is stored once', async (t) => {
  const { config, catalog, coordinator: local } = await localNode(t, 4, 'sluice-fence-order-');
  const entry = await catalog.create(parseTableDef({ name: 'm', shardKey: 'k', fields: [{ name: 'k', type: 'string', required: true }] }, Date.now()), Date.now());

  // The first fresh write is held before it reaches the store (a decode still running on a loaded node).
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let held = false;
  const order: string[] = [];
  const coordinator: Coordinator = Object.create(local, {
    write: {
      value: async (...args: Parameters<Coordinator['write']>): Promise<WriteAck> => {
        const fresh = args[4]?.freshKeys === true;
        if (fresh && !held) {
          held = true;
          await gate;
        }
        const ack = await local.write(...args);
        order.push(fresh ? 'fresh' : 'resolved');
        // Applied before anything else is appended: the overlapping batch lands in a build of its own.
        await local.getById(entry, ack.ids[0] as bigint, { token: ack.token });
        return ack;
      },
    },
  });
  const pool = new DecodePool({ threads: 0, workerBodyBytesMin: 1 << 30, workerHeapMbMax: 64 });
  t.after(() => pool.close());
  const admission = new Admission({ inFlightBytesMax: 1 << 20, inFlightRequestsMax: 16 });
  const pipeline = new IngestPipeline({ catalog, coordinator, pool, options: config, limiter: new TableRateLimiter({ share: () => 1, eventTimeAheadMsMax: config.eventTimeAheadMsMax }) });
  const write = (req: Pick<WriteRequest, 'body' | 'dedupe' | 'onInvalid'>) => pipeline.write({ table: 'm', format: 'ndjson', ...req, ticket: admission.tryAcquire(req.body.length)! });

  const first = write(rows(0, 100));
  while (!held) await new Promise((resolve) => setImmediate(resolve));
  // The rerun re-sends rows 50..149. Without the ordering it is written at once and the held batch lands after it.
  const rerun = write(rows(50, 100));
  const rerunDone = rerun.then(() => 'written' as const);
  const settled = await Promise.race([rerunDone, new Promise<'waiting'>((resolve) => setTimeout(() => resolve('waiting'), 300))]);
  open();
  await Promise.all([first, rerun]);
  assert.equal(settled, 'waiting', 'the rerun waited for the fresh batch it overlaps');
  assert.deepEqual(order, ['fresh', 'resolved']);

  const seen = new Map<string, number>();
  for await (const page of local.scanTable(entry)) for (const r of page) {
    const k = String(decodeFields(readStoredValue(r.value).fields)[0]);
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  const twice = [...seen].filter(([, n]) => n > 1).map(([k]) => k);
  assert.deepEqual(twice, [], 'no row stored twice');
  assert.equal(seen.size, 150);
});
