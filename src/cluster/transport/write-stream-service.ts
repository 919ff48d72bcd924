/**
 * The receiving end of the replica write stream (write-stream-messages.ts,
 * decision 33): each message on a peer's stream is one replica Write,
 * applied by the same handler a unary Write reaches and answered by id
 * when its WAL has it. The caller was checked when the stream opened (the
 * peer listener's interceptor), and `admit` is asked again before each
 * write, so a node decommissioned while its stream is open is refused
 * from its next write on, as its next unary call would be.
 *
 * A stopping node drains: every stream ends once its writes are answered,
 * and writes that still arrive are refused with NO_QUORUM (the caller
 * hints them, as it would a unary call the stopping server refused).
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { SluiceError } from '../../core/errors.ts';
import type { WriteReply, WriteRequest } from './replica-messages.ts';
import { checkProtocolVersion, toServiceError } from './replica-service.ts';
import { decodeStreamWrite, encodeStreamReply } from './write-stream-messages.ts';

/** Whether a stream's caller may still write: resolves, or rejects with the reason. */
export type StreamAdmission = () => Promise<void>;

/** The write stream's handler and the drain a stopping server calls. */
export interface WriteStreamServer {
  readonly handle: (call: ServerDuplexStream<Buffer, Buffer>) => void;
  /** Ends every open stream once its writes are answered, and refuses the writes that still arrive. */
  drain(): void;
}

/** One open stream: its call, how many of its writes are unanswered, and whether the caller has half-closed it. */
interface OpenStream {
  readonly call: ServerDuplexStream<Buffer, Buffer>;
  pending: number;
  callerDone: boolean;
}

/**
 * Serves write streams with `write` (the Replica service's Write handler).
 * `admission` gives, per stream, the check asked before each write
 * (absent: every write is admitted, as on a plaintext peer listener).
 */
export function writeStreamServer(write: (request: WriteRequest) => Promise<WriteReply>, admission?: (call: ServerDuplexStream<Buffer, Buffer>) => StreamAdmission): WriteStreamServer {
  const open = new Set<OpenStream>();
  let draining = false;
  // A stream ends once nothing is pending and either side is done with it.
  const endIfDone = (s: OpenStream): void => {
    if ((draining || s.callerDone) && s.pending === 0 && s.call.writable) s.call.end();
  };
  const handle = (call: ServerDuplexStream<Buffer, Buffer>): void => {
    let admit: StreamAdmission;
    try {
      checkProtocolVersion('Write', call.metadata);
      admit = admission?.(call) ?? (() => Promise.resolve());
    } catch (err) {
      call.emit('error', toServiceError(err));
      return;
    }
    const s: OpenStream = { call, pending: 0, callerDone: false };
    open.add(s);
    const answer = (bytes: Buffer): void => {
      if (call.writable) call.write(bytes);
    };
    call.on('data', (bytes: Buffer) => {
      let decoded: ReturnType<typeof decodeStreamWrite>;
      try {
        decoded = decodeStreamWrite(bytes);
      } catch (err) {
        call.emit('error', toServiceError(err));
        return;
      }
      const { id } = decoded;
      if ('error' in decoded) return answer(encodeStreamReply(id, { error: decoded.error }));
      if (draining) {
        answer(encodeStreamReply(id, { error: new SluiceError('NO_QUORUM', 'the replica is stopping') }));
        return endIfDone(s);
      }
      s.pending++;
      admit()
        .then(() => write(decoded.request))
        .then(
          (reply) => answer(encodeStreamReply(id, { reply })),
          (err: unknown) => answer(encodeStreamReply(id, { error: err })),
        )
        .finally(() => {
          s.pending--;
          endIfDone(s);
        });
    });
    // The caller half-closed (it renewed its channel, or is closing): answer what is pending, then end.
    call.on('end', () => {
      s.callerDone = true;
      endIfDone(s);
    });
    call.on('finish', () => open.delete(s));
    call.on('cancelled', () => open.delete(s));
    call.on('error', () => open.delete(s));
    endIfDone(s);
  };
  return {
    handle,
    drain: () => {
      draining = true;
      for (const s of open) endIfDone(s);
    },
  };
}
