/**
 * Reads a request body into one Buffer with every bound enforced while
 * reading, not after: the byte limit (before and after gzip), the admission
 * ticket (chunked bodies grow it as they arrive), and a decompression cap
 * so a gzip bomb stops at the limit instead of filling memory.
 */
import type { IncomingMessage } from 'node:http';
import { createGunzip } from 'node:zlib';
import { SluiceError } from '../../core/errors.ts';
import type { AdmissionTicket } from '../../ingest/admission.ts';
import { continueIfExpected } from './expect-continue.ts';

/** Output chunk of the inflater: large enough that a 16 MiB body is a few hundred callbacks, not a thousand. */
const INFLATE_CHUNK_BYTES = 64 * 1024;

/** Limits of one body read. */
export interface BodyReadOptions {
  readonly bodyBytesMax: number;
  /** Admission ticket to grow as bytes arrive (write routes only). */
  readonly ticket?: AdmissionTicket;
  /** Content-Encodings the caller decodes itself (Loki's `snappy`): the body is returned as it came. @default [] */
  readonly rawEncodings?: readonly string[];
}

/** Reads the whole body of `req`, gunzipping it when `Content-Encoding: gzip`. */
export async function readBody(req: IncomingMessage, options: BodyReadOptions): Promise<Buffer> {
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
  const raw = options.rawEncodings?.includes(encoding) === true;
  if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'x-gzip' && !raw) {
    throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', `Content-Encoding ${encoding} is not supported (use gzip or none)`);
  }
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > options.bodyBytesMax) {
    throw tooLarge(options.bodyBytesMax);
  }
  continueIfExpected(req);
  const collected = await collect(req, options, Number.isFinite(declared) ? declared : undefined);
  if (encoding === 'identity' || raw) return collected;
  return inflate(collected, options);
}

/**
 * Gunzips `compressed`, holding what it inflates to against the limit and
 * the ticket chunk by chunk: admitted by its wire size, a 16 KiB bomb must
 * not grow to the body limit before admission is asked (many at once
 * would hold their limit each).
 */
function inflate(compressed: Buffer, options: BodyReadOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const gunzip = createGunzip({ chunkSize: INFLATE_CHUNK_BYTES });
    const chunks: Buffer[] = [];
    let length = 0;
    // The ticket already holds the compressed bytes (from Content-Length or as they came): inflated bytes count past those.
    let reserved = options.ticket?.bytes ?? 0;
    const fail = (err: SluiceError): void => {
      gunzip.removeAllListeners('data');
      gunzip.destroy();
      reject(err);
    };
    gunzip.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (length > options.bodyBytesMax) return fail(tooLarge(options.bodyBytesMax, ' after decompression'));
      if (options.ticket !== undefined && length > reserved) {
        if (!options.ticket.grow(length - reserved)) return fail(new SluiceError('OVERLOADED', 'too many bytes in flight; retry later'));
        reserved = length;
      }
      chunks.push(chunk);
    });
    gunzip.on('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, length)));
    gunzip.on('error', (err) => reject(new SluiceError('BAD_REQUEST', `the gzip body is corrupt: ${err.message}`)));
    gunzip.end(compressed);
  });
}

function collect(req: IncomingMessage, options: BodyReadOptions, declared: number | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    // Bytes already reserved in the ticket from Content-Length.
    let reserved = options.ticket?.bytes ?? 0;
    const fail = (err: SluiceError): void => {
      req.removeListener('data', onData);
      req.removeListener('end', onEnd);
      // Keep draining so the connection can answer the error; drop the bytes.
      req.resume();
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      length += chunk.length;
      if (length > options.bodyBytesMax) return fail(tooLarge(options.bodyBytesMax));
      if (options.ticket !== undefined && length > reserved) {
        if (!options.ticket.grow(length - reserved)) {
          return fail(new SluiceError('OVERLOADED', 'too many bytes in flight; retry later'));
        }
        reserved = length;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      if (declared !== undefined && length !== declared) {
        reject(new SluiceError('BAD_REQUEST', `body has ${length} bytes, Content-Length said ${declared}`));
        return;
      }
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, length));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', (err) => reject(new SluiceError('BAD_REQUEST', `reading the body failed: ${err.message}`)));
  });
}

function tooLarge(limit: number, where = ''): SluiceError {
  return new SluiceError('PAYLOAD_TOO_LARGE', `the body is larger than ${limit} bytes${where}`);
}
