/**
 * (a) Concurrent writers, SIGKILL mid-load, restart: every acknowledged
 * record reads back identical, no id twice, nothing half-written. For both
 * engines, and twice in a row (a crash during the replay of a crash).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeProcess, sleep, tempDir, http } from './harness.ts';
import { createLedger, runWriters, verifyOutcome } from './load.ts';
import { PAYMENTS } from './tables.ts';

for (const engine of ['lmdb', 'level'] as const) {
  test(`SIGKILL under concurrent load loses no acknowledged write (${engine})`, async (t) => {
    const dataDir = tempDir(t);
    const args = ['--engine', engine, '--shards', '8'];
    const node = await NodeProcess.start(t, { dataDir, args });
    await createLedger(node.url);

    let kill!: () => void;
    const killed = new Promise<void>((resolve) => (kill = resolve));
    const load = runWriters(node.url, 8, 50, killed);
    // Let acknowledgements pile up, then kill with requests in flight.
    await sleep(1500);
    await node.kill('SIGKILL');
    kill();
    const outcome = await load;
    assert.ok(outcome.acked.size >= 400, `load too small to mean anything: ${outcome.acked.size} acked`);

    const again = await NodeProcess.start(t, { dataDir, args });
    const replayed = again.events('wal_replayed')[0];
    assert.ok(replayed !== undefined, 'the restart logs its WAL replay');
    const first = await verifyOutcome(again.url, outcome);
    assert.ok(first.exported >= outcome.acked.size);

    // Crash again right after recovery, with a second wave; then verify everything.
    let kill2!: () => void;
    const killed2 = new Promise<void>((resolve) => (kill2 = resolve));
    const load2 = runWriters(again.url, 4, 25, killed2, 'b');
    await sleep(500);
    await again.kill('SIGKILL');
    kill2();
    const outcome2 = await load2;
    const third = await NodeProcess.start(t, { dataDir, args });
    const merged = {
      acked: new Map([...outcome.acked, ...outcome2.acked]),
      unknown: new Map([...outcome.unknown, ...outcome2.unknown]),
      refused: new Map(),
    };
    await verifyOutcome(third.url, merged);
    // New ids after two crashes still never collide with old ones.
    const more = await http(`${third.url}/v1/tables/ledger/records`, {
      method: 'POST',
      body: JSON.stringify({ account: 'acct-x', ts: 1, tag: 'after-x-0', amount: '1', n: 1 }),
    });
    assert.equal(more.status, 200, more.text);
    assert.ok(!merged.acked.has(more.body.ids[0]));
    assert.ok(
      [...merged.acked.keys()].every((id) => BigInt(id) < BigInt(more.body.ids[0])),
      'ids issued after recovery are above every id issued before',
    );
  });
}

test('a primary key keeps its _id across a SIGKILL and the replay that follows', async (t) => {
  const dataDir = tempDir(t);
  const node = await NodeProcess.start(t, { dataDir });
  const created = await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(PAYMENTS) });
  assert.equal(created.status, 201, created.text);
  const body = Array.from({ length: 2000 }, (_, i) => JSON.stringify({ account_id: `a${i % 10}`, txn_id: `t${i}`, amount: '1.00', ts: i })).join('\n');
  const first = await http(`${node.url}/v1/tables/payments/records`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } });
  assert.equal(first.status, 200, first.text);
  // Killed right after the acknowledgement: the index may or may not have applied it.
  await node.kill('SIGKILL');
  const again = await NodeProcess.start(t, { dataDir });
  const update = Array.from({ length: 2000 }, (_, i) => JSON.stringify({ account_id: `a${i % 10}`, txn_id: `t${i}`, amount: '2.00', ts: i + 1 })).join('\n');
  const second = await http(`${again.url}/v1/tables/payments/records`, { method: 'POST', body: update, headers: { 'content-type': 'application/x-ndjson' } });
  assert.equal(second.status, 200, second.text);
  assert.deepEqual(second.body.ids, first.body.ids, 'every primary key answered with its original _id');
  const all = await http(`${again.url}/v1/tables/payments/export`);
  const rows = all.text.trim().split('\n').map((l) => JSON.parse(l) as { amount: string });
  assert.equal(rows.length, 2000, 'one record per primary key');
  assert.ok(rows.every((r) => r.amount === '2.00'), 'the later version won');
});
