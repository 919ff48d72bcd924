/**
 * The sending end of the replica write stream to one peer (decision 33):
 * replica Writes go as messages of one long-lived bidirectional gRPC call
 * instead of one unary call each, which costs less than half the CPU per
 * copy (no HTTP/2 stream, headers, trailers or caller check per batch).
 *
 * The failure semantics are a unary call's, write by write: each write has
 * its own deadline, and one that passes it is NO_QUORUM (the caller hints
 * it; the replica may still apply it, and a retry is idempotent). A
 * stream that ends or fails fails its waiting writes as the same unary
 * status would (unreachable → NO_QUORUM), and the next write opens a new
 * one. A peer that does not serve the stream (UNIMPLEMENTED:
 * an earlier release) fails the waiting writes with StreamRefused, which
 * tells the transport to send them, and the peer's next ones, as unary
 * calls.
 */
import { status, type ClientDuplexStream, type StatusObject } from '@grpc/grpc-js';
import { SluiceError, isSluiceError } from '../../core/errors.ts';
import type { WriteReply, WriteRequest } from './replica-messages.ts';
import { peerCallError, refusedCertificate, refusesTheCaller } from './replica-service.ts';
import { decodeStreamReply, encodeStreamWrite } from './write-stream-messages.ts';

/** The peer does not serve the write stream; nothing sent on it was applied. */
export class StreamRefused extends Error {}

/** Opens a new write stream call to the peer. */
export type OpenWriteStream = () => ClientDuplexStream<Buffer, Buffer>;

interface Waiting {
  readonly resolve: (reply: WriteReply) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** One bidirectional call and the writes waiting for their answers on it. */
interface OpenStream {
  readonly call: ClientDuplexStream<Buffer, Buffer>;
  readonly waiting: Map<number, Waiting>;
}

/**
 * The write stream to one peer, opened on the first write and again after
 * it ends. One stream, not one per write in flight: HTTP/2 serves the
 * streams of a connection unevenly, and with 16 streams (or 16 unary
 * calls) to a busy peer the slowest write waited 5 s while the median took
 * 5 ms; on one stream writes are answered in the order the replica
 * finishes them, p99 within 2.5× the median (a scratch two-process
 * bench, decision 33). The peer
 * listener's wide flow-control window (PEER_HTTP2_STREAM_WINDOW_BYTES)
 * lets a whole batch cross in one flight.
 */
export class PeerWriteStream {
  private readonly nodeId: string;
  private readonly openCall: OpenWriteStream;
  private current: OpenStream | undefined;
  private nextId = 0;

  constructor(nodeId: string, openCall: OpenWriteStream) {
    this.nodeId = nodeId;
    this.openCall = openCall;
  }

  /** Sends `request` on the stream; resolves with the replica's reply, or rejects as a unary Write would (or StreamRefused). */
  write(request: WriteRequest, timeoutMs: number): Promise<WriteReply> {
    const s = this.current ?? this.start();
    const id = this.nextId++;
    return new Promise<WriteReply>((resolve, reject) => {
      const timer = setTimeout(() => this.expire(s, id, timeoutMs), timeoutMs);
      s.waiting.set(id, { resolve, reject, timer });
      s.call.write(encodeStreamWrite(id, request));
    });
  }

  /** Half-closes the stream: the writes on it are still answered; the next write opens a new one (on a renewed channel). */
  end(): void {
    const s = this.current;
    this.current = undefined;
    s?.call.end();
  }

  /** Ends the stream at once: its waiting writes fail with NO_QUORUM. */
  cancel(): void {
    const s = this.current;
    this.current = undefined;
    s?.call.cancel();
  }

  private start(): OpenStream {
    const call = this.openCall();
    const s: OpenStream = { call, waiting: new Map() };
    this.current = s;
    call.on('data', (bytes: Buffer) => this.answer(s, bytes));
    call.on('status', (st: StatusObject) => this.ended(s, st));
    // Every failure also arrives as a status, which settles the waiting writes.
    call.on('error', () => undefined);
    return s;
  }

  private answer(s: OpenStream, bytes: Buffer): void {
    let decoded: ReturnType<typeof decodeStreamReply>;
    try {
      decoded = decodeStreamReply(bytes, this.nodeId);
    } catch (err) {
      const e = isSluiceError(err) ? new SluiceError(err.code, `replica ${this.nodeId}: ${err.message}`, err.details, { cause: err }) : (err as Error);
      this.fail(s, () => e);
      s.call.cancel();
      return;
    }
    const w = s.waiting.get(decoded.id);
    if (w === undefined) return; // its deadline passed: the caller already counted it missing
    s.waiting.delete(decoded.id);
    clearTimeout(w.timer);
    if ('reply' in decoded) return w.resolve(decoded.reply);
    w.reject(refusesTheCaller(decoded.error.grpcStatus) ? refusedCertificate(this.nodeId, decoded.error.message) : decoded.error);
  }

  /**
   * A write's deadline passed: that write alone is NO_QUORUM. The stream
   * stays, as a unary call's connection does: a replica that holds writes
   * while its index catches up is slow, not gone, and failing every write
   * on the stream with it would make it suspect for nothing. A dead peer
   * ends the stream itself (reset connection, health checks).
   */
  private expire(s: OpenStream, id: number, timeoutMs: number): void {
    const w = s.waiting.get(id);
    if (w === undefined) return;
    s.waiting.delete(id);
    w.reject(new SluiceError('NO_QUORUM', `replica ${this.nodeId}: no answer to a write within ${timeoutMs} ms`));
  }

  private ended(s: OpenStream, st: StatusObject): void {
    if (this.current === s) this.current = undefined;
    if (st.code === status.UNIMPLEMENTED) return this.fail(s, () => new StreamRefused(`replica ${this.nodeId} does not serve the write stream`));
    const err = st.code === status.OK ? new SluiceError('NO_QUORUM', `replica ${this.nodeId}: the write stream ended`) : peerCallError(st, this.nodeId);
    this.fail(s, () => err);
  }

  private fail(s: OpenStream, error: () => Error): void {
    for (const w of s.waiting.values()) {
      clearTimeout(w.timer);
      w.reject(error());
    }
    s.waiting.clear();
  }
}
