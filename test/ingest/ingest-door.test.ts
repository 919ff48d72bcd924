import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Admission } from '../../src/ingest/admission.ts';
import { IngestDoor } from '../../src/ingest/ingest-door.ts';
import type { IngestPipeline, WriteRequest, WriteResult } from '../../src/ingest/pipeline.ts';
import { isSluiceError } from '../../src/core/errors.ts';

/** A pipeline that only hands back the request it was given (the door's part is under test, not the pipeline's). */
function capturing(): { pipeline: () => IngestPipeline; seen: WriteRequest[] } {
  const seen: WriteRequest[] = [];
  const pipeline = { write: (req: WriteRequest) => (seen.push(req), Promise.resolve({ written: 0, rejectedCount: 0 } as unknown as WriteResult)) } as unknown as IngestPipeline;
  return { pipeline: () => pipeline, seen };
}

test('shutdown ends a wait for admission at once with SHUTTING_DOWN saying the node is stopping', async () => {
  const admission = new Admission({ inFlightBytesMax: 100, inFlightRequestsMax: 10 });
  const door = new IngestDoor(admission, capturing().pipeline);
  const held = door.tryAdmit(100);
  assert.ok(held);
  const waiting = door.admit(50, new AbortController().signal);
  setTimeout(() => door.shutdown(), 20);
  await assert.rejects(waiting, (err: unknown) => isSluiceError(err, 'SHUTTING_DOWN') && /node is stopping/.test((err as Error).message));
  // After it, no wait starts: a stopping node admits no streaming batch.
  held.release();
  await assert.rejects(door.admit(1, new AbortController().signal), (err: unknown) => isSluiceError(err, 'SHUTTING_DOWN'));
});

test('a write that may wait for its rate gets a signal that shutdown aborts; one that is refused instead keeps its own', async () => {
  const { pipeline, seen } = capturing();
  const door = new IngestDoor(new Admission({ inFlightBytesMax: 100, inFlightRequestsMax: 10 }), pipeline);
  const own = new AbortController();
  const write = (rateLimit: 'wait' | 'refuse', signal?: AbortSignal) =>
    door.write({ table: 't', body: new Uint8Array(1), format: 'json', onInvalid: 'reject', rateLimit, ...(signal === undefined ? {} : { signal }) }, door.tryAdmit(1) ?? assert.fail('no room'));
  await write('wait', own.signal);
  await write('wait');
  await write('refuse');
  const [withOwn, withNone, refusing] = seen;
  assert.equal(withOwn?.signal?.aborted, false);
  assert.equal(withNone?.signal?.aborted, false);
  assert.equal(refusing?.signal, undefined);
  door.shutdown();
  assert.equal(withOwn?.signal?.aborted, true, 'the source\'s wait ends when the node stops');
  assert.equal(withNone?.signal?.aborted, true);
  assert.equal(own.signal.aborted, false, 'the source\'s own signal is not aborted by the node');
});
