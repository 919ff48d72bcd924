/**
 * body-reader.ts against admission: a gzip body is held against the
 * in-flight bound as it inflates, not once it has, so gzip bombs that each
 * fit the body limit cannot together inflate past what admission allows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { isSluiceError } from '../../../src/core/errors.ts';
import { Admission } from '../../../src/ingest/admission.ts';
import { readBody } from '../../../src/api/http/body-reader.ts';

const MiB = 1024 * 1024;

/** A request whose body is `body`, sent with `headers`. */
function requestOf(body: Buffer, headers: Record<string, string>): IncomingMessage {
  return Object.assign(Readable.from([body]), { headers: { 'content-length': String(body.length), ...headers } }) as unknown as IncomingMessage;
}

test('a gzip body is held against admission while it inflates: past the in-flight bound it is refused OVERLOADED before the rest is inflated', async () => {
  const admission = new Admission({ inFlightBytesMax: 1 * MiB, inFlightRequestsMax: 16 });
  // Another request in flight: this one may not pass the bound alone.
  const other = admission.tryAcquire(64 * 1024);
  assert.ok(other);
  // 8 MiB of zeros (8 KiB on the wire), cut before its end: only inflating all of it finds the cut.
  const whole = gzipSync(Buffer.alloc(8 * MiB));
  const bomb = whole.subarray(0, whole.length - 16);
  const ticket = admission.tryAcquire(bomb.length);
  assert.ok(ticket);
  await assert.rejects(readBody(requestOf(bomb, { 'content-encoding': 'gzip' }), { bodyBytesMax: 16 * MiB, ticket }), (err: unknown) => {
    // BAD_REQUEST (corrupt) here means the node inflated 8 MiB for a request admission had room for 1 MiB of.
    assert.ok(isSluiceError(err, 'OVERLOADED'), String(err));
    return true;
  });
  ticket.release();
  other.release();
  assert.equal(admission.inFlightBytes, 0);
});

test('gzip bombs read at once hold no more inflated bytes than admission allows', async () => {
  const admission = new Admission({ inFlightBytesMax: 1 * MiB, inFlightRequestsMax: 64 });
  // 16 MiB of zeros each, 16 KiB on the wire: every one fits the body limit and is admitted by its wire size.
  const bomb = gzipSync(Buffer.alloc(16 * MiB - 1));
  const base = process.memoryUsage().arrayBuffers;
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
  }, 1);
  const reads = Array.from({ length: 16 }, () => {
    const ticket = admission.tryAcquire(bomb.length);
    assert.ok(ticket, 'each bomb is admitted by its wire size');
    return readBody(requestOf(bomb, { 'content-encoding': 'gzip' }), { bodyBytesMax: 16 * MiB, ticket }).then(
      () => ticket.release(),
      (err: unknown) => {
        ticket.release();
        assert.ok(isSluiceError(err, 'OVERLOADED'), String(err));
      },
    );
  });
  await Promise.all(reads);
  clearInterval(sampler);
  // The bound is 1 MiB (one lone request may pass it); 16 bombs inflated side by side held 256 MiB.
  assert.ok(peak < 64 * MiB, `inflated bodies peaked at ${Math.round(peak / MiB)} MiB`);
});
