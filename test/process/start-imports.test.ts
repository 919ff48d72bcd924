/**
 * What a node's start loads. The Kafka client costs ~280 ms of imports
 * (with Node's compile cache warm) and etcd's ~100 ms: a single node with no
 * Kafka source loads neither (src/sources/kafka/kafka-client.ts; the
 * cluster runtime is imported only when etcd endpoints are configured). A
 * preload in the node records every module URL it resolves and prints the
 * list to stderr when the process exits.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { NodeProcess } from './harness.ts';

const RECORDER = `import { registerHooks } from 'node:module';
const urls = new Set();
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); urls.add(r.url); return r; } });
process.on('exit', () => process.stderr.write('LOADED ' + JSON.stringify([...urls]) + '\\n'));`;

/** Every module URL the node's threads resolved, from the lines the recorder printed at exit. */
function loadedUrls(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('LOADED '))
    .flatMap((l) => JSON.parse(l.slice('LOADED '.length)) as string[]);
}

test('a single node starts without loading the Kafka client or etcd', { timeout: 60_000 }, async (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'sluice-start-imports-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const node = await NodeProcess.start(t, {
    dataDir: path.join(root, 'data'),
    env: { NODE_OPTIONS: `--import=data:text/javascript,${encodeURIComponent(RECORDER)}` },
  });
  const exit = await node.kill('SIGTERM');
  assert.equal(exit.code, 0, node.stderr);
  const urls = loadedUrls(node.stderr);
  // The recorder saw the node's own modules and its HTTP server: an empty list would prove nothing.
  assert.ok(urls.some((u) => u.endsWith('/src/sluice-node.ts')), 'the node module was recorded');
  assert.ok(urls.some((u) => u.includes('/node_modules/fastify/')), 'fastify was recorded');
  assert.deepEqual(urls.filter((u) => u.includes('/node_modules/@platformatic/kafka/')), [], 'no module of the Kafka client');
  assert.deepEqual(urls.filter((u) => u.includes('/node_modules/etcd3/')), [], 'no module of the etcd client');
});
