/**
 * The status page's session store: opaque ids, a bound, an expiry that
 * never outlives the token, and a session that dies with its token.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionStore } from '../../src/security/session-store.ts';

const owner = { tokenId: 't1', name: 'oncall' };

test('a session is found by its id until it expires; an unknown, malformed or ended id finds nothing', () => {
  const store = new SessionStore({ sessionsMax: 10, ttlMs: 60_000, tokenLive: () => true });
  const { id, session } = store.open(owner, 1_000);
  assert.match(id, /^[A-Za-z0-9_-]{43}$/, '256 random bits, base64url');
  assert.equal(session.endsAtMs, 61_000);
  assert.equal(store.lookup(id, 60_999)?.name, 'oncall');
  assert.equal(store.lookup(id, 61_000), undefined, 'expired at its end');
  assert.equal(store.size, 0, 'an expired session is dropped when met');
  const second = store.open(owner, 2_000).id;
  assert.equal(store.lookup(`${second.slice(0, -1)}${second.endsWith('A') ? 'B' : 'A'}`, 2_000), undefined, 'one character off');
  assert.equal(store.lookup('not a session id', 2_000), undefined);
  assert.equal(store.lookup(`${second}; other=1`, 2_000), undefined);
  assert.equal(store.end(second)?.tokenId, 't1');
  assert.equal(store.lookup(second, 2_000), undefined, 'signed out');
  assert.equal(store.end(second), undefined, 'ending twice is harmless');
});

test('ids are distinct and are not kept in the clear', () => {
  const store = new SessionStore({ sessionsMax: 100, ttlMs: 60_000, tokenLive: () => true });
  const ids = new Set(Array.from({ length: 50 }, () => store.open(owner, 0).id));
  assert.equal(ids.size, 50);
  const held = JSON.stringify([...(store as unknown as { sessions: Map<string, unknown> }).sessions.keys()]);
  for (const id of ids) assert.ok(!held.includes(id), 'the map is keyed by a digest of the id');
});

test('a session ends no later than its token, and at once when the token is revoked', () => {
  let live = true;
  const store = new SessionStore({ sessionsMax: 10, ttlMs: 3_600_000, tokenLive: () => live });
  const { id, session } = store.open({ ...owner, expiresAtMs: 5_000 }, 1_000);
  assert.equal(session.endsAtMs, 5_000, "the token's expiry is sooner than the TTL");
  assert.ok(store.lookup(id, 4_999) !== undefined);
  const other = store.open(owner, 1_000).id;
  live = false;
  assert.equal(store.lookup(other, 1_001), undefined, 'revoked token: no session');
});

test('the store is bounded: past sessionsMax the oldest session ends, expired ones go first', () => {
  const store = new SessionStore({ sessionsMax: 3, ttlMs: 10_000, tokenLive: () => true });
  const a = store.open(owner, 0).id;
  const b = store.open(owner, 1).id;
  const c = store.open(owner, 2).id;
  const d = store.open(owner, 3).id;
  assert.equal(store.size, 3);
  assert.equal(store.lookup(a, 4), undefined, 'the oldest made room');
  for (const id of [b, c, d]) assert.ok(store.lookup(id, 4) !== undefined);
  // At 10_002 b and c have expired: opening two more ends them, not d.
  store.open(owner, 10_002);
  store.open(owner, 10_002);
  assert.equal(store.size, 3);
  assert.ok(store.lookup(d, 10_002) !== undefined, 'a live session survives while expired ones can go');
});

test('the limits must be positive', () => {
  assert.throws(() => new SessionStore({ sessionsMax: 0, ttlMs: 1, tokenLive: () => true }));
  assert.throws(() => new SessionStore({ sessionsMax: 1, ttlMs: 0, tokenLive: () => true }));
});
