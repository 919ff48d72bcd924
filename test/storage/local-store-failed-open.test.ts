/**
 * A `LocalStore.open` that fails after the time ceiling, the WAL and the
 * store's timers are running must stop them all before it rejects: a
 * ceiling left renewing writes `time-ceiling.json` through `mkdir -p`, so
 * it recreates a data dir an operator (or a test) removed, and the store's
 * index-sync timer works on an engine already closed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { TIME_CEILING_RENEW_MS, resolveConfig } from '../../src/config.ts';
import { LocalStore } from '../../src/storage/local-store.ts';
import { TxLog } from '../../src/storage/tx/tx-log.ts';
import { tempDir } from '../support/temp-dir.ts';

test('an open that fails in tx recovery (after the time ceiling) leaves no timer: the removed data dir stays removed and nothing logs', async (t) => {
  const dataDir = tempDir(t);
  const config = resolveConfig({ dataDir, shards: 4, indexSyncIntervalMs: 20 });
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });

  // The last step of open, after TimeCeiling.open and the store's constructor.
  t.mock.method(TxLog.prototype, 'recover', () => Promise.reject(new Error('recovery failed on purpose')));
  await assert.rejects(LocalStore.open(config, {}, log), /recovery failed on purpose/);

  const logged = lines.length;
  rmSync(dataDir, { recursive: true, force: true });
  await sleep(TIME_CEILING_RENEW_MS * 2 + 100);
  assert.equal(existsSync(dataDir), false, 'a timer left by the failed open recreated the removed data dir');
  assert.deepEqual(lines.slice(logged), [], 'a timer left by the failed open still works (and logs)');
});

test('after an open that failed in tx recovery the data dir opens again (lock released, engine closed)', async (t) => {
  const dataDir = tempDir(t);
  const config = resolveConfig({ dataDir, shards: 4 });
  const log = pino({ level: 'silent' });
  const recover = t.mock.method(TxLog.prototype, 'recover', () => Promise.reject(new Error('recovery failed on purpose')));
  await assert.rejects(LocalStore.open(config, {}, log), /recovery failed on purpose/);
  recover.mock.restore();
  const store = await LocalStore.open(config, {}, log);
  await store.close();
});
