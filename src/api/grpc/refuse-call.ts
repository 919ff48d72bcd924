/**
 * Answers a server call from an interceptor, before its handler exists: the
 * call's messages are never asked for, so none of them is decoded.
 *
 * That alone does not stop the client sending them. grpc-js answers with a
 * trailers-only response and then reads whatever still arrives on the call's
 * HTTP/2 stream and drops it, so its flow-control window keeps opening; and
 * a grpc-js client that has its status half-closes instead of resetting, so
 * it sends its whole message anyway. Measured (decision 53): in a flood of
 * ~240 KB unary Writes refused at their headers the node read 764 MB of the
 * 790 MB its clients offered; with the reset, 12–14 MB of 1.3–2.0 GB. So,
 * once the status is out, the stream is reset with NO_ERROR, which HTTP/2
 * provides for exactly this (RFC 9113 §8.1: a server that answered before
 * the request was complete asks the client to stop sending it), as HTTP
 * closes a connection whose large body it refused (decision 42).
 */
import { constants as http2, type ServerHttp2Stream } from 'node:http2';
import { Metadata, status, type ServerInterceptingCallInterface } from '@grpc/grpc-js';
import type { SluiceError } from '../../core/errors.ts';
import { toServiceError } from '../../cluster/transport/replica-service.ts';

/** How deep interceptors may wrap a call before its HTTP/2 stream is given up on (a guard, not a limit callers meet). */
const INTERCEPTOR_DEPTH_MAX = 16;

/** Ends `call` with `err`'s gRPC status and its `sluice-code` trailer, then asks its client to stop sending. */
export function refuseCall(call: ServerInterceptingCallInterface, err: SluiceError): void {
  const e = toServiceError(err);
  const stream = http2StreamOf(call);
  // A call that has answered something (a WriteStream's replies, decision 55) gets its status as trailers, which
  // grpc-js sends only when Node asks for them ('wantTrailers', after the end of its data): a reset before that
  // ended the call without a status ("Call ended without gRPC status", the test in grpc-read-timeouts.test.ts).
  const trailers = stream !== undefined && stream.headersSent;
  call.sendStatus({ code: e.code ?? status.RESOURCE_EXHAUSTED, details: e.details ?? err.message, metadata: e.metadata ?? new Metadata() });
  if (stream === undefined) return;
  // On the next turn: grpc-js's own listener, which submits the trailers, may be added after this one (an
  // interceptor holds a status back while a message is being processed).
  if (trailers) stream.once('wantTrailers', () => setImmediate(reset, stream));
  else reset(stream);
}

/** Node sends the RST_STREAM after what the stream has queued (the status) for NO_ERROR. */
function reset(stream: ServerHttp2Stream): void {
  if (!stream.closed) stream.close(http2.NGHTTP2_NO_ERROR);
}

/**
 * The HTTP/2 stream under a grpc-js server call: grpc-js's own call keeps it
 * (`stream`), interceptors' calls wrap the next one (`nextCall`). Both are
 * private to grpc-js; a grpc-js that keeps them elsewhere gets undefined, and
 * a refused call's message is then read and dropped as before (the flood test
 * in grpc-unary-memory.test.ts fails on the bytes read).
 */
function http2StreamOf(call: unknown): ServerHttp2Stream | undefined {
  let c = call;
  for (let depth = 0; depth < INTERCEPTOR_DEPTH_MAX && typeof c === 'object' && c !== null; depth++) {
    const { stream, nextCall } = c as { stream?: unknown; nextCall?: unknown };
    if (isHttp2Stream(stream)) return stream;
    c = nextCall;
  }
  return undefined;
}

function isHttp2Stream(x: unknown): x is ServerHttp2Stream {
  return typeof x === 'object' && x !== null && 'rstCode' in x && typeof (x as { close?: unknown }).close === 'function';
}
