/**
 * A bank in-process (the Jepsen bank test's shape, without processes):
 * eight accounts on eight shards, writers moving money between them in
 * atomic batches `{A, -x}, {B, +x}` through every node, readers summing
 * every account at one snapshot, and a nemesis dropping PREPARE and COMMIT
 * replies, partitioning nodes and taking "etcd" away. Every snapshot must
 * sum to the seed exactly; at the end every transfer has both legs or
 * neither, and every acknowledged one both. The process test does the
 * same with SIGKILL and a real etcd.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFields } from '../../../src/core/codec/fields-codec.ts';
import { readStoredValue } from '../../../src/core/codec/record-batch-v1.ts';
import { isSluiceError } from '../../../src/core/errors.ts';
import { prng } from '../../support/prng.ts';
import { InProcessCluster, waitUntil } from '../../support/in-process-cluster.ts';

const ACCOUNTS = 8;
const SEED = 1_000;
const LOAD_MS = 5_000;
const LOAD_MS_MAX = 30_000;
/** Snapshots that must have been read and summed. */
const SNAPSHOTS_MIN = 8;

interface Leg {
  readonly account: string;
  readonly amount: number;
  readonly ts: number;
}

test('bank: snapshot sums stay exact and transfers stay whole under dropped replies, partitions and an etcd outage', async (t) => {
  const cluster = await InProcessCluster.start(t, { config: { txCommitDeadlineMs: 800, txResolveAfterMs: 1_400, txReadWaitMs: 4_000 } });
  await cluster.waitAllAlive();
  for (const n of cluster.nodes) n.resolver.start();
  cluster.node('n1').sweeper.start();
  const accounts = cluster.keysOfShards(ACCOUNTS, 'acct-');
  const ids = ['n1', 'n2', 'n3'];
  await cluster.write('n1', accounts, { atomic: true, values: accounts.map(() => SEED), tsMs: 1_000 });
  const random = prng(12);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;

  /** Every leg of every account at snapshot `s` read through `via` at quorum. */
  const readAll = async (via: string, s: bigint): Promise<Leg[]> => {
    const pages = await Promise.all(accounts.map((account) => cluster.node(via).coordinator.queryRange(cluster.entry, { key: account, limit: 10_000, asOf: s })));
    return pages.flatMap((page, i) =>
      page.records.map((r) => {
        const [, ts, v] = decodeFields(readStoredValue(r.value).fields) as [string, number, number];
        return { account: accounts[i] as string, amount: Number(v), ts };
      }),
    );
  };

  const acked = new Set<number>();
  const refused = new Set<number>();
  let transfers = 0;
  let snapshots = 0;
  let stop = false;
  const writer = async (): Promise<void> => {
    while (!stop) {
      const [a, b] = [pick(accounts), pick(accounts)];
      if (a === b) continue;
      const ts = 10_000 + transfers++ * 10;
      const x = 1 + Math.floor(random() * 50);
      try {
        await cluster.write(pick(ids), [a, b], { atomic: true, values: [-x, x], tsMs: ts });
        acked.add(ts);
      } catch (err) {
        assert.ok(isSluiceError(err, 'NO_QUORUM', 'TX_ABORTED', 'TX_IN_DOUBT', 'OVERLOADED'), `an expected refusal, got ${String(err)}`);
        if (!isSluiceError(err, 'TX_IN_DOUBT')) refused.add(ts);
      }
    }
  };
  const reader = async (): Promise<void> => {
    while (!stop) {
      const via = pick(ids);
      const s = cluster.node(via).coordinator.snapshot();
      try {
        const legs = await readAll(via, s);
        const sum = legs.reduce((total, l) => total + l.amount, 0);
        if (sum !== ACCOUNTS * SEED && process.env['BANK_DEBUG'] !== undefined) {
          const byTs = new Map<number, Leg[]>();
          for (const l of legs) if (l.ts >= 10_000) byTs.set(l.ts - (l.ts % 10), [...(byTs.get(l.ts - (l.ts % 10)) ?? []), l]);
          console.error('BROKEN', String(s), via, [...byTs].filter(([, ls]) => ls.length !== 2));
        }
        assert.equal(sum, ACCOUNTS * SEED, `snapshot ${s} through ${via} sums exactly`);
        snapshots++;
      } catch (err) {
        // A read may be refused (a partition, an undecided batch past the wait); it may never be wrong.
        if (err instanceof assert.AssertionError) throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const nemesis = async (): Promise<void> => {
    while (!stop) {
      const [a, b] = [pick(ids), pick(ids)];
      // etcd going away leaves every batch of the moment in doubt until the resolvers run: rarer than the rest.
      const fault = Math.floor(random() * 7);
      if (fault <= 1) cluster.faults.add({ action: 'drop-reply', from: a, methods: ['Prepare'], times: 2 });
      else if (fault <= 3) cluster.faults.add({ action: 'drop-request', from: a, methods: ['Commit'], times: 2 });
      else if (fault <= 5 && a !== b) cluster.faults.partition(a, b, { oneWay: random() < 0.5 });
      else if (fault === 6) cluster.decisions.down = true;
      await new Promise((resolve) => setTimeout(resolve, 300));
      cluster.faults.heal();
      cluster.decisions.down = false;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };
  const running = [writer(), writer(), writer(), reader(), reader(), nemesis()];
  // Any loop that fails stops the others, so a failure ends the test instead of hanging it.
  const failed = Promise.race(running.map((r) => r.then(() => new Promise<never>(() => undefined))));
  try {
    // At least LOAD_MS; longer (up to LOAD_MS_MAX) until enough snapshots were checked: on a loaded
    // machine most snapshot reads wait out undecided batches, and a few checks prove little.
    const enough = async (): Promise<void> => {
      const started = Date.now();
      await new Promise((resolve) => setTimeout(resolve, LOAD_MS));
      while ((snapshots < SNAPSHOTS_MIN || acked.size <= 20) && Date.now() - started < LOAD_MS_MAX) await new Promise((resolve) => setTimeout(resolve, 100));
    };
    await Promise.race([enough(), failed]);
  } finally {
    stop = true;
    await Promise.allSettled(running);
  }
  await Promise.all(running);
  cluster.faults.heal();
  cluster.decisions.down = false;

  // Healed: every batch resolved, every decision concluded, every replica equal.
  await waitUntil(() => cluster.nodes.every((n) => n.store.pendingTxs().length === 0), 15_000, 'nothing pending');
  await waitUntil(() => cluster.decisions.decisions.size === 0, 15_000, 'every decision concluded');
  const final = await readAll('n2', cluster.node('n2').coordinator.snapshot());
  assert.equal(final.reduce((sum, l) => sum + l.amount, 0), ACCOUNTS * SEED);
  const byTs = new Map<number, Leg[]>();
  for (const l of final) if (l.ts >= 10_000) byTs.set(l.ts - (l.ts % 10), [...(byTs.get(l.ts - (l.ts % 10)) ?? []), l]);
  for (const [ts, legs] of byTs) assert.equal(legs.length, 2, `transfer ${ts} has both legs`);
  for (const ts of acked) assert.ok(byTs.has(ts), `acknowledged transfer ${ts} is stored`);
  for (const ts of refused) assert.ok(!byTs.has(ts), `refused transfer ${ts} is not stored`);
  assert.ok(acked.size > 20, `${acked.size} transfers acknowledged`);
  assert.ok(snapshots >= SNAPSHOTS_MIN, `${snapshots} snapshots summed`);
  t.diagnostic(`${transfers} transfers tried, ${acked.size} acknowledged, ${refused.size} refused, ${snapshots} snapshots checked`);
});
