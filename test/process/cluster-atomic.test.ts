/**
 * Atomic batches across shards through the API of a real cluster (3 node
 * processes, RF=3, a real etcd), and on a single node (docs
 * atomic-batches §3, §5, §8):
 *
 * - the plain API: 200 with a tx_id, GET /v1/tx/{id}, the export as a
 *   snapshot (its `sluice-as-of` header reused by a range read, which then
 *   misses a later write), and every refusal (on_invalid=skip, over
 *   --tx-records-max, as_of on a primary-key table, an unknown tx id); a
 *   batch inside one shard runs no two-phase commit (no tx_id);
 * - a zombie coordinator, frozen (SIGSTOP) right before it records its
 *   commit in etcd, past --tx-resolve-after-ms: the participants fence and
 *   abort; once it resumes, its late commit is refused by etcd (the fence,
 *   or its lost registration), its client gets 409 TX_ABORTED and nothing
 *   of the batch is visible anywhere;
 * - etcd paused while the coordinator decides: 504 TX_IN_DOUBT naming the
 *   batch, while plain writes and reads go on within the lease; once etcd
 *   resumes every node answers GET /v1/tx/{id} (a documented status, never
 *   an error) and keeps taking writes, and after the resolution every
 *   replica agrees with it. It runs last, so that no other scenario meets
 *   a cluster still recovering from it;
 * - a single node: atomic=true is one WAL frame, no tx_id, and no batch is
 *   known by id.
 *
 * Each cluster scenario ends with nothing pending on any node and no
 * decision left in etcd.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { TX_PREFIX, keysOnDistinctShards, ledgerTable, readKeys, txStatus, type LedgerRec, type StatusTx } from './atomic-tools.ts';
import { Etcd3 } from 'etcd3';
import { decodeLocalToken } from '../../src/cluster/coordinator/read-token.ts';
import { TestCluster, waitUntil } from './cluster.ts';
import { NodeProcess, http, sleep, tempDir } from './harness.ts';
import { PAYMENTS } from './tables.ts';

const NODES = 3;
const COMMIT_DEADLINE_MS = 2_000;
/** The least config.ts accepts: 2 × replica timeout (1500, FAST_CLUSTER_FLAGS) + commit deadline. */
const RESOLVE_AFTER_MS = 2 * 1_500 + COMMIT_DEADLINE_MS;
/** The coordinator gives etcd this long per call: a decision unanswered twice (commit, then re-read) is 504. */
const DECISION_TIMEOUT_MS = 1_000;
const TX_RECORDS_MAX = 50;
const TX_FLAGS = [
  '--tx-commit-deadline-ms', String(COMMIT_DEADLINE_MS),
  '--tx-resolve-after-ms', String(RESOLVE_AFTER_MS),
  '--tx-decision-timeout-ms', String(DECISION_TIMEOUT_MS),
  '--tx-read-wait-ms', '5000',
  '--tx-sweep-interval-ms', '500',
  '--tx-done-retention-ms', '600000',
  '--tx-records-max', String(TX_RECORDS_MAX),
];
/** Lease TTL of FAST_CLUSTER_FLAGS less its keep-alive period: how long a node keeps acknowledging writes without etcd. */
const LEASE_MARGIN_MS = 6_000 - 1_000;
/** Nothing pending and no decision in etcd within this (docs §8). */
const CLEAN_MS = 90_000;




/** `perKey` records on each of `keys`, tagged `<tag>-<key index>-<i>`. */
function batchOf(tag: string, keys: readonly string[], perKey: number): LedgerRec[] {
  return keys.flatMap((account, k) => Array.from({ length: perKey }, (_, i) => ({ account, ts: 1_700_000_000_000 + i * 1_000, tag: `${tag}-${k}-${i}`, amount: `${k + 1}${i}.25` })));
}

/** POSTs records as NDJSON. */
function post(url: string, table: string, records: readonly LedgerRec[], query = 'atomic=true'): ReturnType<typeof http> {
  return http(`${url}/v1/tables/${table}/records?${query}`, { method: 'POST', body: records.map((r) => JSON.stringify(r)).join('\n'), headers: { 'content-type': 'application/x-ndjson' } });
}


/** tag → amount of `records`. */
function tagsOf(records: readonly LedgerRec[]): Record<string, string> {
  return Object.fromEntries(records.map((r) => [r.tag, r.amount]));
}



/** Waits until no node has a batch pending and etcd holds no decision. */
async function waitClean(cluster: TestCluster, etcd: Etcd3, what: string): Promise<number> {
  const started = Date.now();
  let last: unknown;
  await waitUntil(
    async () => {
      const pending: number[] = [];
      for (let i = 0; i < NODES; i++) pending.push(((await cluster.status(i)) as unknown as StatusTx).transactions.pending);
      const keys = await etcd.getAll().prefix(TX_PREFIX).keys();
      last = { pending, keys };
      return pending.every((p) => p === 0) && keys.length === 0;
    },
    CLEAN_MS,
    `${what}: nothing pending and no decision in etcd`,
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}; last ${JSON.stringify(last)}`);
  });
  return Date.now() - started;
}

/** The scheduler state of a process (`T` while stopped), from /proc. */
function procState(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '';
}

test('atomic batches in a 3-node cluster: the API, a zombie coordinator, etcd paused while deciding', { timeout: 300_000 }, async (t) => {
  const cluster = await TestCluster.start(t, { size: NODES, args: TX_FLAGS });
  const etcd = new Etcd3({ hosts: cluster.etcd.clientUrl, dialTimeout: 5_000 });
  t.after(() => etcd.close());

  await t.test('the API: tx_id, GET /v1/tx, snapshot export and as_of, refusals, one shard without 2PC', async (st) => {
    await cluster.createTable(ledgerTable('api'));
    const keys = keysOnDistinctShards('api', 4);
    const records = batchOf('api', keys, 2);
    const w = await post(cluster.url(0), 'api', records);
    assert.equal(w.status, 200, w.text);
    assert.equal(w.body.written, records.length);
    assert.equal(w.body.ids.length, records.length);
    const txId = w.body.tx_id as string;
    assert.match(String(txId), /^[0-9]+$/, `a batch across shards answers with its tx_id: ${w.text}`);
    assert.equal(typeof w.body.token, 'string');
    for (let i = 0; i < NODES; i++) assert.equal(await txStatus(cluster.url(i), txId), 'committed', `GET /v1/tx/${txId} on node ${i}`);
    for (let i = 0; i < NODES; i++) {
      for (const [j, id] of (w.body.ids as string[]).entries()) {
        const one = await http(`${cluster.url(i)}/v1/tables/api/records/${id}?consistency=all`);
        assert.equal(one.status, 200, one.text);
        assert.equal(one.body.tag, records[j]?.tag);
        assert.equal(one.body.amount, records[j]?.amount);
      }
    }

    // The export is a snapshot by default; its version, reused, reads the same cut.
    const exported = await http(`${cluster.url(1)}/v1/tables/api/export`);
    assert.equal(exported.status, 200, exported.text);
    const asOf = exported.headers.get('sluice-as-of');
    assert.match(String(asOf), /^[0-9]+$/, 'the export names its snapshot');
    const lines = exported.text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as LedgerRec & { _id: string });
    assert.deepEqual(tagsOf(lines), tagsOf(records), 'the export holds the batch');
    assert.deepEqual(lines.map((l) => l._id).sort(), [...(w.body.ids as string[])].sort());
    // A write after the snapshot, through the node that served it (its clock moved past the snapshot).
    const later = await post(cluster.url(1), 'api', [{ account: keys[0] as string, ts: 1_700_000_100_000, tag: 'api-later', amount: '9.99' }], 'atomic=false');
    assert.equal(later.status, 200, later.text);
    const at = await readKeys(cluster.url(2), 'api', keys, `as_of=${asOf}`);
    assert.deepEqual(at, tagsOf(records), `a range read as_of the export's snapshot reads the same records`);
    const res = await http(`${cluster.url(2)}/v1/tables/api/records?key=${keys[0]}&as_of=${asOf}`);
    assert.equal(res.headers.get('sluice-as-of'), asOf);
    assert.equal(res.body.as_of, asOf);
    const now = await readKeys(cluster.url(2), 'api', keys, 'consistency=all');
    assert.deepEqual(now, { ...tagsOf(records), 'api-later': '9.99' }, 'without as_of the later write is there');

    // Refusals.
    const skip = await post(cluster.url(0), 'api', records, 'atomic=true&on_invalid=skip');
    assert.equal(skip.status, 400, skip.text);
    assert.equal(skip.body.error.code, 'INVALID_ARGUMENT');
    const big = batchOf('big', keys, Math.ceil((TX_RECORDS_MAX + 1) / keys.length));
    assert.ok(big.length > TX_RECORDS_MAX);
    const tooLarge = await post(cluster.url(2), 'api', big);
    assert.equal(tooLarge.status, 413, tooLarge.text);
    assert.equal(tooLarge.body.error.code, 'TX_TOO_LARGE');
    const plainBig = await post(cluster.url(2), 'api', big, 'atomic=false');
    assert.equal(plainBig.status, 200, `the same batch without atomic is within every other limit: ${plainBig.text}`);
    await cluster.createTable({ ...PAYMENTS, replicationFactor: 3 });
    const pk = await http(`${cluster.url(0)}/v1/tables/payments/records?key=a&as_of=now`);
    assert.equal(pk.status, 400, pk.text);
    assert.equal(pk.body.error.code, 'AS_OF_UNSUPPORTED');
    const pkPlain = await http(`${cluster.url(0)}/v1/tables/payments/records?key=a`);
    assert.equal(pkPlain.status, 200, pkPlain.text);
    for (let i = 0; i < NODES; i++) assert.equal(await txStatus(cluster.url(i), '123'), 'unknown', `node ${i} knows no batch 123`);

    // Inside one shard: one WAL frame per replica, no two-phase commit, no tx_id.
    const single = batchOf('one', [keys[1] as string], 5);
    const one = await post(cluster.url(1), 'api', single);
    assert.equal(one.status, 200, one.text);
    assert.equal(one.body.written, single.length);
    assert.equal('tx_id' in one.body, false, `a single-shard batch has no tx_id: ${one.text}`);
    const oneRead = await readKeys(cluster.url(0), 'api', [keys[1] as string], 'consistency=all');
    assert.ok(typeof oneRead !== 'string', oneRead as string);
    for (const r of single) assert.equal(oneRead[r.tag], r.amount);
    st.diagnostic(`clean after ${await waitClean(cluster, etcd, 'the API scenario')} ms`);
  });

  await t.test('a zombie coordinator frozen past --tx-resolve-after-ms gets 409 TX_ABORTED; nothing is visible', async (st) => {
    const zombie = 2;
    await cluster.kill(zombie);
    // Frozen after its deadline check, right before it writes the commit to etcd: resumed, it tries to commit late.
    await cluster.startNode(zombie, TX_FLAGS, { SLUICE_FAILPOINT: 'coord.before-decision=stop' });
    await cluster.waitConverged();
    await cluster.createTable(ledgerTable('zombie'));
    const keys = keysOnDistinctShards('zombie', 4);
    const records = batchOf('zombie', keys, 2);
    const proc = cluster.node(zombie);
    const answer = post(cluster.url(zombie), 'zombie', records);
    // Awaited once the coordinator resumes; a connection error before that fails the test there.
    answer.catch(() => undefined);
    try {
      await waitUntil(async () => proc.stderr.includes('failpoint coord.before-decision: SIGSTOP') && procState(proc.pid) === 'T', 20_000, 'the coordinator froze before its decision');
      const frozenAt = Date.now();
      // The participants resolve it without the coordinator: each fences or finds the fence, and aborts.
      await waitUntil(
        async () => {
          for (const i of [0, 1]) if (((await cluster.status(i)) as unknown as StatusTx).transactions.pending > 0) return false;
          return true;
        },
        RESOLVE_AFTER_MS + 2 * 1_000 + 10_000,
        'the other participants resolved the batch',
      );
      const fences = await etcd.getAll().prefix(TX_PREFIX).strings();
      assert.deepEqual(Object.values(fences).map((v) => (JSON.parse(v) as { s: string }).s), ['abort'], `one decision, an abort fence: ${JSON.stringify(fences)}`);
      assert.ok(Date.now() - frozenAt >= RESOLVE_AFTER_MS - 1_000, 'the participants waited --tx-resolve-after-ms');
      assert.equal(procState(proc.pid), 'T', 'the coordinator is still frozen');
    } finally {
      process.kill(proc.pid, 'SIGCONT');
    }
    const res = await answer;
    assert.equal(res.status, 409, res.text);
    assert.equal(res.body.error.code, 'TX_ABORTED');
    const txId = res.body.error.tx_id as string;
    assert.match(String(txId), /^[0-9]+$/, `TX_ABORTED names the batch: ${res.text}`);
    // Refused by etcd (the participants' fence, or its lost registration), not by its own deadline check.
    assert.match(res.body.error.message, /fenced/, res.text);

    await cluster.waitConverged();
    const cleanMs = await waitClean(cluster, etcd, 'the zombie batch');
    const own = await Promise.all(Array.from({ length: NODES }, (_, i) => readKeys(cluster.url(i), 'zombie', keys, 'consistency=one')));
    for (let i = 0; i < NODES; i++) {
      assert.equal(await txStatus(cluster.url(i), txId), 'aborted', `GET /v1/tx/${txId} on node ${i}`);
      assert.deepEqual(own[i], {}, `node ${i}'s own replica shows nothing of the batch`);
      assert.deepEqual(await readKeys(cluster.url(i), 'zombie', keys, 'consistency=all'), {}, `node ${i} at consistency=all`);
      const exported = await http(`${cluster.url(i)}/v1/tables/zombie/export`);
      assert.equal(exported.status, 200, exported.text);
      assert.equal(exported.text.trim(), '', `node ${i}'s export is empty`);
    }
    // The zombie serves again: a retry of the same batch commits.
    const retry = await post(cluster.url(zombie), 'zombie', records);
    assert.equal(retry.status, 200, retry.text);
    assert.deepEqual(await readKeys(cluster.url(0), 'zombie', keys, 'consistency=all'), tagsOf(records));
    st.diagnostic(`409 after SIGCONT: ${res.body.error.message}; clean ${cleanMs} ms after`);
  });

  await t.test('etcd paused while the coordinator decides: 504 TX_IN_DOUBT, plain writes and reads go on, GET /v1/tx answers and replicas agree after', async (st) => {
    await cluster.createTable(ledgerTable('paused'));
    await cluster.waitConverged();
    const keys = keysOnDistinctShards('paused', 4);
    const records = batchOf('paused', keys, 2);
    const etcdProc = cluster.etcd.child;
    const etcdPid = etcdProc.pid ?? -1;
    let pausedMs: number;
    let inDoubt: Awaited<ReturnType<typeof http>>;
    let plain: Awaited<ReturnType<typeof http>>;
    let read: Record<string, string> | string;
    assert.ok(etcdProc.kill('SIGSTOP'));
    const pausedAt = Date.now();
    try {
      // kill() only queues the signal: write once etcd is frozen, or it may still decide.
      await waitUntil(async () => procState(etcdPid) === 'T', 5_000, 'etcd stopped');
      [inDoubt, plain, read] = await Promise.all([
        post(cluster.url(0), 'paused', records),
        post(cluster.url(1), 'paused', [{ account: 'paused-plain', ts: 1_700_000_000_000, tag: 'paused-plain', amount: '1.50' }], 'atomic=false'),
        readKeys(cluster.url(2), 'paused', keys, 'consistency=quorum'),
      ]);
      pausedMs = Date.now() - pausedAt;
    } finally {
      etcdProc.kill('SIGCONT');
    }
    const resumedAt = Date.now();
    assert.equal(inDoubt.status, 504, inDoubt.text);
    assert.equal(inDoubt.body.error.code, 'TX_IN_DOUBT');
    const txId = inDoubt.body.error.tx_id as string;
    assert.match(String(txId), /^[0-9]+$/, `TX_IN_DOUBT names the batch: ${inDoubt.text}`);
    assert.ok(pausedMs < LEASE_MARGIN_MS, `etcd was paused ${pausedMs} ms, past the nodes' lease margin: the test itself is too slow`);
    assert.equal(plain.status, 200, `a plain write within the lease goes on without etcd: ${plain.text}`);
    assert.deepEqual(read, {}, 'a read goes on without etcd (and sees nothing of the undecided batch)');

    // etcd is back: what a client told TX_IN_DOUBT does next is ask GET /v1/tx/{id}, on any node, until
    // it is decided. Every answer must be one of the documented statuses, never an error, and a
    // decided batch stays decided; the coordinator takes plain writes meanwhile.
    const decided = new Map<number, string>();
    let polls = 0;
    // Not waitUntil: it retries a check that throws, and a wrong answer here is the finding.
    for (const deadline = resumedAt + CLEAN_MS; decided.size < NODES; await sleep(250)) {
      assert.ok(Date.now() < deadline, `every node answers GET /v1/tx/${txId} with a decision within ${CLEAN_MS} ms; decided ${JSON.stringify([...decided])}`);
      polls++;
      for (let i = 0; i < NODES; i++) {
        const res = await http(`${cluster.url(i)}/v1/tx/${txId}`);
        // The node's log line of a failed request arrives a moment after the answer.
        if (res.status !== 200) await sleep(200);
        const failed = cluster.node(i).logs.filter((l) => l['msg'] === 'request failed').at(-1);
        assert.equal(res.status, 200, `GET /v1/tx/${txId} on node ${i} ${Date.now() - resumedAt} ms after etcd resumed: ${res.text}; the node logged: ${JSON.stringify(failed?.['err'])}`);
        const status = String(res.body.status);
        assert.ok(['unknown', 'committed', 'aborted'].includes(status), status);
        const before = decided.get(i);
        assert.ok(before === undefined || before === status, `node ${i} said ${before}, then ${status}`);
        if (status !== 'unknown') decided.set(i, status);
      }
      const w = await post(cluster.url(0), 'paused', [{ account: 'paused-after', ts: 1_700_000_000_000 + polls, tag: `paused-after-${polls}`, amount: '0.50' }], 'atomic=false');
      assert.equal(w.status, 200, `a plain write through the coordinator ${Date.now() - resumedAt} ms after etcd resumed: ${w.text}`);
    }
    const decidedMs = Date.now() - resumedAt;

    // After the resolution every replica shows what GET /v1/tx says.
    await cluster.waitConverged();
    const cleanMs = await waitClean(cluster, etcd, 'the in-doubt batch');
    const statuses: string[] = [];
    for (let i = 0; i < NODES; i++) statuses.push(await txStatus(cluster.url(i), txId));
    const status = statuses[0] as string;
    assert.ok(status === 'committed' || status === 'aborted', `GET /v1/tx/${txId}: ${statuses.join(', ')}`);
    assert.deepEqual(statuses, [status, status, status], 'every node answers the same');
    assert.deepEqual([...decided.values()], [status, status, status], 'and the same as while it was being resolved');
    const want = status === 'committed' ? tagsOf(records) : {};
    const own = await Promise.all(Array.from({ length: NODES }, (_, i) => readKeys(cluster.url(i), 'paused', keys, 'consistency=one')));
    for (let i = 0; i < NODES; i++) {
      assert.deepEqual(own[i], want, `node ${i}'s own replica shows ${status === 'committed' ? 'all' : 'none'} of the batch`);
      assert.deepEqual(await readKeys(cluster.url(i), 'paused', keys, 'consistency=all'), want, `node ${i} at consistency=all`);
      assert.deepEqual(await readKeys(cluster.url(i), 'paused', ['paused-plain'], 'consistency=all'), { 'paused-plain': '1.50' });
    }
    st.diagnostic(`etcd paused ${pausedMs} ms; the batch ${status}, decided on every node ${decidedMs} ms after etcd resumed (${polls} polls); clean ${cleanMs} ms after`);
  });
});

test('atomic batches on a single node: one WAL frame, no tx_id, no batch known by id', { timeout: 60_000 }, async (t) => {
  const node = await NodeProcess.start(t, { dataDir: tempDir(t) });
  const created = await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(ledgerTable('solo')) });
  assert.equal(created.status, 201, created.text);
  const keys = keysOnDistinctShards('solo', 4);
  const first = await post(node.url, 'solo', [{ account: 'solo-first', ts: 1_700_000_000_000, tag: 'solo-first', amount: '0.01' }], 'atomic=false');
  assert.equal(first.status, 200, first.text);
  const records = batchOf('solo', keys, 3);
  const w = await post(node.url, 'solo', records);
  assert.equal(w.status, 200, w.text);
  assert.equal(w.body.written, records.length);
  assert.equal(w.body.ids.length, records.length);
  assert.equal('tx_id' in w.body, false, `a single node runs no two-phase commit: ${w.text}`);
  assert.equal(decodeLocalToken(w.body.token as string), decodeLocalToken(first.body.token as string) + 1n, 'the atomic batch is the next WAL frame, one frame for all of it');
  assert.deepEqual(await readKeys(node.url, 'solo', keys, ''), tagsOf(records));
  const skip = await post(node.url, 'solo', records, 'atomic=true&on_invalid=skip');
  assert.equal(skip.status, 400, skip.text);
  assert.equal(skip.body.error.code, 'INVALID_ARGUMENT');
  assert.equal(await txStatus(node.url, '1'), 'unknown');
  const status = await http(`${node.url}/v1/cluster`);
  assert.equal(status.status, 200, status.text);
  assert.equal((status.body as StatusTx).transactions.pending, 0);
});
