import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Admission } from '../../src/ingest/admission.ts';

test('bytes and requests are bounded; release is idempotent', () => {
  const a = new Admission({ inFlightBytesMax: 100, inFlightRequestsMax: 3 });
  const t1 = a.tryAcquire(60);
  assert.ok(t1);
  assert.equal(a.tryAcquire(50), undefined, 'bytes past the bound');
  const t2 = a.tryAcquire(40);
  assert.ok(t2);
  assert.equal(a.inFlightBytes, 100);
  t1.release();
  t1.release();
  assert.equal(a.inFlightBytes, 40);
  const t3 = a.tryAcquire(0);
  const t4 = a.tryAcquire(0);
  assert.ok(t3 && t4);
  assert.equal(a.tryAcquire(0), undefined, 'requests past the bound');
  t2.release();
  t3.release();
  t4.release();
  assert.equal(a.inFlightBytes, 0);
  assert.equal(a.inFlightRequests, 0);
});

test('a lone request may exceed the byte bound (no starvation), but only when alone', () => {
  const a = new Admission({ inFlightBytesMax: 100, inFlightRequestsMax: 10 });
  const big = a.tryAcquire(500);
  assert.ok(big, 'nothing else in flight');
  assert.ok(big.grow(1000), 'it may keep growing while alone');
  assert.equal(a.tryAcquire(1), undefined);
  big.release();
  const small = a.tryAcquire(10);
  assert.ok(small);
  const other = a.tryAcquire(10);
  assert.ok(other);
  assert.equal(small.grow(200), false, 'growing past the bound with others in flight is refused');
  assert.equal(small.bytes, 10, 'a refused grow adds nothing');
  assert.ok(small.grow(80));
  small.release();
  other.release();
  assert.equal(a.inFlightBytes, 0);
});

test('shrink gives bytes back (never more than held, nothing after release), so others fit again', () => {
  const a = new Admission({ inFlightBytesMax: 100, inFlightRequestsMax: 10 });
  const decoding = a.tryAcquire(90);
  assert.ok(decoding);
  assert.equal(a.tryAcquire(20), undefined, 'the working set fills the bound');
  decoding.shrink(60);
  assert.equal(decoding.bytes, 30);
  assert.equal(a.inFlightBytes, 30);
  const other = a.tryAcquire(20);
  assert.ok(other, 'room again');
  decoding.shrink(1000);
  assert.equal(decoding.bytes, 0);
  decoding.shrink(-5);
  assert.equal(decoding.bytes, 0, 'a negative shrink is no grow');
  decoding.release();
  decoding.shrink(10);
  other.release();
  assert.equal(a.inFlightBytes, 0);
  assert.equal(a.inFlightRequests, 0);
});
