/**
 * The read token codec of both coordinators: round trips, and every token
 * that did not come from a write (wrong kind, bad LSN, not JSON, a list)
 * is INVALID_ARGUMENT.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeClusterToken, decodeLocalToken, encodeClusterToken, encodeLocalToken, lsnFor, tokenVersion } from '../../../src/cluster/coordinator/read-token.ts';
import { isSluiceError } from '../../../src/core/errors.ts';

const invalid = (err: unknown) => isSluiceError(err, 'INVALID_ARGUMENT') && /not a token returned by a write/.test(err.message);

test('local tokens round-trip every LSN up to 2^64 - 1 and refuse anything else', () => {
  for (const lsn of [0n, 1n, 35n, 36n, 123_456_789n, (1n << 64n) - 1n]) assert.equal(decodeLocalToken(encodeLocalToken(lsn)), lsn);
  assert.equal(encodeLocalToken(46n), 'l1a');
  for (const bad of ['', 'l', 'L1', 'l1A', 'l-1', `l${'z'.repeat(14)}`, 'c1']) assert.throws(() => decodeLocalToken(bad), invalid, bad);
});

test('cluster tokens round-trip node → LSN maps and refuse anything else', () => {
  const lsns = new Map([['n1', '17'], ['n-2', '18446744073709551615']]);
  const token = encodeClusterToken(lsns);
  assert.ok(token.startsWith('c'));
  assert.deepEqual(decodeClusterToken(token), lsns);
  assert.equal(decodeClusterToken(undefined), undefined);
  assert.deepEqual(lsnFor(lsns, 'n1'), { lsn: '17' });
  assert.deepEqual(lsnFor(lsns, 'n9'), {});
  const b64 = (v: unknown) => `c${Buffer.from(JSON.stringify(v)).toString('base64url')}`;
  for (const bad of ['l1a', 'c', 'c!!', b64([1]), b64({ n1: 5 }), b64({ n1: '-5' }), b64({ n1: '1'.repeat(21) }), b64(null), `c${Buffer.from('{').toString('base64url')}`]) {
    assert.throws(() => decodeClusterToken(bad), invalid, bad);
  }
});

test("a cluster token's version reads back up to the reader's bound and is the token error past it", () => {
  const token = decodeClusterToken(encodeClusterToken(new Map([['n1', '17']]), 1_000n));
  assert.equal(tokenVersion(token), 1_000n);
  assert.equal(tokenVersion(token, 1_000n), 1_000n);
  assert.equal(tokenVersion(decodeClusterToken(encodeClusterToken(new Map([['n1', '17']])))), 0n);
  assert.throws(() => tokenVersion(token, 999n), invalid);
  // 20 digits pass the LSN shape but not 64 bits.
  assert.throws(() => tokenVersion(new Map([['@v', '99999999999999999999']])), invalid);
});

test('an LSN past 64 bits is no token: local and cluster tokens whose LSN fits the digits but not 2^64 - 1 are refused', () => {
  // 13 base-36 digits and 20 decimal ones hold more than 64 bits.
  for (const bad of [`l${'z'.repeat(13)}`, `l${((1n << 64n) + 1n).toString(36)}`]) assert.throws(() => decodeLocalToken(bad), invalid, bad);
  const b64 = (v: unknown) => `c${Buffer.from(JSON.stringify(v)).toString('base64url')}`;
  for (const lsn of ['18446744073709551616', '99999999999999999999']) assert.throws(() => decodeClusterToken(b64({ n1: lsn })), invalid, lsn);
  assert.deepEqual(decodeClusterToken(b64({ n1: '18446744073709551615' })), new Map([['n1', '18446744073709551615']]));
});
