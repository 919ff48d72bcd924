/**
 * One admission ticket shared by the writes of one request: the bytes are
 * held until the last part lets go, each part releases once, and growing
 * goes through to the shared ticket.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Admission } from '../../src/ingest/admission.ts';
import { shareTicket } from '../../src/ingest/shared-ticket.ts';

test('the shared ticket is released with the last part, once', () => {
  const admission = new Admission({ inFlightBytesMax: 1000, inFlightRequestsMax: 10 });
  const ticket = admission.tryAcquire(600);
  assert.ok(ticket !== undefined);
  const [a, b, c] = shareTicket(ticket, 3);
  assert.ok(a && b && c);
  assert.equal(b.bytes, 600);
  a.release();
  a.release();
  b.release();
  assert.equal(admission.inFlightBytes, 600, 'a part released twice counts once');
  assert.equal(admission.inFlightRequests, 1);
  const other = admission.tryAcquire(100);
  assert.ok(other !== undefined);
  assert.equal(c.grow(300), true);
  assert.equal(admission.inFlightBytes, 1000);
  assert.equal(c.grow(1), false, 'past the bound, as the ticket itself');
  c.release();
  other.release();
  assert.equal(admission.inFlightBytes, 0);
  assert.equal(admission.inFlightRequests, 0);
  assert.equal(c.grow(1), false, 'a released part grows nothing');
});

test('one part is the ticket itself; zero parts is a programmer error', () => {
  const admission = new Admission({ inFlightBytesMax: 1000, inFlightRequestsMax: 10 });
  const ticket = admission.tryAcquire(10);
  assert.ok(ticket !== undefined);
  const [only] = shareTicket(ticket, 1);
  only?.release();
  assert.equal(admission.inFlightRequests, 0);
  assert.throws(() => shareTicket(ticket, 0));
});
