/**
 * A crash mid-import (issue #4): `sluice ingest` is SIGKILLed while rows
 * past its last checkpoint are already durable in the node, then run
 * again with the same command. The rerun resumes from the checkpoint and
 * sends those rows again under the same dedupe keys, so the table ends
 * with every row of the file exactly once: nothing missing, nothing
 * twice. For a text file (CSV, resumed by byte offset) and a Parquet file
 * (resumed by row).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parquetWriteFile } from 'hyparquet-writer';
import { NodeProcess, ROOT, authHeaders, cliProcessEnv, http, sleep, tempDir } from './harness.ts';
import { spawnOwned } from './owned-spawn.ts';

const BIN = path.join(ROOT, 'bin', 'sluice.js');
const ROWS = 300_000;

const TABLE = (name: string) => ({
  name,
  shardKey: 'host',
  fields: [
    { name: 'host', type: 'string', required: true },
    { name: 'seq', type: 'int', required: true },
    { name: 'payload', type: 'string' },
  ],
});

const payload = (k: number): string => `payload ${k} ${'x'.repeat(k % 40)}`;

async function writtenTotal(url: string, table: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { headers: authHeaders() })).text();
  const m = new RegExp(`^sluice_records_written_total\\{table="${table}"\\} ([0-9.e+]+)$`, 'm').exec(text);
  return m === null ? 0 : Number(m[1]);
}

function checkpointRows(dir: string): number | undefined {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    return undefined;
  }
  if (files.length === 0) return undefined;
  assert.equal(files.length, 1, 'one checkpoint per import');
  try {
    return (JSON.parse(readFileSync(path.join(dir, files[0] as string), 'utf8')) as { rowsDone: number }).rowsDone;
  } catch {
    return undefined;
  }
}

/**
 * Starts the import and SIGKILLs it once the checkpoint holds some rows and
 * the node has durably written clearly more than the checkpoint says.
 */
async function importAndKill(node: NodeProcess, args: string[], table: string, checkpoints: string): Promise<{ checkpoint: number; writtenAtKill: number }> {
  const child = spawnOwned(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: cliProcessEnv() });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + 90_000;
  try {
    while (Date.now() < deadline) {
      if (child.exitCode !== null) assert.fail(`the import ended (code ${child.exitCode}) before it could be killed mid-file: ${stderr}`);
      const cp = checkpointRows(checkpoints);
      const written = await writtenTotal(node.url, table);
      if (cp !== undefined && cp >= ROWS / 20 && written >= cp + 2_000 && written < ROWS - 20_000) {
        child.kill('SIGKILL');
        const exit = await exited;
        assert.equal(exit.signal, 'SIGKILL');
        // The checkpoint a rerun will see (the process can no longer change it).
        const checkpoint = checkpointRows(checkpoints) ?? 0;
        return { checkpoint, writtenAtKill: written };
      }
      await sleep(20);
    }
    throw new Error(`no moment to kill the import within 90 s: ${stderr}`);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** Every row once; a failure says how many rows came twice and where, with the checkpoint the rerun resumed from. */
async function assertEveryRowOnce(url: string, table: string, checkpoint: number): Promise<void> {
  const res = await fetch(`${url}/v1/tables/${table}/export`, { headers: authHeaders() });
  const seen = new Uint8Array(ROWS);
  const twice: number[] = [];
  let count = 0;
  for (const line of (await res.text()).split('\n')) {
    if (line.length === 0) continue;
    const r = JSON.parse(line) as { seq: number; host: string; payload: string };
    assert.ok(r.seq >= 0 && r.seq < ROWS, `row ${r.seq}`);
    assert.equal(r.payload, payload(r.seq));
    if (seen[r.seq] === 1) twice.push(r.seq);
    seen[r.seq] = 1;
    count++;
  }
  twice.sort((a, b) => a - b);
  assert.equal(twice.length, 0, `${twice.length} rows are in the table twice, rows ${twice[0]}–${twice.at(-1)} (rerun from the checkpoint at row ${checkpoint})`);
  assert.equal(count, ROWS, `${ROWS - count} rows missing`);
}

async function crashAndResume(t: { after: (fn: () => Promise<void> | void) => void }, table: string, file: string): Promise<void> {
  const dir = tempDir(t);
  const node = await NodeProcess.start(t, { dataDir: path.join(dir, 'data') });
  const created = await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(TABLE(table)) });
  assert.equal(created.status, 201, created.text);
  const checkpoints = path.join(dir, 'checkpoints');
  // A slow checkpoint: the node is ahead of it when the kill comes, so the rerun must re-send durable rows.
  const args = ['ingest', file, '--table', table, '--url', node.url, '--checkpoint-dir', checkpoints, '--no-progress', '--batch-records', '500', '--checkpoint-interval-ms', '700'];
  const { checkpoint, writtenAtKill } = await importAndKill(node, args, table, checkpoints);
  assert.ok(writtenAtKill > checkpoint, `rows ${checkpoint + 1}–${writtenAtKill} are durable but not in the checkpoint`);

  const rerun = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: cliProcessEnv() });
  assert.equal(rerun.status, 0, rerun.stderr);
  assert.match(rerun.stderr, new RegExp(`resumed at row ${checkpoint + 1} from a checkpoint`));
  // The rerun wrote the rest, plus the rows it re-sent (same ids, not new records).
  const sent = Number(/^(\d+) records written/m.exec(rerun.stdout)?.[1]);
  assert.ok(sent >= ROWS - checkpoint && sent <= ROWS, rerun.stdout);
  assert.equal(checkpointRows(checkpoints), undefined, 'the checkpoint is removed when the import ends');
  await assertEveryRowOnce(node.url, table, checkpoint);
}

test('a CSV import SIGKILLed mid-file and rerun holds every row exactly once', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'rows.csv');
  const lines = ['host,seq,payload'];
  for (let k = 0; k < ROWS; k++) lines.push(`h${k % 13},${k},${k % 1000 === 7 ? `"${payload(k)}"` : payload(k)}`);
  writeFileSync(file, lines.join('\n') + '\n');
  await crashAndResume(t, 'kill_csv', file);
});

test('a Parquet import SIGKILLed mid-file and rerun holds every row exactly once', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'rows.parquet');
  const k = Array.from({ length: ROWS }, (_, i) => i);
  parquetWriteFile({
    filename: file,
    columnData: [
      { name: 'host', data: k.map((i) => `h${i % 13}`), type: 'STRING', nullable: false },
      { name: 'seq', data: k.map((i) => BigInt(i)), type: 'INT64', nullable: false },
      { name: 'payload', data: k.map(payload), type: 'STRING' },
    ],
    rowGroupSize: 20_000,
  });
  await crashAndResume(t, 'kill_parquet', file);
});
