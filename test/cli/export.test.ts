/**
 * `sluice export --output FILE` against a stand-in node: an export that
 * does not finish never leaves FILE behind looking like a whole export.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { cliProcessEnv } from '../support/auth.ts';
import { tempDir } from '../support/temp-dir.ts';

const BIN = fileURLToPath(new URL('../../bin/sluice.js', import.meta.url));

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`an export stopped by ${signal} leaves no partial --output file`, async (t) => {
    const dir = tempDir(t, 'sluice-export-cli-');
    // A node whose export sends whole NDJSON lines, then is slow to send the rest.
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      for (let i = 0; i < 100; i++) res.write(`{"_id":"${i}","n":${i},"_ingested_at":1}\n`);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const { port } = server.address() as { port: number };
    const file = path.join(dir, 'out.ndjson');
    const child = spawn(process.execPath, [BIN, 'export', '--table', 't', '--output', file, '--url', `http://127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'], env: cliProcessEnv() });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const exited = once(child, 'exit');
    // Until the lines are on disk (in FILE or wherever the export writes them first).
    const written = (): boolean => readdirSync(dir).length > 0;
    for (let i = 0; i < 200 && !written(); i++) await sleep(25);
    assert.ok(written(), `the export wrote nothing: ${stderr}`);
    await sleep(100);
    child.kill(signal);
    const [code, killedBy] = (await exited) as [number | null, NodeJS.Signals | null];
    assert.ok(code !== 0 || killedBy !== null, 'the interrupted export exits as a failure');
    assert.equal(existsSync(file), false, `an interrupted export left ${path.basename(file)} with part of the table, readable as if whole`);
    assert.deepEqual(readdirSync(dir), [], 'nothing of the interrupted export is left behind');
  });
}
