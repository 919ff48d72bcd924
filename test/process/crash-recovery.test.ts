/**
 * (a) Concurrent writers, SIGKILL mid-load, restart: every acknowledged
 * record reads back identical, no id twice, nothing half-written. For both
 * engines, and twice in a row (a crash during the replay of a crash).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeProcess, sleep, tempDir, http } from './harness.ts';
import { createLedger, runWriters, verifyOutcome } from './load.ts';

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
