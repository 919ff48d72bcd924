/**
 * An OTLP/HTTP logs body (ExportLogsServiceRequest, protobuf or JSON)
 * straight into a record batch, as one decode task: decode, map to the
 * OTLP logs table's records, validate and encode, on one thread and with
 * no JSON text in between (the pipeline's decode pool runs it; see
 * decode-worker.ts).
 *
 * Two numberings: the decoder's (every log record of the request) and the
 * batch's (only the records that reached validation). The batch's own
 * `positions`, `rejected` and `total` are in the second; `decoded` maps it
 * back to the first and lists what the decoder refused on its own.
 */
import { SluiceError } from '../../../core/errors.ts';
import type { CompiledSchema } from '../../../core/schema/compile-schema.ts';
import { encodeBatch, type EncodeContext, type EncodedBatch } from '../../batch-encoder.ts';
import { JSON_BYTES_PER_CONTAINER_MIN } from '../json-containers.ts';
import { refusedIndexes } from '../../dead-letters/collect-dead-letters.ts';
import { decodeOtlpJson } from './decode-otlp-json.ts';
import { decodeOtlpProtobuf } from './decode-otlp-protobuf.ts';
import { mapLogEntries } from './map-log-entries.ts';

/** How an OTLP request is encoded. */
export type OtlpEncoding = 'protobuf' | 'json';

/** What a decode task needs to know about an OTLP body. */
export interface OtlpBodyOptions {
  readonly encoding: OtlpEncoding;
  /**
   * Largest record batch the body may become, bytes (the node's body limit):
   * a small protobuf body of near-empty log records can grow many times
   * over as records, and the WAL's frame limit is sized from the body limit.
   */
  readonly recordsBytesMax: number;
  /** Return each refused record's JSON (`refusedRaw`): the request dead-letters them. @default false */
  readonly letters?: boolean;
}

/**
 * Fewest bytes one log record takes in a batch: an empty record of the OTLP
 * logs table (service_name, time, time_unix_nano) encodes to 101 bytes or
 * more. A request of more records than `recordsBytesMax` over this could
 * never fit, so the decoders refuse it before building its entries.
 */
export const OTLP_RECORD_BATCH_BYTES_MIN = 64;

/** Decodes, maps, validates and encodes one OTLP body; throws the SluiceError of a body refused whole. */
export function encodeOtlp(body: Uint8Array, options: OtlpBodyOptions, schema: CompiledSchema, ctx: EncodeContext, depthMax: number): EncodedBatch {
  const limits = { depthMax, recordsMax: Math.floor(options.recordsBytesMax / OTLP_RECORD_BATCH_BYTES_MIN), containersMax: Math.floor(options.recordsBytesMax / JSON_BYTES_PER_CONTAINER_MIN) };
  const entries = options.encoding === 'protobuf' ? decodeOtlpProtobuf(body, limits) : decodeOtlpJson(body, limits);
  const mapped = mapLogEntries(entries, ctx.nowMs);
  const encoded = encodeBatch(mapped.records, schema, ctx);
  if (encoded.batch.byteLength > options.recordsBytesMax) {
    throw new SluiceError('PAYLOAD_TOO_LARGE', `the log records take ${encoded.batch.byteLength} bytes as records, more than the body limit of ${options.recordsBytesMax} bytes: send smaller batches`);
  }
  const decoded = { positions: Uint32Array.from(mapped.positions), rejected: mapped.rejected, total: entries.length };
  if (options.letters !== true || encoded.rejectedCount === 0) return { ...encoded, decoded };
  // A dead letter keeps the record the table refused, as JSON (what `sluice dlq replay` sends back to the table).
  const utf8 = new TextEncoder();
  const refusedRaw = refusedIndexes(encoded).map((i) => utf8.encode(JSON.stringify(mapped.records[i])));
  return { ...encoded, decoded, refusedRaw };
}
