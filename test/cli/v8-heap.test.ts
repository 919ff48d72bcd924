/**
 * V8's heap growing percent, set at run time by the long-running commands
 * (decision 37): V8 must really use it, and a value given to node wins.
 * Each case runs a child node with `--trace-gc-verbose`, whose heap
 * controller prints the growing factor it applies after a full collection.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { V8_HEAP_GROWING_PERCENT } from '../../src/config.ts';
import { setsHeapGrowing } from '../../src/cli/v8-heap.ts';

const MODULE = fileURLToPath(new URL('../../src/cli/v8-heap.ts', import.meta.url));

/** The factors V8's heap controller printed in a child that tunes its heap, then fills and collects it. */
function factorsOf(nodeArgs: readonly string[]): { set: string; factors: number[] } {
  const script = `
    const { tuneHeapGrowing } = await import(${JSON.stringify(MODULE)});
    console.log('set=' + tuneHeapGrowing());
    const keep = [];
    for (let i = 0; i < 200000; i++) keep.push({ i, s: 'x' + i });
    globalThis.gc();
    console.log('kept=' + keep.length);`;
  const out = spawnSync(process.execPath, [...nodeArgs, '--expose-gc', '--trace-gc', '--trace-gc-verbose', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  const set = /set=(\S+)/.exec(out.stdout)?.[1] ?? '';
  const factors = [...out.stdout.matchAll(/\[HeapController\] factor ([0-9.]+)/g)].map((m) => Number(m[1]));
  return { set, factors };
}

test('a command that tunes its heap makes V8 grow it by the configured factor after a full collection', () => {
  const { set, factors } = factorsOf([]);
  assert.equal(set, `--heap-growing-percent=${V8_HEAP_GROWING_PERCENT}`);
  assert.ok(factors.length > 0, 'the heap controller reported a factor');
  for (const f of factors) assert.equal(f, 1 + V8_HEAP_GROWING_PERCENT / 100);
});

test("a heap growing percent given to node itself is left alone", () => {
  const { set, factors } = factorsOf(['--heap-growing-percent=50']);
  assert.equal(set, 'undefined');
  assert.ok(factors.length > 0);
  for (const f of factors) assert.equal(f, 1.5);
});

test('both spellings of the flag, with or without a value, count as given', () => {
  for (const args of [['--heap-growing-percent=10'], ['--heap_growing_percent=10'], ['--heap-growing-percent', '10'], ['--max-old-space-size=100', '--heap_growing_percent', '5']]) assert.ok(setsHeapGrowing(args), args.join(' '));
  for (const args of [[], ['--max-old-space-size=100'], ['--heap-growing-percentage=3']]) assert.ok(!setsHeapGrowing(args), args.join(' '));
});
