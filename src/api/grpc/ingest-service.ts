/**
 * `sluice.v1.Ingest` (proto/sluice/v1/ingest.proto): the gRPC door to the
 * same write pipeline as HTTP. `Write` is one batch; `WriteStream` is many
 * batches on one stream with one reply per batch, in order.
 *
 * Backpressure differs by shape, as DESIGN §2 says: a unary write past the
 * admission bound fails at once with RESOURCE_EXHAUSTED (code OVERLOADED),
 * like HTTP's 429; a stream instead stops reading until admission has room,
 * so HTTP/2 flow control holds the client back and no batch fails for it
 * (one batch of a stream waits, and the open streams are capped: decision 51).
 * A unary write is refused at its headers, before its message is read, when
 * admission has no room at all, and at most `--grpc-unary-reads-max` are read
 * at once, the next ones waiting unread at their headers (decision 53).
 * A table's rate limit is the same: a unary write past it fails with
 * RESOURCE_EXHAUSTED (code RATE_LIMITED, `retry-after` and
 * `grpc-retry-pushback-ms` in the trailers), a stream's batch waits for it.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPackageDefinition, type Metadata, type ServerDuplexStream, type ServerUnaryCall, type ServiceDefinition, type sendUnaryData } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { GRPC_STREAM_BATCHES_IN_FLIGHT_MAX, grpcUnaryWaitingMax } from '../../config.ts';
import { SluiceError, isSluiceError } from '../../core/errors.ts';
import type { Consistency } from '../../cluster/coordinator/coordinator.ts';
import { toServiceError } from '../../cluster/transport/replica-service.ts';
import type { GrpcService } from '../../cluster/transport/grpc-server.ts';
import type { OnInvalid } from '../../ingest/batch-encoder.ts';
import { INVALID_POLICIES } from '../../core/schema/table-def.ts';
import { currentDef } from '../../storage/catalog.ts';
import type { AdmissionTicket } from '../../ingest/admission.ts';
import type { WriteResult } from '../../ingest/pipeline.ts';
import type { ApiContext } from '../http/api-context.ts';
import { authInterceptor, authorizeWrite } from './grpc-auth.ts';
import { StreamReads } from './stream-reads.ts';
import { UnaryReads } from './unary-reads.ts';

/** The service's full name (health checks use it). */
export const INGEST_SERVICE = 'sluice.v1.Ingest';

const PROTO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../proto/sluice/v1/ingest.proto');

/** A WriteRequest as proto-loader decodes it (defaults filled, uint64 as string). */
interface WriteRequestMessage {
  readonly table: string;
  readonly records: Buffer;
  readonly consistency: string;
  readonly onInvalid: string;
  readonly sequence: string;
  readonly messages: Buffer[];
  readonly atomic: boolean;
}

/** A request's options as the pipeline takes them, resolved before admission. */
interface WriteOptions {
  readonly onInvalid: OnInvalid;
  readonly consistency: Consistency;
}

interface RejectionMessage {
  index: number;
  path: string;
  message: string;
  code: string;
}

interface WriteReplyMessage {
  sequence: string;
  written?: number;
  ids?: string[];
  token?: string;
  rejectedCount?: number;
  rejected?: RejectionMessage[];
  degraded?: boolean;
  txId?: string;
  deadLetteredCount?: number;
  deadLetterTable?: string;
  deadLettered?: { index: number; id: string }[];
  error?: { code: string; message: string; details: RejectionMessage[]; txId?: string };
}

/** The Ingest service over the node's write pipeline. */
export function ingestGrpcService(ctx: ApiContext): GrpcService {
  const definition = loadDefinition();
  // A unary write past a table's rate is refused (RESOURCE_EXHAUSTED, retry pushback); a stream's batch waits, like admission.
  // Nothing here may throw before the door's write: only the door gives the ticket back (options are resolved by checkRequest).
  const write = async (req: WriteRequestMessage, options: WriteOptions, ticket: AdmissionTicket, wait?: AbortSignal): Promise<WriteReplyMessage> => {
    const result = await ctx.door.write(
      {
        table: req.table,
        // Protobuf messages travel as one body with their lengths: each is decoded (and refused) on its own.
        ...(req.messages.length > 0 ? { body: Buffer.concat(req.messages), frames: Uint32Array.from(req.messages, (m) => m.length), frameFormat: 'protobuf' as const } : { body: req.records }),
        format: 'auto',
        onInvalid: options.onInvalid,
        source: 'grpc',
        consistency: options.consistency,
        ...(req.atomic ? { atomic: true } : {}),
        ...(wait === undefined ? {} : { rateLimit: 'wait' as const, signal: wait }),
      },
      ticket,
      ctx.endpoints.grpc.progress,
    );
    return replyOf(req.sequence, result);
  };
  const auth = ctx.auth.auth;
  const authenticate = authInterceptor(auth, INGEST_SERVICE);
  const reads = new StreamReads({
    path: `/${INGEST_SERVICE}/WriteStream`,
    streamsMax: ctx.config.grpcStreamsMax,
    idleMs: ctx.config.grpcStreamIdleTimeoutMs,
    onTimedOut: () => ctx.metrics.grpcReadTimeouts.inc({ call: 'stream' }),
    onWaiting: (delta) => ctx.metrics.grpcStreamBatchesWaiting.inc(delta),
    onRefused: () => ctx.metrics.overloaded.inc({ reason: 'grpc_streams' }),
  });
  const unary = new UnaryReads({
    path: `/${INGEST_SERVICE}/Write`,
    readsMax: ctx.config.grpcUnaryReadsMax,
    waitingMax: grpcUnaryWaitingMax(ctx.config),
    // As the import route asks before it spools a body; one byte: a message of any size would be refused once read.
    canAdmit: () => {
      const probe = ctx.door.tryAdmit(1);
      probe?.release();
      return probe !== undefined;
    },
    readTimeoutMs: ctx.config.grpcUnaryReadTimeoutMs,
    onTimedOut: () => ctx.metrics.grpcReadTimeouts.inc({ call: 'unary' }),
    onReading: (delta) => ctx.metrics.grpcUnaryWritesReading.inc(delta),
    onWaiting: (delta) => ctx.metrics.grpcUnaryWritesWaiting.inc(delta),
    onRefused: (reason) => ctx.metrics.overloaded.inc({ reason }),
  });
  /** Checks a request and resolves its options, all before admission: a refused request holds no ticket. */
  const checkRequest = (req: WriteRequestMessage, call: { metadata: Metadata; getPath(): string; getPeer(): string }): WriteOptions => {
    if (req.table === '') throw new SluiceError('INVALID_ARGUMENT', 'table is required');
    // Per request, before the table is looked up: a denied caller learns nothing of which tables exist.
    authorizeWrite(auth, call.metadata, call.getPath(), call.getPeer(), req.table);
    const bytes = requestBytes(req);
    if (bytes > ctx.config.bodyBytesMax) throw new SluiceError('PAYLOAD_TOO_LARGE', `records are ${bytes} bytes; the limit is ${ctx.config.bodyBytesMax}`);
    if (req.messages.length > 0 && req.records.length > 0) throw new SluiceError('INVALID_ARGUMENT', 'send records (JSON) or messages (protobuf), not both');
    // Resolves the table (or an alias) before admission, as HTTP does: a typo is a 404, not a 429.
    const entry = ctx.services().catalog.require(req.table);
    return {
      // Empty: the table's default; an atomic batch is all or nothing whatever the default.
      onInvalid: pick<OnInvalid>('on_invalid', req.onInvalid, INVALID_POLICIES, req.atomic ? 'reject' : (currentDef(entry).onInvalid ?? 'reject')),
      consistency: pick<Consistency>('consistency', req.consistency, ['one', 'quorum', 'all'], 'quorum'),
    };
  };

  /**
   * One stream batch: checked, admitted (waiting for room), written. `settled` runs once the batch
   * has left the wait, admitted or not. Rejects only for what ends the stream.
   */
  const admitAndWrite = async (req: WriteRequestMessage, call: { metadata: Metadata; getPath(): string; getPeer(): string }, gone: AbortSignal, settled: () => void): Promise<WriteReplyMessage> => {
    try {
      let options: WriteOptions;
      let ticket: AdmissionTicket;
      try {
        options = checkRequest(req, call);
        ticket = await ctx.door.admit(requestBytes(req), gone);
      } finally {
        settled();
      }
      return await write(req, options, ticket, gone);
    } catch (err) {
      // The node stopping (or not ready), or the stream's token revoked or expired, ends the stream; any other error answers this batch only.
      if (isSluiceError(err) && (err.code === 'SHUTTING_DOWN' || err.code === 'NOT_READY' || err.code === 'UNAUTHENTICATED')) throw err;
      return errorReplyOf(req.sequence, err);
    }
  };

  // Each open stream's check whether it may end; a stopping server asks them all (drain).
  const streams = new Set<() => void>();
  let draining = false;

  return {
    name: INGEST_SERVICE,
    definition,
    // Authentication first (inner): a refused call is never counted as a stream or a unary call being read.
    interceptor: (method, call) => unary.interceptor(method, reads.interceptor(method, authenticate(method, call))),
    // A shipper keeps its stream open between batches: without this, every stop waited out its grace, then cut the stream.
    drain: () => {
      draining = true;
      for (const endIfDone of streams) endIfDone();
    },
    // The interceptor authenticates every call; the handlers check write:<table> per request (per batch of a stream).
    access: { Write: 'bearer-token', WriteStream: 'bearer-token' },
    implementation: {
      Write(call: ServerUnaryCall<WriteRequestMessage, WriteReplyMessage>, callback: sendUnaryData<WriteReplyMessage>) {
        const req = call.request;
        let options: WriteOptions;
        let ticket: AdmissionTicket | undefined;
        try {
          options = checkRequest(req, call);
          ticket = ctx.door.tryAdmit(requestBytes(req));
          if (ticket === undefined) {
            ctx.metrics.overloaded.inc({ reason: 'admission' });
            throw new SluiceError('OVERLOADED', 'too many writes in flight; retry later');
          }
        } catch (err) {
          unary.settled(call.metadata);
          callback(toServiceError(err));
          return;
        }
        unary.settled(call.metadata);
        write(req, options, ticket).then(
          (reply) => callback(null, reply),
          (err: unknown) => callback(toServiceError(err)),
        );
      },

      WriteStream(call: ServerDuplexStream<WriteRequestMessage, WriteReplyMessage>) {
        // Aborted when the stream goes away: a batch waiting for admission gives up.
        const gone = new AbortController();
        const held = reads.of(call.metadata);
        // The interceptor registers every WriteStream call before its handler runs.
        if (held === undefined) throw new Error('WriteStream call without its read gate');
        // Batches read and not yet answered; `owed`: a read held back while the stream has its most in flight.
        let inFlight = 0;
        let owed = false;
        let ended = false;
        let failed = false;
        // Replies go out in request order: each waits for the one before it.
        let previous: Promise<void> = Promise.resolve();
        const finishIfDone = (): void => {
          if (failed || inFlight > 0 || call.writableEnded) return;
          if (ended) {
            streams.delete(finishIfDone);
            call.end();
          } else if (draining) {
            // UNAVAILABLE: the client sends its next batches to another node (or again once this one is back).
            fail(new SluiceError('SHUTTING_DOWN', 'the node is stopping; send the next batches again'));
          }
        };
        const fail = (err: unknown): void => {
          if (failed) return;
          failed = true;
          streams.delete(finishIfDone);
          gone.abort();
          // grpc-js ends a server stream with the status of an emitted error.
          call.emit('error', Object.assign(new Error((err as Error).message), toServiceError(err)));
        };
        // The next batch is read only once this one has left the wait: a stream holds at most one batch outside admission (decision 51).
        const settled = (): void => {
          held.settled();
          if (inFlight < GRPC_STREAM_BATCHES_IN_FLIGHT_MAX) held.allow();
          else owed = true;
        };
        call.on('data', (req: WriteRequestMessage) => {
          inFlight++;
          const done = admitAndWrite(req, call, gone.signal, settled);
          // Taken in request order below, maybe only after earlier batches are written: until then a
          // rejection (UNAUTHENTICATED, SHUTTING_DOWN) must not count as unhandled, which ends the process.
          done.catch(() => undefined);
          previous = previous.then(async () => {
            try {
              const reply = await done;
              if (!failed && !call.cancelled) call.write(reply);
            } catch (err) {
              fail(err);
            } finally {
              inFlight--;
              // The idle clock (decision 55) runs again once nothing of the stream is unanswered.
              held.answered();
              if (owed && !failed) {
                owed = false;
                held.allow();
              }
              finishIfDone();
            }
          });
        });
        call.on('end', () => {
          ended = true;
          finishIfDone();
        });
        call.on('cancelled', () => {
          failed = true;
          streams.delete(finishIfDone);
          gone.abort();
        });
        streams.add(finishIfDone);
        // A stream that opens as the node stops ends at once.
        finishIfDone();
      },
    },
  };
}

/** Bytes of a request's records, JSON or protobuf. */
function requestBytes(req: WriteRequestMessage): number {
  let n = req.records.length;
  for (const m of req.messages) n += m.length;
  return n;
}

function loadDefinition(): ServiceDefinition {
  const pkg = loadSync(PROTO, { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true });
  const loaded = loadPackageDefinition(pkg) as unknown as { sluice: { v1: { Ingest: { service: ServiceDefinition } } } };
  return loaded.sluice.v1.Ingest.service;
}

function pick<T extends string>(name: string, value: string, allowed: readonly T[], fallback: T): T {
  if (value === '') return fallback;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new SluiceError('INVALID_ARGUMENT', `${name} must be one of ${allowed.join(', ')}`, [{ path: name, message: `got ${JSON.stringify(value)}` }]);
}

function replyOf(sequence: string, result: WriteResult): WriteReplyMessage {
  return {
    sequence,
    written: result.written,
    ids: result.ids.toArray().map((id) => id ?? ''),
    token: result.token ?? '',
    rejectedCount: result.rejectedCount,
    rejected: (result.rejected ?? []).map((r) => ({ index: r.index, path: r.path, message: r.message, code: r.code })),
    degraded: result.degraded === true,
    txId: result.txId ?? '',
    deadLetteredCount: result.deadLettered?.count ?? 0,
    deadLetterTable: result.deadLettered?.table ?? '',
    deadLettered: (result.deadLettered?.letters ?? []).map((l) => ({ index: l.index, id: l.id })),
  };
}

function errorReplyOf(sequence: string, err: unknown): WriteReplyMessage {
  const e = isSluiceError(err) ? err : new SluiceError('INTERNAL', err instanceof Error ? err.message : String(err));
  return {
    sequence,
    error: {
      code: e.code,
      message: e.message,
      details: e.details.map((d) => ({ index: d.index ?? 0, path: d.path ?? '', message: d.message, code: d.code ?? '' })),
      txId: e.txId ?? '',
    },
  };
}
