import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { threadCpu, threadCpuDelta, threadCpuSince, threadTimes } from '../../bench/lib/thread-cpu.ts';

/** Burns CPU on the current thread for `ms`. */
function spin(ms: number): void {
  const until = performance.now() + ms;
  let x = 0;
  while (performance.now() < until) x += Math.sqrt(x + 1);
  assert.ok(x > 0);
}

test('thread CPU is charged to the kind of thread that spent it: the main thread, then a worker thread', async () => {
  const before = threadCpu(process.pid);
  spin(400);
  const afterMain = threadCpu(process.pid);
  const main = threadCpuSince(before, afterMain);
  // At least a quarter of the spin's wall time even on a busy machine (the test runner runs files side by side).
  assert.ok(main.main >= 0.1, `main thread ${main.main} s after spinning 0.4 s`);
  assert.ok(main.workers < 0.1, `no worker ran yet: ${main.workers} s`);

  const byName0 = threadTimes(process.pid);
  const worker = new Worker('const until = performance.now() + 400; let x = 0; while (performance.now() < until) x += Math.sqrt(x + 1); const { parentPort } = require("node:worker_threads"); parentPort.postMessage(x); parentPort.once("message", () => {});', { eval: true });
  await new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject));
  // Read while the worker's thread still exists (it waits for a message that never comes): an ended thread's CPU leaves /proc/PID/task.
  const during = threadCpuSince(afterMain, threadCpu(process.pid));
  const byName = threadCpuDelta(byName0, threadTimes(process.pid));
  assert.ok((byName.get('WorkerThread') ?? 0) >= 0.1, `by name: ${JSON.stringify([...byName])}`);
  await worker.terminate();
  assert.ok(during.workers >= 0.1, `worker threads ${during.workers} s after one spun 0.4 s`);
  assert.ok(during.workers > during.main, `the main thread waited meanwhile: ${during.main} s`);
});

test('a process that is gone reads as zero CPU, not an error', () => {
  const gone = threadCpu(2 ** 22 + 12345);
  assert.deepEqual(gone, { main: 0, workers: 0, libuv: 0, v8: 0, other: 0 });
});
