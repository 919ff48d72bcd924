/**
 * The bench's PostgreSQL peer (issue 16) against a real server from
 * Debian's package: it starts as the postgres user with a password on
 * loopback, loads the bench records into the indexed table and the bare
 * heap with multi-row INSERTs over several connections, every row lands
 * once, the server's CPU is counted, and it stops.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ensurePostgres, PostgresPeer } from '../../bench/lib/postgres-peer.ts';
import { benchRecords } from '../../bench/lib/records.ts';
import { freePort } from '../process/etcd.ts';

test('the PostgreSQL peer takes the bench records into both tables, each row once, and reports its CPU', async (t) => {
  const bin = ensurePostgres();
  assert.ok(bin !== undefined, 'PostgreSQL is installed (scripts/test.js installs it when missing)');
  const peer = await PostgresPeer.start(bin, await freePort());
  t.after(() => peer.stop());
  // Enough rows for the server's CPU to show in /proc's 10 ms ticks (2,500 took 17 ms and counted 0).
  const records = benchRecords(0, 40_500);
  for (const table of ['indexed', 'heap'] as const) {
    await peer.createTable(table);
    const load = await peer.load(table, records, 1_000, 4);
    assert.equal(load.records, 40_500);
    assert.ok(load.seconds > 0 && load.serverCpuSeconds > 0, JSON.stringify(load));
    assert.equal(await peer.count(table), 40_500, `${table}: every row once (41 statements, the last of 500 rows)`);
  }
  await peer.createTable('indexed');
  assert.equal(await peer.count('indexed'), 0, 'created afresh');
});
