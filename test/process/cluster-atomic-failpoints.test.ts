/**
 * Atomic batches across shards on a real cluster (3 node processes, RF=3,
 * a real etcd), killed at each step of the two-phase commit by a failpoint
 * (docs atomic-batches §5, §8). In each scenario one batch of 8 records on
 * 4 shards is written with atomic=true; the armed node SIGKILLs itself at
 * its step and is restarted without the failpoint. Then:
 *
 * - within --tx-resolve-after-ms + 5 s of the restart, every node shows all
 *   of the batch or none, on its own replica (consistency=one reads this
 *   node first) and merged from all three (consistency=all), as the step
 *   dictates, and GET /v1/tx/{id} on every node says the same;
 * - within 90 s no node has a batch pending and no decision is left under
 *   `sluice/tx/` in etcd; the verdict still holds, by id and by export too.
 *
 * The txid of a batch whose coordinator died unanswered is taken from the
 * decision etcd holds (a commit, or a resolver's abort fence), watched
 * from the test; a watched decision also tells which one came first.
 * One cluster runs the six scenarios in turn, each on its own table.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TX_PREFIX, keysOnDistinctShards, ledgerTable, readKeys, txStatus, type LedgerRec, type StatusTx } from './atomic-tools.ts';
import { Etcd3 } from 'etcd3';
import { TestCluster, waitUntil } from './cluster.ts';
import { http, type NodeProcess } from './harness.ts';

/** How long a read of all replicas answered 503 (a replica too slow just after a restart) is retried, ms. */
const ALL_READ_RETRY_MS = 10_000;

const NODES = 3;
const KEYS = 4;
const RECORDS_PER_KEY = 2;
const COMMIT_DEADLINE_MS = 2_000;
/** The least config.ts accepts: 2 × replica timeout (1500, FAST_CLUSTER_FLAGS) + commit deadline. */
const RESOLVE_AFTER_MS = 2 * 1_500 + COMMIT_DEADLINE_MS;
/** Every node must show the verdict this long after the restart (docs §8). */
const VERDICT_MS = RESOLVE_AFTER_MS + 5_000;
/** Nothing pending and no decision left in etcd within this (docs §8). */
const CLEAN_MS = 90_000;
/** A node armed at a step of the PREPARE or COMMIT dies this soon after the write. */
const DEATH_MS = 20_000;
/** Outcomes stay answerable (done markers, abort fences) long past the test. */
const TX_FLAGS = [
  '--tx-commit-deadline-ms', String(COMMIT_DEADLINE_MS),
  '--tx-resolve-after-ms', String(RESOLVE_AFTER_MS),
  '--tx-sweep-interval-ms', '500',
  '--tx-done-retention-ms', '600000',
];

/** One scenario: who coordinates, who is armed with what, and what must become of the batch. */
interface Scenario {
  readonly failpoint: string;
  /** The node the batch is sent to (its coordinator). */
  readonly via: number;
  /** Nodes and their SLUICE_FAILPOINT. */
  readonly armed: readonly (readonly [number, string])[];
  readonly expect: 'all' | 'none';
  /** True when the coordinator dies before answering. */
  readonly unanswered: boolean;
}

/**
 * Each coordinator failpoint on its own node, so the three are armed by one
 * restart. `resolver.after-fence` is armed on both participants that are not
 * the coordinator: which of them resolves first is drawn from the txid (the
 * resolver's rank), and the one that fences must be armed. It runs last: an
 * armed resolver that found the fence instead of writing it stays armed.
 */
const SCENARIOS: readonly Scenario[] = [
  { failpoint: 'coord.after-prepare-acks', via: 0, armed: [[0, 'coord.after-prepare-acks']], expect: 'none', unanswered: true },
  { failpoint: 'coord.after-decision', via: 1, armed: [[1, 'coord.after-decision']], expect: 'all', unanswered: true },
  { failpoint: 'coord.mid-commit', via: 2, armed: [[2, 'coord.mid-commit']], expect: 'all', unanswered: true },
  { failpoint: 'part.after-prepare-fsync', via: 1, armed: [[0, 'part.after-prepare-fsync']], expect: 'all', unanswered: false },
  { failpoint: 'part.before-commit-apply', via: 2, armed: [[1, 'part.before-commit-apply']], expect: 'all', unanswered: false },
  {
    failpoint: 'resolver.after-fence',
    via: 2,
    armed: [[2, 'coord.after-prepare-acks'], [0, 'resolver.after-fence'], [1, 'resolver.after-fence']],
    expect: 'none',
    unanswered: true,
  },
];



/** One written record, as the test knows it. */

/** What one node shows of the batch. */
interface NodeView {
  readonly status: string;
  /** tag → amount on this node's own replica (consistency=one asks this node first). */
  readonly own: Record<string, string> | string;
  /** tag → amount merged from every replica (consistency=all). */
  readonly all: Record<string, string> | string;
}



/** Waits until `proc` has exited, for at most `ms`; undefined when it has not. */
async function exited(proc: NodeProcess, ms: number): Promise<{ code: number | null; signal: string | null } | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([proc.waitExit(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Sends the batch, again while the coordinator refuses it with NO_QUORUM
 * before writing anything (a client's retry: on a loaded machine a node
 * just restarted may briefly suspect its peers); resolves with the answer
 * or the error of the last attempt.
 */
async function writeRetryingRefusals(url: string, body: string): Promise<{ res: Awaited<ReturnType<typeof http>> } | { err: unknown }> {
  for (let attempt = 1; ; attempt++) {
    const answer = await http(url, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } }).then(
      (res) => ({ res }),
      (err: unknown) => ({ err }),
    );
    const refused = 'res' in answer && answer.res.status === 503 && answer.res.body?.error?.code === 'NO_QUORUM';
    if (!refused || attempt === 5) return answer;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

function isDead(proc: NodeProcess): boolean {
  return proc.child.exitCode !== null || proc.child.signalCode !== null;
}

test('atomic batches across shards: a node killed at each step of the two-phase commit', { timeout: 300_000 }, async (t) => {
  const cluster = await TestCluster.start(t, { size: NODES, args: TX_FLAGS });
  const etcd = new Etcd3({ hosts: cluster.etcd.clientUrl, dialTimeout: 5_000 });
  t.after(() => etcd.close());
  // Every decision ever put, in order of arrival: txid → values.
  const decisions = new Map<string, { s: string; coord?: string }[]>();
  const watcher = await etcd.watch().prefix(TX_PREFIX).create();
  t.after(() => watcher.cancel());
  watcher.on('put', (kv) => {
    const txId = kv.key.toString('utf8').slice(TX_PREFIX.length);
    decisions.set(txId, [...(decisions.get(txId) ?? []), JSON.parse(kv.value.toString('utf8')) as { s: string; coord?: string }]);
  });
  /** The SLUICE_FAILPOINT each node runs with now. */
  const armedNow = new Map<number, string>();

  /** Restarts nodes armed with these failpoints, in parallel, and waits for the cluster. */
  const arm = async (specs: ReadonlyMap<number, string>): Promise<void> => {
    await Promise.all(
      [...specs].map(async ([i, spec]) => {
        await cluster.kill(i);
        await cluster.startNode(i, TX_FLAGS, { SLUICE_FAILPOINT: spec });
        armedNow.set(i, spec);
      }),
    );
    await cluster.waitConverged();
  };

  // The three coordinator failpoints each on their own node, armed at once.
  await arm(new Map(SCENARIOS.slice(0, 3).flatMap((s) => s.armed.map(([i, spec]) => [i, spec] as const))));

  for (const [n, s] of SCENARIOS.entries()) {
    await t.test(`${s.failpoint}: ${s.expect === 'all' ? 'every node shows the whole batch' : 'no node shows any of it'}`, async (st) => {
      const started = Date.now();
      const toArm = new Map(s.armed.filter(([i, spec]) => armedNow.get(i) !== spec));
      if (toArm.size > 0) await arm(toArm);
      const table = `fp${n}`;
      await cluster.createTable(ledgerTable(table), s.via);
      const keys = keysOnDistinctShards(`${table}-acct`, KEYS);
      const records: LedgerRec[] = keys.flatMap((account, k) =>
        Array.from({ length: RECORDS_PER_KEY }, (_, j) => ({ account, ts: 1_700_000_000_000 + j * 1_000, tag: `${table}-${k}-${j}`, amount: `${k + 1}${j}.${String(n).padStart(2, '0')}` })),
      );
      const procs = s.armed.map(([i]) => [i, cluster.node(i)] as const);
      // Every process that takes part, for their resolvers' logs.
      const everyProc = new Set(Array.from({ length: NODES }, (_, i) => cluster.node(i)));
      const before = new Set(decisions.keys());

      // The write: unanswered when the coordinator dies, 200 when a participant does.
      const body = records.map((r) => JSON.stringify(r)).join('\n');
      const answer = await writeRetryingRefusals(`${cluster.url(s.via)}/v1/tables/${table}/records?atomic=true`, body);
      let ids: string[] = [];
      let answeredTxId: string | undefined;
      if (s.unanswered) {
        assert.ok('err' in answer, `the coordinator died before answering, yet the client got ${'res' in answer ? `${answer.res.status} ${answer.res.text}` : ''}`);
      } else {
        assert.ok('res' in answer, `a participant's death must not fail the write: ${'err' in answer ? String(answer.err) : ''}`);
        assert.equal(answer.res.status, 200, answer.res.text);
        assert.equal(answer.res.body.written, records.length);
        ids = answer.res.body.ids as string[];
        assert.equal(ids.length, records.length);
        answeredTxId = answer.res.body.tx_id as string | undefined;
        assert.match(String(answeredTxId), /^[0-9]+$/, `a batch across shards answers with its tx_id: ${answer.res.text}`);
      }

      // The armed nodes die at their step: the PREPARE and COMMIT steps at once; a resolver's fence
      // after --tx-resolve-after-ms (at least one of the armed resolvers fences, the other may too).
      const died: number[] = [];
      const byStep = procs.filter(([i]) => !(armedNow.get(i) ?? '').startsWith('resolver.'));
      const byResolver = procs.filter(([i]) => (armedNow.get(i) ?? '').startsWith('resolver.'));
      for (const [i, proc] of byStep) {
        const exit = await exited(proc, DEATH_MS);
        assert.ok(exit !== undefined, `node ${i} armed with ${armedNow.get(i)} is still running`);
        assert.equal(exit.signal, 'SIGKILL', `node ${i} died by SIGKILL: ${proc.stderr.slice(-2_000)}`);
        assert.match(proc.stderr, new RegExp(`failpoint ${armedNow.get(i)}: SIGKILL`), `node ${i} died at its failpoint`);
        died.push(i);
      }
      if (byResolver.length > 0) {
        await waitUntil(async () => byResolver.some(([, p]) => isDead(p)), RESOLVE_AFTER_MS + DEATH_MS, 'an armed resolver fenced and died');
        // The other armed resolvers either die too (they found the fence in the same pass) or resolve.
        await waitUntil(
          async () => {
            for (const [i, p] of byResolver) if (!isDead(p) && (await cluster.status(i) as unknown as StatusTx).transactions.pending > 0) return false;
            return true;
          },
          DEATH_MS,
          'the other armed resolvers died or resolved',
        );
        for (const [i, p] of byResolver) {
          if (!isDead(p)) continue;
          assert.equal(p.child.signalCode, 'SIGKILL');
          assert.match(p.stderr, /failpoint resolver\.after-fence: SIGKILL/, `node ${i} died at its failpoint`);
          died.push(i);
        }
      }

      // Restart every node that died, without the failpoint.
      await Promise.all(died.map(async (i) => {
        await cluster.startNode(i, TX_FLAGS);
        armedNow.delete(i);
      }));
      const restartedAt = Date.now();
      for (let i = 0; i < NODES; i++) everyProc.add(cluster.node(i));

      // The batch's txid: the one new decision etcd received (a commit, or a resolver's abort fence).
      let txId = '';
      await waitUntil(async () => {
        const fresh = [...decisions.keys()].filter((k) => !before.has(k));
        if (fresh.length === 1) txId = fresh[0] as string;
        return fresh.length === 1;
      }, VERDICT_MS, 'a decision on the batch in etcd');
      if (answeredTxId !== undefined) assert.equal(txId, answeredTxId, 'the decision in etcd is the answered batch');
      const first = decisions.get(txId)?.[0];
      if (s.expect === 'all') assert.deepEqual({ s: first?.s, coord: first?.coord }, { s: 'commit', coord: `n${s.via + 1}` }, `the coordinator's commit was the first decision: ${JSON.stringify(decisions.get(txId))}`);
      else assert.equal(first?.s, 'abort', `a resolver's abort fence was the first decision (no commit before it): ${JSON.stringify(decisions.get(txId))}`);

      const want: NodeView = {
        status: s.expect === 'all' ? 'committed' : 'aborted',
        own: s.expect === 'all' ? Object.fromEntries(records.map((r) => [r.tag, r.amount])) : {},
        all: s.expect === 'all' ? Object.fromEntries(records.map((r) => [r.tag, r.amount])) : {},
      };
      const observe = async (): Promise<NodeView[]> => {
        // Every node's own replica first: a consistency=all read repairs the replicas that lack a record.
        const own = await Promise.all(Array.from({ length: NODES }, (_, i) => readKeys(cluster.url(i), table, keys, 'consistency=one')));
        const views: NodeView[] = [];
        for (let i = 0; i < NODES; i++) {
          const url = cluster.url(i);
          views.push({ status: await txStatus(url, txId), own: own[i] ?? 'missing', all: await readKeys(url, table, keys, 'consistency=all') });
        }
        return views;
      };

      // Verdict: within --tx-resolve-after-ms + 5 s of the restart.
      let views: NodeView[] = [];
      await waitUntil(async () => {
        views = await observe();
        return views.every((v) => JSON.stringify(v) === JSON.stringify(want));
      }, VERDICT_MS - (Date.now() - restartedAt), `every node shows ${s.expect} of the batch and says ${want.status} (last: ${JSON.stringify(views)})`).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}; last views ${JSON.stringify(views)}`);
      });
      const verdictMs = Date.now() - restartedAt;

      // Clean: nothing pending anywhere, no decision left in etcd.
      let left: { pending: number[]; keys: string[] } = { pending: [], keys: [] };
      await waitUntil(async () => {
        const pending: number[] = [];
        for (let i = 0; i < NODES; i++) pending.push((await cluster.status(i) as unknown as StatusTx).transactions.pending);
        left = { pending, keys: await etcd.getAll().prefix(TX_PREFIX).keys() };
        return pending.every((p) => p === 0) && left.keys.length === 0;
      }, CLEAN_MS - (Date.now() - restartedAt), 'nothing pending and no decision in etcd').catch((err: unknown) => {
        throw new Error(`${(err as Error).message}; last ${JSON.stringify(left)}`);
      });
      const cleanMs = Date.now() - restartedAt;

      // The verdict holds once the decision is gone (the done markers answer), by id and in exports too.
      const after = await observe();
      for (const [i, v] of after.entries()) assert.deepEqual(v, want, `node ${i} after the decision was concluded`);
      for (let i = 0; i < NODES; i++) {
        for (const id of ids) {
          // A read of all replicas just after a restart may time out on a busy machine: 503 is the
          // retryable answer (clients retry it), so it is retried for a while; any other answer counts.
          let res = await http(`${cluster.url(i)}/v1/tables/${table}/records/${id}?consistency=all`);
          for (const started = Date.now(); res.status === 503 && Date.now() - started < ALL_READ_RETRY_MS; ) {
            await new Promise((r) => setTimeout(r, 200));
            res = await http(`${cluster.url(i)}/v1/tables/${table}/records/${id}?consistency=all`);
          }
          assert.equal(res.status, 200, `record ${id} through node ${i}: ${res.text}`);
        }
        const exported = await http(`${cluster.url(i)}/v1/tables/${table}/export`);
        assert.equal(exported.status, 200, exported.text);
        const lines = exported.text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as LedgerRec & { _id: string });
        assert.deepEqual(Object.fromEntries(lines.map((r) => [r.tag, r.amount])), want.all, `node ${i}'s export (a snapshot)`);
        if (ids.length > 0) assert.deepEqual(lines.map((r) => r._id).sort(), [...ids].sort(), `node ${i} exports the acknowledged ids`);
      }
      // Read repair can fill a replica that applied the wrong outcome: every resolver's own outcome must agree.
      const resolved = [...everyProc].flatMap((p) => p.events('tx_resolved')).filter((e) => e['txId'] === txId);
      for (const e of resolved) assert.equal(e['outcome'], s.expect === 'all' ? 'commit' : 'abort', `a resolver applied ${JSON.stringify(e)}`);
      if (s.expect === 'none') assert.ok(resolved.length > 0, 'a resolver settled the batch its coordinator left');
      st.diagnostic(`${s.failpoint}: verdict ${verdictMs} ms and clean ${cleanMs} ms after the restart; scenario ${Date.now() - started} ms; died ${JSON.stringify(died)}; decisions ${JSON.stringify(decisions.get(txId)?.map((d) => d.s))}; resolutions ${JSON.stringify(resolved.map((e) => [e['outcome'], e['fenced']]))}`);
    });
  }
});

