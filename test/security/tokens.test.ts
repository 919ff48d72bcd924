/**
 * Tokens: the format (checksum, bootstrap strings), scopes (wildcards,
 * prefixes, case), and the registry's verdicts, revocation, rotation and
 * expiry over a real tokens file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, closeSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { formatToken, generateToken, tokenId, tokenParts } from '../../src/security/token-format.ts';
import { describeNeed, globalNeed, grants, parseScope, tableNeed } from '../../src/security/scopes.ts';
import { TokenRegistry } from '../../src/security/token-registry.ts';
import { writeTokenFile } from '../../src/security/bootstrap.ts';
import { FileTokenStore, tokensFile } from '../../src/security/file-token-store.ts';
import type { TokenRecord, TokenStore } from '../../src/security/token-store.ts';
import { FailureLimiter } from '../../src/security/failure-limiter.ts';
import { isSluiceError } from '../../src/core/errors.ts';
import { tempDir } from '../support/temp-dir.ts';

test('a token has the slc_ form, a good checksum and 256 random bits; a flipped character is malformed', () => {
  const t = generateToken();
  assert.match(t.token, /^slc_[0-9a-f]{16}_[0-9A-Za-z]{49}$/);
  assert.equal(tokenId(t.token), t.id);
  assert.notEqual(generateToken().token, t.token);
  const i = t.token.length - 10;
  const flipped = t.token.slice(0, i) + (t.token[i] === 'A' ? 'B' : 'A') + t.token.slice(i + 1);
  assert.equal(tokenId(flipped), undefined, 'a changed secret fails the checksum');
  assert.equal(tokenId(t.token.slice(0, -1)), undefined, 'a truncated token');
  assert.equal(tokenId('short'), undefined);
  assert.equal(tokenId('has space in it and is long enough to pass'), undefined);
  const bootstrap = 'an-operator-chosen-token-of-32-characters';
  assert.match(tokenId(bootstrap) ?? '', /^b[0-9a-f]{15}$/);
  assert.equal(tokenId(bootstrap), tokenId(bootstrap), 'a bootstrap id is stable');
});

test('scopes: table, prefix and wildcard grants; admin implies all; case-sensitive; bad grammar refused', () => {
  assert.ok(grants(['write:ledger'], tableNeed('write', 'ledger')));
  assert.ok(!grants(['write:ledger'], tableNeed('read', 'ledger')));
  assert.ok(!grants(['write:ledger'], tableNeed('write', 'ledgerX')));
  assert.ok(grants(['read:ledger_*'], tableNeed('read', 'ledger_2026')));
  assert.ok(!grants(['read:ledger_*'], tableNeed('read', 'Ledger_2026')), 'prefixes are case-sensitive');
  assert.ok(grants(['read:*'], tableNeed('read', 'anything')));
  assert.ok(grants(['admin'], globalNeed('cluster')));
  assert.ok(grants(['admin'], tableNeed('schema', 'x')));
  assert.ok(!grants(['ops'], globalNeed('cluster')));
  assert.ok(!grants(['cluster', 'write:*'], globalNeed('admin')));
  assert.ok(grants(['schema:x'], tableNeed(['read', 'write', 'schema'], 'x')));
  assert.equal(describeNeed(tableNeed(['read', 'write', 'schema'], 't')), 'read:t, write:t or schema:t');
  for (const bad of ['write', 'write:', 'write:a*b', 'delete:t', 'read:1t', 'ADMIN', 'admin:x', 'read:*x']) {
    assert.throws(() => parseScope(bad), (e: unknown) => isSluiceError(e) && e.code === 'INVALID_ARGUMENT', bad);
  }
});

test('the registry tells missing from unknown, wrong secret, revoked and expired, and stores only hashes (0600)', async (t) => {
  const dir = tempDir(t, 'sluice-tokens-');
  const registry = new TokenRegistry();
  assert.equal(registry.verify('anything-at-all-that-is-long-enough-xx').ok, false);
  await registry.load(new FileTokenStore(dir));
  const now = Date.now();
  const a = await registry.create({ name: 'bot', scopes: ['write:ledger', 'write:ledger'] }, 'test', now);
  assert.deepEqual(a.record.scopes, ['write:ledger'], 'duplicates dropped');
  const ok = registry.verify(a.token, now);
  assert.ok(ok.ok && ok.principal.name === 'bot');
  const parts = tokenParts(a.token);
  assert.ok(parts !== undefined);
  const wrongSecret = formatToken(parts.id, tokenParts(generateToken().token)?.secret ?? '');
  assert.deepEqual(registry.verify(wrongSecret, now), { ok: false, reason: 'wrong_secret' });
  assert.deepEqual(registry.verify(generateToken().token, now), { ok: false, reason: 'unknown' });
  assert.deepEqual(registry.verify('slc_nope', now), { ok: false, reason: 'malformed' });
  const e = await registry.create({ name: 'short', scopes: ['ops'], expiresAtMs: now + 1000 }, 'test', now);
  assert.equal(registry.verify(e.token, now + 999).ok, true);
  assert.deepEqual(registry.verify(e.token, now + 1000), { ok: false, reason: 'expired' });
  await registry.revoke(a.record.id, now);
  assert.deepEqual(registry.verify(a.token, now), { ok: false, reason: 'revoked' });
  await assert.rejects(registry.create({ name: 'x', scopes: ['write:a*b'] }, 'test'), (err: unknown) => isSluiceError(err) && err.code === 'INVALID_ARGUMENT');
  await assert.rejects(registry.create({ name: 'x', scopes: [] }, 'test'), (err: unknown) => isSluiceError(err) && err.code === 'INVALID_ARGUMENT');

  const file = tokensFile(dir);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const text = readFileSync(file, 'utf8');
  assert.ok(!text.includes(a.token) && !text.includes(e.token), 'the file holds no token');
  assert.ok(text.includes(a.record.hash));

  // A new registry over the same file knows the same tokens, revocation included.
  const again = new TokenRegistry();
  await again.load(new FileTokenStore(dir));
  assert.deepEqual(again.verify(a.token, now), { ok: false, reason: 'revoked' });
  assert.equal(again.verify(e.token, now).ok, true);
});

test('rotation: the successor works at once, the old token until the grace ends; a revoked bootstrap token stays revoked', async (t) => {
  const dir = tempDir(t, 'sluice-tokens-');
  const registry = new TokenRegistry();
  await registry.load(new FileTokenStore(dir));
  const now = Date.now();
  const old = await registry.create({ name: 'bot', scopes: ['read:*'] }, 'test', now);
  const next = await registry.rotate(old.record.id, 60_000, 'test', now);
  assert.notEqual(next.record.id, old.record.id);
  assert.deepEqual(next.record.scopes, ['read:*']);
  assert.equal(registry.verify(next.token, now).ok, true);
  assert.equal(registry.verify(old.token, now + 59_999).ok, true);
  assert.deepEqual(registry.verify(old.token, now + 60_000), { ok: false, reason: 'expired' });
  const now2 = await registry.rotate(next.record.id, 0, 'test', now);
  assert.deepEqual(registry.verify(next.token, now), { ok: false, reason: 'revoked' });
  assert.equal(registry.verify(now2.token, now).ok, true);

  const bootstrap = 'ci-bootstrap-token-with-at-least-32-chars';
  const rec = await registry.ensure(bootstrap, 'bootstrap-admin', ['admin'], 'bootstrap');
  assert.equal(registry.verify(bootstrap).ok, true);
  await registry.revoke(rec.id);
  await registry.ensure(bootstrap, 'bootstrap-admin', ['admin'], 'bootstrap');
  assert.deepEqual(registry.verify(bootstrap), { ok: false, reason: 'revoked' }, 'a restart with the old bootstrap token does not bring it back');
});

test('the failure limiter throttles an address past its budget for the rest of the minute, reporting once', () => {
  const limiter = new FailureLimiter(3, 4);
  const t0 = 1_000_000;
  for (let i = 0; i < 3; i++) limiter.fail('1.2.3.4', t0);
  assert.equal(limiter.check('1.2.3.4', t0), 'ok');
  limiter.fail('1.2.3.4', t0);
  assert.equal(limiter.check('1.2.3.4', t0 + 10), 'throttled-first');
  assert.equal(limiter.check('1.2.3.4', t0 + 20), 'throttled');
  assert.equal(limiter.check('5.6.7.8', t0 + 20), 'ok', 'other addresses are not affected');
  assert.equal(limiter.check('1.2.3.4', t0 + 60_000), 'ok', 'a new minute');
  // Bounded: a flood of addresses does not grow the table without end.
  for (let i = 0; i < 100; i++) limiter.fail(`10.0.0.${i}`, t0);
  assert.ok((limiter as unknown as { windows: Map<string, unknown> }).windows.size <= 4);
});

test('a verified token is cached, yet a revocation, an expiry or a record replaced through the store ends it at once', async (t) => {
  const dir = tempDir(t, 'sluice-tokens-');
  let push: ((r: TokenRecord) => void) | undefined;
  const file = new FileTokenStore(dir);
  // The file store, with the etcd store's way of reporting a put from elsewhere.
  const store: TokenStore = {
    start: async (onPut) => {
      push = onPut;
      return file.start();
    },
    create: (r) => file.create(r),
    update: (r) => file.update(r),
    stop: () => file.stop(),
  };
  const registry = new TokenRegistry();
  await registry.load(store);
  const now = Date.now();
  const a = await registry.create({ name: 'a', scopes: ['read:*'], expiresAtMs: now + 10_000 }, 'test', now);
  for (let i = 0; i < 3; i++) assert.equal(registry.verify(a.token, now).ok, true);
  assert.deepEqual(registry.verify(a.token, now + 10_000), { ok: false, reason: 'expired' }, 'a cached token still expires');
  const b = await registry.create({ name: 'b', scopes: ['read:*'] }, 'test', now);
  assert.equal(registry.verify(b.token, now).ok, true);
  push?.({ ...b.record, revokedAtMs: now });
  assert.deepEqual(registry.verify(b.token, now), { ok: false, reason: 'revoked' }, 'revoked through another node (a put from the store)');
  const c = await registry.create({ name: 'c', scopes: ['read:*'] }, 'test', now);
  assert.equal(registry.verify(c.token, now).ok, true);
  await registry.revoke(c.record.id, now);
  assert.deepEqual(registry.verify(c.token, now), { ok: false, reason: 'revoked' }, 'revoked here');
  const wrong = `${c.token.slice(0, -1)}x`;
  assert.equal(registry.verify(wrong, now).ok, false, 'a near miss is never served from the cache');
});

/** A store in memory whose `create` can be held, to interleave a revocation with a rotation. */
class HeldStore implements TokenStore {
  readonly records = new Map<string, TokenRecord>();
  createGate: Promise<void> | undefined;
  async start(): Promise<readonly TokenRecord[]> {
    return [...this.records.values()];
  }
  async create(r: TokenRecord): Promise<boolean> {
    if (this.createGate) await this.createGate;
    if (this.records.has(r.id)) return false;
    this.records.set(r.id, r);
    return true;
  }
  async update(r: TokenRecord): Promise<void> {
    this.records.set(r.id, r);
  }
  async stop(): Promise<void> {}
}

test('a revocation made while a rotation with a grace period stores the successor stays: in the registry and in the store', async () => {
  const store = new HeldStore();
  const registry = new TokenRegistry();
  await registry.load(store);
  const leaked = await registry.create({ name: 'bot', scopes: ['write:*'] }, 'test');
  let open!: () => void;
  store.createGate = new Promise((resolve) => (open = resolve));
  const rotating = registry.rotate(leaked.record.id, 24 * 3600_000, 'admin1');
  await registry.revoke(leaked.record.id);
  open();
  const successor = await rotating;
  assert.equal(registry.verify(leaked.token).ok, false, 'the revoked token stays revoked');
  assert.ok(store.records.get(leaked.record.id)?.revokedAtMs !== undefined, 'and so it is stored');
  assert.equal(registry.verify(successor.token).ok, true);
});

test('a revocation the store reports while it loads is not undone by the older snapshot', async () => {
  const seed = new HeldStore();
  const first = new TokenRegistry();
  await first.load(seed);
  const leaked = await first.create({ name: 'bot', scopes: ['write:*'] }, 'test');
  const watching: TokenStore = {
    // etcd: the watch's event handled before the reply of the read it follows.
    start: async (onPut) => {
      const snapshot = [...seed.records.values()];
      onPut({ ...leaked.record, revokedAtMs: Date.now() });
      return snapshot;
    },
    create: (r) => seed.create(r),
    update: (r) => seed.update(r),
    stop: async () => undefined,
  };
  const registry = new TokenRegistry();
  await registry.load(watching);
  assert.equal(registry.verify(leaked.token).ok, false);
});

test('the admin token file is replaced by a new file of mode 0600: a looser old file, and a handle open on it, see nothing of the new secret', async (t) => {
  const dir = tempDir(t);
  const file = `${dir}/admin.token`;
  writeFileSync(file, 'old-secret\n');
  chmodSync(file, 0o644);
  const fd = openSync(file, 'r');
  t.after(() => closeSync(fd));
  await writeTokenFile(file, 'new-secret');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(readFileSync(file, 'utf8'), 'new-secret\n');
  const buf = Buffer.alloc(64);
  const n = readSync(fd, buf, 0, 64, 0);
  assert.equal(buf.subarray(0, n).toString(), 'old-secret\n', 'the old handle still reads the old file, not the new secret');
});
