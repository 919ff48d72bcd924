/**
 * `sluice ingest` streams: a 1 GiB NDJSON file and a 1 GiB CSV file are
 * imported with the CLI's resident memory staying far below the file's
 * size. The node is a stand-in HTTP server in this process that answers at
 * once, so the CLI runs at its own speed (the real node is slower and
 * would only make buffering less likely); it also checks that the bodies
 * it got cover every row exactly once, by their dedupe_first ranges.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ROOT, cliProcessEnv, sleep, tempDir } from './harness.ts';
import { spawnOwned } from './owned-spawn.ts';

const BIN = path.join(ROOT, 'bin', 'sluice.js');
const FILE_BYTES = 1024 * 1024 * 1024;
/**
 * Half the file. Measured here: a plateau of about 320 MiB (NDJSON) and
 * 460 MiB (CSV, 2 conversion threads) for files of 256 MiB to 1 GiB; most
 * of it is garbage V8 has not collected yet (live heap ≈ 30 MiB, buffers
 * ≈ 80 MiB).
 */
const RSS_BYTES_MAX = 512 * 1024 * 1024;

const DEF = {
  name: 'big',
  shardKey: 'host',
  replicationFactor: 1,
  extraFields: 'reject',
  version: 1,
  fields: [
    { id: 1, name: 'host', type: 'string', required: true },
    { id: 2, name: 'seq', type: 'int', required: true },
    { id: 3, name: 'payload', type: 'string', required: false },
  ],
};

/** Writes a block of about 1 MiB of rows again and again until the file has `bytes` bytes; returns the row count. */
async function writeRows(file: string, bytes: number, line: (k: number) => string, header?: string): Promise<number> {
  let block = '';
  let perBlock = 0;
  while (block.length < 1024 * 1024) block += `${line(perBlock++)}\n`;
  const buf = Buffer.from(block);
  const out = createWriteStream(file);
  if (header !== undefined) out.write(`${header}\n`);
  let blocks = 0;
  for (let written = 0; written < bytes; written += buf.length, blocks++) {
    if (!out.write(buf)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return blocks * perBlock;
}

/** Counts the rows of a body the CLI sent (NDJSON lines, or objects of a JSON array of flat rows). */
function rowsIn(body: Buffer): number {
  let n = 0;
  for (let at = body.indexOf('{"host":'); at !== -1; at = body.indexOf('{"host":', at + 1)) n++;
  return n;
}

/** A stand-in node: describes the table and acknowledges every body, recording its row range. */
async function standIn(t: { after: (fn: () => Promise<void>) => void }): Promise<{ url: string; ranges: Map<number, number> }> {
  const ranges = new Map<number, number>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET' && url.pathname === '/v1/tables/big') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(DEF));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rows = rowsIn(Buffer.concat(chunks));
      ranges.set(Number(url.searchParams.get('dedupe_first')), rows);
      res.writeHead(200, { 'content-type': 'application/json' }).end(`{"written":${rows},"ids":[],"token":null}`);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, ranges };
}

/** Runs the CLI, sampling its resident memory; returns the peak and its output. */
async function ingestMeasured(args: string[]): Promise<{ code: number | null; peakRss: number; out: string }> {
  const child = spawnOwned(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: cliProcessEnv() });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let peakRss = 0;
  let done = false;
  void exited.then(() => (done = true));
  while (!done) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m !== null) peakRss = Math.max(peakRss, Number(m[1]) * 1024);
    } catch {
      // exited between the check and the read
    }
    await sleep(20);
  }
  return { code: await exited, peakRss, out };
}

function assertCovered(ranges: Map<number, number>, rows: number): void {
  let next = 0;
  for (const [first, n] of [...ranges].sort((a, b) => a[0] - b[0])) {
    assert.equal(first, next, `rows ${next}.. were not sent (or sent twice)`);
    next += n;
  }
  assert.equal(next, rows);
}

for (const format of ['ndjson', 'csv'] as const) {
  test(`a 1 GiB ${format.toUpperCase()} file is imported with a bounded resident memory`, async (t) => {
    const dir = tempDir(t);
    const file = path.join(dir, `big.${format}`);
    const payload = 'p'.repeat(60);
    const rows =
      format === 'ndjson'
        ? await writeRows(file, FILE_BYTES, (k) => `{"host":"h${k % 97}","seq":${k},"payload":"${payload}"}`)
        : await writeRows(file, FILE_BYTES, (k) => `h${k % 97},${k},${payload}`, 'host,seq,payload');
    const node = await standIn(t);
    const res = await ingestMeasured(['ingest', file, '--table', 'big', '--url', node.url, '--no-progress', '--checkpoint-dir', path.join(dir, 'cp'), '--batch-records', '5000', '--threads', '2']);
    assert.equal(res.code, 0, res.out);
    assert.match(res.out, new RegExp(`^${rows} records written`, 'm'));
    assertCovered(node.ranges, rows);
    t.diagnostic(`peak RSS ${Math.round(res.peakRss / 2 ** 20)} MiB for ${rows} rows`);
    assert.ok(res.peakRss > 0 && res.peakRss < RSS_BYTES_MAX, `peak RSS ${Math.round(res.peakRss / 2 ** 20)} MiB for a ${FILE_BYTES / 2 ** 20} MiB file`);
  });
}
