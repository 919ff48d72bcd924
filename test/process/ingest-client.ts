/**
 * A real gRPC client of `sluice.v1.Ingest`, built from the shipped .proto
 * (for tests and benchmarks): unary writes, and a stream that sends
 * batches and collects every reply.
 */
import path from 'node:path';
import { InterceptingCall, credentials, loadPackageDefinition, type ChannelCredentials, type Client, type Interceptor, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ROOT, TEST_TOKEN } from './harness.ts';

/** A WriteReply as proto-loader decodes it. */
export interface IngestReply {
  sequence: string;
  written: number;
  ids: string[];
  token: string;
  rejectedCount: number;
  rejected: { index: number; path: string; message: string; code: string }[];
  error: { code: string; message: string; details: { index: number; path: string }[] } | null;
}

type WriteStream = NodeJS.ReadWriteStream & { write(req: object): boolean; end(): void };

/** The generated client. */
export interface IngestClient extends Client {
  Write(req: object, cb: (err: ServiceError | null, reply: IngestReply) => void): void;
  WriteStream(): WriteStream;
}

/**
 * An interceptor that sends metadata `authorization: Bearer <token>` on
 * every call (unary and streams) that does not carry its own.
 */
export function bearerInterceptor(token: string = TEST_TOKEN): Interceptor {
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        if (metadata.get('authorization').length === 0) metadata.set('authorization', `Bearer ${token}`);
        next(metadata, listener);
      },
    });
}

/**
 * A client of the node whose gRPC port is `port`. Every call sends
 * `authorization: Bearer TEST_TOKEN`; `token` sends another one, null none.
 * Plain text unless `credentials` (e.g. `credentials.createSsl(ca)`) are given.
 */
export function ingestClient(port: number, options: { token?: string | null; credentials?: ChannelCredentials } = {}): IngestClient {
  const pkg = loadSync(path.join(ROOT, 'proto/sluice/v1/ingest.proto'), { keepCase: false, longs: String, defaults: true });
  const loaded = loadPackageDefinition(pkg) as unknown as {
    sluice: { v1: { Ingest: new (addr: string, creds: ChannelCredentials, options?: { interceptors?: Interceptor[] }) => IngestClient } };
  };
  const token = options.token === undefined ? TEST_TOKEN : options.token;
  return new loaded.sluice.v1.Ingest(`127.0.0.1:${port}`, options.credentials ?? credentials.createInsecure(), token === null ? {} : { interceptors: [bearerInterceptor(token)] });
}

/** One unary Write; rejects with the gRPC ServiceError. */
export function ingestWrite(c: IngestClient, req: object): Promise<IngestReply> {
  return new Promise((resolve, reject) => c.Write(req, (err, reply) => (err ? reject(err) : resolve(reply))));
}

/**
 * Sends `requests` on one WriteStream, ends it, and resolves with every
 * reply once the server ends the stream. `onReply` sees each reply as it
 * arrives. With `window`, at most that many requests are unanswered at a
 * time (a client that keeps a bounded pipeline, as a producer would);
 * without it, requests go out as fast as the stream's buffer drains.
 */
export async function ingestStream(c: IngestClient, requests: Iterable<object>, onReply?: (r: IngestReply) => void, window?: number): Promise<IngestReply[]> {
  const stream = c.WriteStream();
  const replies: IngestReply[] = [];
  let sent = 0;
  let answered: (() => void) | undefined;
  const done = new Promise<void>((resolve, reject) => {
    stream.on('data', (r: IngestReply) => {
      replies.push(r);
      onReply?.(r);
      answered?.();
    });
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  // A stream error ends the wait for a reply too; `done` then rejects below.
  void done.catch(() => answered?.());
  // The next request is taken only once the window has room, so a caller timing from its creation times the request.
  const pending = requests[Symbol.iterator]();
  for (;;) {
    while (window !== undefined && sent - replies.length >= window) await new Promise<void>((resolve) => (answered = resolve));
    const next = pending.next();
    if (next.done === true) break;
    sent++;
    if (!stream.write(next.value)) await new Promise((r) => stream.once('drain', r));
  }
  stream.end();
  await done;
  return replies;
}
