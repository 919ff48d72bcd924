/**
 * The messages of `sluice.v1.Replica/WriteStream`, the replica-v1 write
 * stream (decision 33): one long-lived bidirectional gRPC call per peer
 * carries that peer's replica Writes, instead of one unary call each. The
 * stream is an optional part of replica-v1: a node that answers it
 * UNIMPLEMENTED (an earlier release) gets unary Writes.
 *
 *   request message => a Write request (replica-messages.ts) plus
 *                      `id: int`, unique among the stream's unanswered writes
 *   reply message   => map { id: int, lsn: decimal }             applied, as Write's reply
 *                    | map { id: int, error: map { code: str, message: str } }
 *                                                               refused: a sluice error code
 *
 * Replies come in any order (a replica answers each write when its WAL
 * has it), matched to their request by id. An id the caller no longer
 * waits for (its deadline passed) is ignored. A request the receiver
 * cannot read at all, not even its id, ends the stream with
 * REPLICA_PROTOCOL.
 */
import { ERROR_CODES, SluiceError, type ErrorCode } from '../../core/errors.ts';
import { REPLICA_PROTOCOL, checkReply, checkRequest, decodeMessage, encodeMessage, type WriteReply, type WriteRequest } from './replica-messages.ts';

/** The stream's method name in the Replica service. */
export const WRITE_STREAM_METHOD = 'WriteStream';

/** A decoded reply: the write it answers, and its outcome. */
export type StreamReply = { readonly id: number; readonly reply: WriteReply } | { readonly id: number; readonly error: SluiceError };

/** One write on the stream. */
export function encodeStreamWrite(id: number, request: WriteRequest): Buffer {
  return encodeMessage({ id, ...request });
}

/** A decoded request: its id, and the Write or why it cannot be applied. */
export type StreamWrite = { readonly id: number; readonly request: WriteRequest } | { readonly id: number; readonly error: SluiceError };

/**
 * A request message. A malformed Write with a readable id comes back as
 * its REPLICA_PROTOCOL error (that write is refused, the stream goes on);
 * a message without a readable id throws REPLICA_PROTOCOL (nothing can be
 * answered: the stream must end).
 */
export function decodeStreamWrite(bytes: Buffer): StreamWrite {
  const value = decodeOrRefuse(bytes, 'request');
  const { id: rawId, ...request } = value as { id?: unknown };
  const id = idOf(rawId, 'request');
  try {
    return { id, request: checkRequest('Write', request) };
  } catch (err) {
    return { id, error: err as SluiceError };
  }
}

/** The answer to write `id`: its reply, or the error it was refused with (an error without a sluice code is INTERNAL). */
export function encodeStreamReply(id: number, outcome: { reply: WriteReply } | { error: unknown }): Buffer {
  if ('reply' in outcome) return encodeMessage({ id, lsn: outcome.reply.lsn });
  const err = outcome.error;
  const code: ErrorCode = err instanceof SluiceError ? err.code : 'INTERNAL';
  return encodeMessage({ id, error: { code, message: err instanceof Error ? err.message : String(err) } });
}

/** A reply message from node `peer`; REPLICA_PROTOCOL when it is not one. */
export function decodeStreamReply(bytes: Buffer, peer: string): StreamReply {
  const value = decodeOrRefuse(bytes, 'reply');
  const id = idOf((value as { id?: unknown }).id, 'reply');
  const error = (value as { error?: unknown }).error;
  if (error === undefined) return { id, reply: { lsn: checkReply('Write', value).lsn } };
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code !== 'string' || typeof message !== 'string') throw malformed('reply', 'field error must be a map { code: str, message: str }');
  // A code this release does not know is still the peer's refusal: INTERNAL, with the peer's code in the message.
  if (!(code in ERROR_CODES)) return { id, error: new SluiceError('INTERNAL', `${peer}: ${code}: ${message}`) };
  return { id, error: new SluiceError(code as ErrorCode, `${peer}: ${message}`) };
}

function decodeOrRefuse(bytes: Buffer, side: 'request' | 'reply'): object {
  let value: unknown;
  try {
    value = decodeMessage(bytes);
  } catch (err) {
    throw new SluiceError('REPLICA_PROTOCOL', `${REPLICA_PROTOCOL} ${WRITE_STREAM_METHOD} ${side}: not a msgpack value (${(err as Error).message})`, [], { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Buffer.isBuffer(value)) throw malformed(side, 'the message must be a msgpack map');
  return value;
}

function idOf(id: unknown, side: 'request' | 'reply'): number {
  if (!Number.isSafeInteger(id) || (id as number) < 0) throw malformed(side, 'field id must be an integer >= 0');
  return id as number;
}

function malformed(side: 'request' | 'reply', what: string): SluiceError {
  return new SluiceError('REPLICA_PROTOCOL', `${REPLICA_PROTOCOL} ${WRITE_STREAM_METHOD} ${side}: ${what}`);
}
