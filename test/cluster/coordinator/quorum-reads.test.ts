/**
 * Asking replicas until R answered: the order (a token's replicas, this
 * node, live peers), the fallback to the next replica on a failure, and the
 * code of a refusal: READ_TIMEOUT when a replica could not serve a snapshot
 * in time (an undecided batch below it), NO_QUORUM otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readQuorum } from '../../../src/cluster/coordinator/quorum-reads.ts';
import { SluiceError, isSluiceError } from '../../../src/core/errors.ts';

const order = { self: 'b', isUp: (n: string) => n !== 'c' };

test("asks a token's replicas first, then this node, then live peers; falls back to the next on a failure", async () => {
  const asked: string[] = [];
  const answers = await readQuorum(['a', 'b', 'c'], 'quorum', new Map([['c', '7']]), order, async (n) => {
    asked.push(n);
    if (n === 'b') throw new SluiceError('NO_QUORUM', 'b is busy');
    return n;
  });
  assert.deepEqual(answers.map((a) => a.node).sort(), ['a', 'c']);
  assert.deepEqual(asked.slice(0, 2), ['c', 'b'], "the token's replica, then this node");
  assert.ok(asked.includes('a'), 'the failure fell back to the next replica');
});

test('a refusal is READ_TIMEOUT when a replica could not serve the snapshot in time, NO_QUORUM otherwise', async () => {
  const snapshotBlocked = new SluiceError('READ_TIMEOUT', 'atomic batches 42 are still undecided', [{ path: 'tx_id', message: '42' }]);
  await assert.rejects(
    readQuorum(['a', 'b', 'c'], 'quorum', undefined, order, async (n) => {
      if (n === 'a') return n;
      throw n === 'b' ? snapshotBlocked : new SluiceError('NO_QUORUM', 'c is down');
    }),
    (err: unknown) => isSluiceError(err, 'READ_TIMEOUT') && /undecided/.test(err.message) && err.details[0]?.message === '42',
  );
  await assert.rejects(
    readQuorum(['a', 'b', 'c'], 'all', undefined, order, async (n) => {
      if (n === 'c') throw new SluiceError('NO_QUORUM', 'c is down');
      return n;
    }),
    (err: unknown) => isSluiceError(err, 'NO_QUORUM') && /2 of 3/.test(err.message),
  );
});

test('answers once R replicas answered: a replica that hangs is not waited for after a faster one took its place', async () => {
  // a (this node) answers at once, so its worker moves on to c (down, hangs) while b is still answering.
  // The read has its two answers when b does; it must not wait for c's timeout.
  const hang = 2_000;
  const started = performance.now();
  const answers = await readQuorum(['a', 'b', 'c'], 'quorum', undefined, { self: 'a', isUp: () => true }, async (n) => {
    if (n === 'a') return n;
    await new Promise((r) => setTimeout(r, n === 'b' ? 30 : hang));
    return n;
  });
  assert.deepEqual(answers.map((a) => a.node).sort(), ['a', 'b']);
  assert.ok(performance.now() - started < hang / 2, `answered after ${Math.round(performance.now() - started)} ms, not after the hung replica's ${hang} ms`);
});

test('asks no more replicas than R at once: a third is asked only when one of the first two failed', async () => {
  const asked: string[] = [];
  await readQuorum(['a', 'b', 'c'], 'quorum', undefined, { self: 'a', isUp: () => true }, async (n) => {
    asked.push(n);
    if (n === 'b') await new Promise((r) => setTimeout(r, 30));
    return n;
  });
  assert.deepEqual(asked, ['a', 'b'], 'c is not asked: a and b answered');
});

test('a STALE_PLACEMENT answer ends the read at once, without waiting for a replica that hangs', async () => {
  const started = performance.now();
  await assert.rejects(
    readQuorum(['a', 'b', 'c'], 'quorum', undefined, { self: 'a', isUp: () => true }, async (n) => {
      if (n === 'a') throw new SluiceError('STALE_PLACEMENT', 'a follows ring 2');
      await new Promise((r) => setTimeout(r, 2_000));
      return n;
    }),
    (err: unknown) => isSluiceError(err, 'STALE_PLACEMENT'),
  );
  assert.ok(performance.now() - started < 1_000, 'ended at the stale answer');
});
