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
