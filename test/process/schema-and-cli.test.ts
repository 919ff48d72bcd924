/**
 * Schema evolution over HTTP and the CLI commands against a real node:
 * table create/list/describe/alter, ingest (progress summary, batches,
 * skip mode), query (paging), export, and --help of every command.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { NodeProcess, http, runCli, tempDir } from './harness.ts';



describe('schema evolution and CLI', () => {
  let node: NodeProcess;
  let dir: string;
  const cleanups: (() => Promise<void> | void)[] = [];
  before(async () => {
    const ctx = { after: (fn: () => Promise<void> | void) => cleanups.push(fn) };
    dir = tempDir(ctx);
    node = await NodeProcess.start(ctx, { dataDir: path.join(dir, 'data') });
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  test('every command has --help', () => {
    for (const args of [[], ['serve'], ['table'], ['table', 'create'], ['table', 'list'], ['table', 'describe'], ['table', 'alter'], ['ingest'], ['query'], ['export'], ['cluster'], ['cluster', 'status'], ['cluster', 'repair'], ['index'], ['index', 'convert']]) {
      const res = runCli([...args, '--help']);
      assert.equal(res.code, 0, `${args.join(' ')} --help: ${res.stderr}`);
      assert.match(res.stdout, /Usage: sluice/);
    }
  });

  test('serve on a port in use exits 2 with one line, not a stack trace', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const res = runCli(['serve', '--data-dir', path.join(dir, 'busy'), '--http', `127.0.0.1:${port}`]);
      assert.equal(res.code, 2, res.stderr);
      assert.match(res.stderr, /^sluice: listen EADDRINUSE: address already in use/m);
      assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
    } finally {
      server.close();
    }
  });

  test('cluster status of a node running alone; repair is refused there', () => {
    const status = runCli(['cluster', 'status', '--url', node.url]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^single · seen from n1 · placement epoch 0/);
    assert.match(status.stdout, /n1\s+alive/);
    const repair = runCli(['cluster', 'repair', '--url', node.url]);
    assert.notEqual(repair.code, 0);
    assert.match(repair.stderr, /INVALID_ARGUMENT/);
  });

  test('table create, list, describe through the CLI', () => {
    const file = path.join(dir, 'sensors.json');
    writeFileSync(
      file,
      JSON.stringify({
        name: 'sensors',
        shardKey: 'device',
        timeField: 'at',
        fields: [
          { name: 'device', type: 'string', required: true },
          { name: 'at', type: 'timestamp', required: true },
          { name: 'temp', type: 'int', required: true },
        ],
      }),
    );
    const created = runCli(['table', 'create', '--file', file, '--url', node.url]);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(JSON.parse(created.stdout).name, 'sensors');
    const again = runCli(['table', 'create', '--file', file, '--url', node.url]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /TABLE_EXISTS/);
    const list = runCli(['table', 'list', '--url', node.url]);
    assert.match(list.stdout, /^sensors\tv1\tshardKey=device\t3 fields$/m);
    const d = runCli(['table', 'describe', 'sensors', '--url', node.url]);
    assert.equal(JSON.parse(d.stdout).timeField, 'at');
  });

  test('sluice ingest streams a file in batches and prints a summary; query pages; export streams', () => {
    const file = path.join(dir, 'readings.ndjson.gz');
    const lines = Array.from({ length: 2500 }, (_, i) => JSON.stringify({ device: `d${i % 5}`, at: 1_000_000 + i, temp: i }));
    writeFileSync(file, gzipSync(lines.join('\n') + '\n'));
    const res = runCli(['ingest', file, '--table', 'sensors', '--batch-records', '300', '--url', node.url]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^2500 records written, 0 rejected, 9 requests in [0-9.]+ s \([0-9]+ records\/s\)$/m);
    const q = runCli(['query', '--table', 'sensors', '--key', 'd3', '--limit', '2000', '--url', node.url]);
    assert.equal(q.code, 0, q.stderr);
    const got = q.stdout.trim().split('\n').map((l) => JSON.parse(l) as { temp: number; at: number });
    assert.equal(got.length, 500);
    assert.deepEqual(
      got.map((r) => r.temp),
      lines.map((_, i) => i).filter((i) => i % 5 === 3),
    );
    const window = runCli(['query', '--table', 'sensors', '--key', 'd3', '--from', '1000100', '--to', '1000200', '--url', node.url]);
    assert.equal(window.stdout.trim().split('\n').length, 20);
    const out = path.join(dir, 'export.ndjson');
    const e = runCli(['export', '--table', 'sensors', '--output', out, '--url', node.url]);
    assert.equal(e.code, 0, e.stderr);
    const exported = spawnSync('wc', ['-l', out], { encoding: 'utf8' }).stdout;
    assert.match(exported, /^2500 /);
  });

  test('sluice ingest stops at the first invalid batch with the node error, or skips with --on-invalid skip', () => {
    const file = path.join(dir, 'bad.ndjson');
    writeFileSync(file, [{ device: 'x', at: 1, temp: 1 }, { device: 'x', at: 2, temp: 'hot' }, { device: 'x', at: 3, temp: 3 }].map((r) => JSON.stringify(r)).join('\n'));
    const strict = runCli(['ingest', file, '--table', 'sensors', '--url', node.url]);
    assert.equal(strict.code, 1);
    assert.match(strict.stderr, /SCHEMA_VIOLATION \(HTTP 400\)/);
    assert.match(strict.stderr, /record 1 \/temp/);
    const skip = runCli(['ingest', file, '--table', 'sensors', '--on-invalid', 'skip', '--url', node.url]);
    assert.equal(skip.code, 3, 'exit 3 signals rejected records');
    assert.match(skip.stdout, /^2 records written, 1 rejected/m);
    const unknown = runCli(['ingest', file, '--table', 'nope', '--url', node.url]);
    assert.match(unknown.stderr, /TABLE_NOT_FOUND/);
    const unreachable = runCli(['table', 'list', '--url', 'http://127.0.0.1:1']);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /cannot reach/);
  });

  test('schema evolution: add, rename with alias, widen; incompatible changes are 409', async () => {
    const url = `${node.url}/v1/tables/sensors/schema`;
    const patch = (fields: unknown[]) => http(url, { method: 'PATCH', body: JSON.stringify({ fields }) });
    const base = [
      { name: 'device', type: 'string', required: true },
      { name: 'at', type: 'timestamp', required: true },
    ];
    const v2 = await patch([...base, { name: 'celsius', type: 'float', required: true, aliases: ['temp'] }, { name: 'site', type: 'string', default: 'lab' }]);
    assert.equal(v2.status, 200, v2.text);
    assert.equal(v2.body.version, 2);
    // Old records read back under the new names, with the new field's default.
    const old = await http(`${node.url}/v1/tables/sensors/records?key=d0&limit=1`);
    assert.equal(old.body.records[0].celsius, 0);
    assert.equal(old.body.records[0].site, 'lab');
    assert.equal(old.body.records[0].temp, undefined);
    // Writes under the alias are still accepted and read back under the new name.
    const w = await http(`${node.url}/v1/tables/sensors/records`, { method: 'POST', body: JSON.stringify({ device: 'd9', at: 5, temp: 21.5 }) });
    assert.equal(w.status, 200, w.text);
    const back = await http(`${node.url}/v1/tables/sensors/records/${w.body.ids[0]}`);
    assert.equal(back.body.celsius, 21.5);
    assert.equal(back.body.site, 'lab');
    const typeChange = await patch([...base, { name: 'celsius', type: 'string', required: true }, { name: 'site', type: 'string' }]);
    assert.equal(typeChange.status, 409);
    assert.equal(typeChange.body.error.code, 'SCHEMA_INCOMPATIBLE');
    const requiredNoDefault = await patch([...base, { name: 'celsius', type: 'float', required: true }, { name: 'site', type: 'string' }, { name: 'owner', type: 'string', required: true }]);
    assert.equal(requiredNoDefault.status, 409);
    const dropRequired = await patch([base[0], base[1], { name: 'site', type: 'string' }]);
    assert.equal(dropRequired.status, 409);
    const described = await http(`${node.url}/v1/tables/sensors`);
    assert.equal(described.body.version, 2, 'refused changes left the schema as it was');
    // The evolved schema survives a restart (catalog is durable).
    await node.kill('SIGTERM');
    const ctx = { after: (fn: () => Promise<void> | void) => cleanups.push(fn) };
    node = await NodeProcess.start(ctx, { dataDir: path.join(dir, 'data') });
    const after = await http(`${node.url}/v1/tables/sensors/records/${w.body.ids[0]}`);
    assert.equal(after.body.celsius, 21.5);
  });
});
