/**
 * The hint window on real processes (decision 58): a coordinator SIGKILLed
 * and restarted while it holds hints for a dead replica still expires them
 * by when they were written, not from its restart; the replica, back after
 * the window, gets none of them replayed, and `sluice cluster repair`
 * (anti-entropy; the background round is off in these tests) brings it the
 * records it missed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestCluster, waitUntil } from './cluster.ts';
import { http, sleep } from './harness.ts';
import { LEDGER } from './load.ts';

const WINDOW_MS = 16_000;

/** A counter's value in node `i`'s /metrics (0 when absent). */
async function counter(cluster: TestCluster, i: number, name: string): Promise<number> {
  const res = await http(`${cluster.url(i)}/metrics`);
  assert.equal(res.status, 200, res.text);
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(res.text);
  return m === null ? 0 : Number(m[1]);
}

test('hints expire by when they were written across a SIGKILL of the coordinator, are not replayed, and repair brings the replica back', { timeout: 180_000 }, async (t) => {
  const cluster = await TestCluster.start(t, { args: ['--hint-window-ms', String(WINDOW_MS)] });
  await cluster.createTable({ ...LEDGER, replicationFactor: 3 });
  // n3 holds records before it dies, so at its restart it does not copy its shards as a node with an empty index does.
  for (let i = 0; i < 5; i++) {
    const w = await http(`${cluster.url(0)}/v1/tables/ledger/records?consistency=all`, { method: 'POST', body: JSON.stringify({ account: `before-${i}`, ts: 1_600_000_000_000 + i, tag: `b-${i}`, amount: '1.00', n: i }) });
    assert.equal(w.status, 200, w.text);
  }
  await cluster.kill(2);
  await cluster.waitPeerState(0, 2, 'suspect');

  const writtenAtMs = Date.now();
  const ids: string[] = [];
  for (let i = 0; i < 20; i++) {
    const rec = { account: `acc-${i}`, ts: 1_700_000_000_000 + i, tag: `t-${i}`, amount: '1.00', n: i };
    const w = await http(`${cluster.url(0)}/v1/tables/ledger/records?consistency=quorum`, { method: 'POST', body: JSON.stringify(rec) });
    assert.equal(w.status, 200, w.text);
    ids.push(...(w.body.ids as string[]));
  }
  assert.ok((await cluster.status(0)).hintsPending > 0, 'n1 holds hints for n3');

  // The coordinator dies and comes back within the window: its hints are on disk, their times with them.
  await cluster.kill(0);
  await cluster.startNode(0);
  const restartedAtMs = Date.now();
  assert.ok(restartedAtMs - writtenAtMs < WINDOW_MS / 2, `restarted ${restartedAtMs - writtenAtMs} ms after the writes (the test needs it early)`);
  assert.ok((await cluster.status(0)).hintsPending > 0, 'the hints survived the SIGKILL');

  // Past the window from the writes, well inside it from the restart: expired while n3 is still down.
  await sleep(writtenAtMs + WINDOW_MS + 1_500 - Date.now());
  await waitUntil(async () => (await cluster.status(0)).hintsPending === 0, Math.max(1_000, restartedAtMs + WINDOW_MS - 1_000 - Date.now()), 'n1 expired the hints by their write time, before a window from its restart');
  assert.ok((await counter(cluster, 0, 'sluice_hints_expired_total')) >= 1, 'sluice_hints_expired_total counts them');

  await cluster.startNode(2);
  await cluster.waitConverged();
  await sleep(1_000); // several replay ticks with n3 alive
  assert.equal(await counter(cluster, 0, 'sluice_hints_replayed_total'), 0, 'no expired hint was replayed');

  const repaired = await http(`${cluster.url(2)}/v1/cluster/repair`, { method: 'POST' });
  assert.equal(repaired.status, 200, repaired.text);
  assert.ok((repaired.body as { pulled: number }).pulled >= ids.length, `repair pulled what n3 missed: ${repaired.text}`);
  const exported = await http(`${cluster.url(2)}/v1/tables/ledger/export?consistency=one`);
  assert.equal(exported.status, 200, exported.text);
  const held = new Set(exported.text.trim().split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { _id: string })._id));
  for (const id of ids) assert.ok(held.has(id), `n3 lacks ${id} after repair`);
});
