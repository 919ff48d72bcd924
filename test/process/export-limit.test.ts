/**
 * Exports are bounded per node (`--exports-in-flight-max`): while one
 * export is being streamed to a slow reader, a second is refused with 429
 * OVERLOADED and Retry-After (`sluice export` waits for a slot instead);
 * once the first is done or abandoned, exports are served again.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { NodeProcess, ROOT, authHeaders, cliProcessEnv, http, sleep, tempDir } from './harness.ts';

const execFileP = promisify(execFile);

test('one export at a time: a second one is 429 OVERLOADED until the first ends', async (t) => {
  const node = await NodeProcess.start(t, { dataDir: tempDir(t), args: ['--exports-in-flight-max', '1'] });
  // Enough data that the export cannot sit whole in socket buffers while its reader waits.
  for (let b = 0; b < 10; b++) {
    const body = Array.from({ length: 5_000 }, (_, i) => JSON.stringify({ trace_id: `t${(b * 5_000 + i) % 97}`, n: b * 5_000 + i, pad: 'x'.repeat(200) })).join('\n');
    assert.equal((await http(`${node.url}/ingest`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } })).status, 200);
  }
  const slow = new AbortController();
  const first = await fetch(`${node.url}/v1/tables/events/export`, { signal: slow.signal, headers: authHeaders() });
  assert.equal(first.status, 200);
  const second = await http(`${node.url}/v1/tables/events/export?format=parquet`);
  assert.equal(second.status, 429, second.text.slice(0, 200));
  assert.equal(second.body.error.code, 'OVERLOADED');
  assert.ok(second.headers.get('retry-after') !== null);
  const metrics = await (await fetch(`${node.url}/metrics`, { headers: authHeaders() })).text();
  assert.match(metrics, /sluice_overloaded_total\{reason="exports"\} 1/);

  // `sluice export` waits for a slot instead of failing: it gets one when the slow reader goes away.
  const cli = execFileP(process.execPath, [path.join(ROOT, 'bin/sluice.js'), 'export', '--table', 'events', '--url', node.url], { cwd: ROOT, env: cliProcessEnv(), maxBuffer: 64 * 1024 * 1024 });
  await sleep(1_500);
  slow.abort();
  const { stdout } = await cli;
  assert.equal(stdout.split('\n').filter((l) => l.length > 0).length, 50_000, 'the CLI export waited for the slot and got everything');

  let third = 0;
  for (let i = 0; i < 50 && third !== 200; i++) {
    await sleep(50);
    const res = await fetch(`${node.url}/v1/tables/events/export`, { headers: authHeaders() });
    third = res.status;
    const text = await res.text();
    if (third === 200) assert.equal(text.split('\n').filter((l) => l.length > 0).length, 50_000);
  }
  assert.equal(third, 200);
});
