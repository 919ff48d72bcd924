/**
 * The folders are the architecture: imports point only downward
 * (cli → loadgen → api/sources → ingest → cluster → storage → core). A file that needs to reach
 * up means the design is wrong (STYLE.md), so this test fails on it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { globSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './process/harness.ts';

const RANK: Record<string, number> = { core: 0, security: 1, storage: 1, cluster: 2, ingest: 3, api: 4, sources: 4, loadgen: 5, cli: 6 };

function layerOf(file: string): string | undefined {
  const rel = path.relative(path.join(ROOT, 'src'), file).split(path.sep);
  return rel.length > 1 ? rel[0] : undefined;
}

test('src imports point only downward', () => {
  const violations: string[] = [];
  const files = globSync('src/**/*.ts', { cwd: ROOT }).map((f) => path.join(ROOT, f));
  assert.ok(files.length > 40);
  for (const file of files) {
    const from = layerOf(file);
    if (from === undefined || RANK[from] === undefined) continue;
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^(?:import|export)[^'"]*from '(\.[^']+)'/gm)) {
      const target = path.resolve(path.dirname(file), m[1] as string);
      const to = layerOf(target);
      // Top level: config.ts (options, usable everywhere) and sluice-node.ts (the composition root, for the CLI).
      if (to === undefined) {
        const name = path.basename(target);
        const allowed = name === 'config.ts' || (name === 'sluice-node.ts' && from === 'cli');
        if (!allowed) violations.push(`${path.relative(ROOT, file)} imports ${m[1]}`);
        continue;
      }
      if ((RANK[to] ?? 0) > (RANK[from] ?? 0)) violations.push(`${path.relative(ROOT, file)} (${from}) imports ${m[1]} (${to})`);
    }
  }
  assert.deepEqual(violations, []);
});

/**
 * The load generator is a client of sluice, not a part of the node: it
 * talks to the server over HTTP and may use only the pure helpers of core
 * (schema checks, hashing), so a bench measures the server as users see it.
 */
test('loadgen imports only core', () => {
  const violations: string[] = [];
  for (const f of globSync('src/loadgen/**/*.ts', { cwd: ROOT })) {
    const file = path.join(ROOT, f);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^(?:import|export)[^'"]*from '(\.[^']+)'/gm)) {
      const to = layerOf(path.resolve(path.dirname(file), m[1] as string));
      if (to !== 'core' && to !== 'loadgen') violations.push(`${f} imports ${m[1]}`);
    }
  }
  assert.deepEqual(violations, []);
});

/**
 * Inside the cluster layer the folders are parts with their own order:
 * the transport at the bottom, then etcd metadata, membership and
 * placement, then repair and the 2PC participant parts, the replica
 * service, the coordinator, and the runtime (files at the top of
 * cluster/) that assembles them. A part imports only parts below it.
 */
const CLUSTER_RANK: Record<string, number> = { transport: 0, metadata: 1, membership: 2, placement: 2, repair: 3, tx: 3, replica: 4, coordinator: 5, '': 6 };

function clusterPartOf(file: string): string | undefined {
  const rel = path.relative(path.join(ROOT, 'src', 'cluster'), file).split(path.sep);
  if (rel[0] === '..') return undefined;
  return rel.length > 1 ? (rel[0] as string) : '';
}

test('cluster parts import only parts below them', () => {
  const violations: string[] = [];
  const files = globSync('src/cluster/**/*.ts', { cwd: ROOT }).map((f) => path.join(ROOT, f));
  assert.ok(files.length > 30);
  for (const file of files) {
    const from = clusterPartOf(file) as string;
    assert.ok(CLUSTER_RANK[from] !== undefined, `cluster/${from} has a rank`);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^(?:import|export)[^'"]*from '(\.[^']+)'/gm)) {
      const to = clusterPartOf(path.resolve(path.dirname(file), m[1] as string));
      if (to === undefined || to === from) continue;
      if ((CLUSTER_RANK[to] ?? 99) >= (CLUSTER_RANK[from] ?? 0)) violations.push(`${path.relative(ROOT, file)} (cluster/${from}) imports ${m[1]} (cluster/${to})`);
    }
  }
  assert.deepEqual(violations, []);
});
