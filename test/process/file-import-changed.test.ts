/**
 * `sluice ingest` rerun after the file of an interrupted import changed.
 * The checkpoint and the dedupe prefix are the file's fingerprint, so the
 * changed file would be read from its start under new dedupe keys and the
 * rows the first run wrote stored a second time. The rerun is refused,
 * naming the file, what was written and `--restart`; with `--restart` the
 * operator imports the changed file anyway. A real node and the real CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { NodeProcess, authHeaders, http, runCli, tempDir } from './harness.ts';

const ROWS = 200;
/** The row the first run stops at (reject mode): its seq is not an int. */
const BAD_ROW = 150;
const TABLE = { name: 'changed', shardKey: 'host', fields: [{ name: 'host', type: 'string', required: true }, { name: 'seq', type: 'int', required: true }] };

function csv(bad: boolean): string {
  const lines = ['host,seq'];
  for (let k = 0; k < ROWS; k++) lines.push(`h${k % 7},${bad && k === BAD_ROW ? 'not-a-number' : k}`);
  return `${lines.join('\n')}\n`;
}

async function storedRows(url: string): Promise<number> {
  const res = await fetch(`${url}/v1/tables/${TABLE.name}/export`, { headers: authHeaders() });
  assert.equal(res.status, 200);
  return (await res.text()).split('\n').filter((l) => l.length > 0).length;
}

test('ingest refuses to rerun an interrupted import whose file changed since (its rows would be stored twice) unless --restart', { timeout: 120_000 }, async (t) => {
  const dir = tempDir(t);
  const node = await NodeProcess.start(t, { dataDir: path.join(dir, 'data') });
  assert.equal((await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(TABLE) })).status, 201);
  const file = path.join(dir, 'rows.csv');
  const checkpoints = path.join(dir, 'checkpoints');
  const ingest = (...extra: string[]) =>
    runCli(['ingest', file, '--table', TABLE.name, '--url', node.url, '--checkpoint-dir', checkpoints, '--no-progress', '--batch-records', '10', '--concurrency', '1', '--on-invalid', 'reject', ...extra]);

  writeFileSync(file, csv(true));
  const first = ingest();
  assert.notEqual(first.code, 0, first.stderr);
  assert.match(first.stderr, /a rerun of the same command resumes at row/, 'the first run is interrupted with a checkpoint');
  const written = await storedRows(node.url);
  assert.ok(written > 0 && written <= BAD_ROW, `${written} rows written before the bad row`);
  assert.equal(readdirSync(checkpoints).length, 1);

  // The operator fixes the bad row and runs the same command again.
  writeFileSync(file, csv(false));
  const rerun = ingest();
  assert.equal(rerun.code, 2, `refused, not run: ${rerun.stdout}${rerun.stderr}`);
  assert.match(rerun.stderr, /changed since an interrupted import/);
  assert.ok(rerun.stderr.includes(file), rerun.stderr);
  assert.match(rerun.stderr, /--restart/);
  assert.equal(await storedRows(node.url), written, 'nothing stored by the refused run');
  assert.equal(readdirSync(checkpoints).length, 1, 'the checkpoint is kept');

  // --restart: the operator imports the changed file from its start, knowing what the first run wrote stays.
  const restart = ingest('--restart');
  assert.equal(restart.code, 0, restart.stderr);
  assert.match(restart.stdout, new RegExp(`^${ROWS} records written`, 'm'));
  assert.equal(await storedRows(node.url), written + ROWS);
  assert.deepEqual(readdirSync(checkpoints), [], 'no checkpoint left: neither the old one nor the new one');
});
