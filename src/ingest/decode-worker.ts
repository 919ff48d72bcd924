/**
 * The decode worker (runs in a piscina worker thread): parses a large body,
 * validates and encodes it, and hands the record batch back by transfer.
 * Errors travel as plain data because structured clone drops an Error's
 * own fields (code, details).
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { SluiceError } from '../core/errors.ts';
import { compileSchema, type CompiledSchema } from '../core/schema/compile-schema.ts';
import type { TableDef } from '../core/schema/table-def.ts';
import { decodeBody, type BodyFormat } from './decode-body.ts';
import { decodeFrames, type FrameFormat } from './decode-frames.ts';
import { protoDecoder, type ProtoDecoder } from '../core/schema/proto-schema.ts';
import { encodeBatch, type EncodeContext, type EncodedBatch } from './batch-encoder.ts';
import { encodeJsonBody, encodeJsonFrames } from './encode-json-text.ts';
import { wrapFrames, type FrameEnvelope } from './frame-envelope.ts';
import { encodeOtlp, type OtlpBodyOptions } from './formats/otlp/encode-otlp.ts';
import { checkJsonContainers, threadJsonContainersMax } from './formats/json-containers.ts';

/** The input of one decode task. */
export interface DecodeTask {
  readonly body: Uint8Array;
  readonly format: BodyFormat;
  /** Byte length of each record when the body is separate JSON texts back to back (`format` is then ignored). */
  readonly frames?: Uint32Array;
  /** How each frame is encoded. @default 'json' */
  readonly frameFormat?: FrameFormat;
  /** Each JSON frame is a document to wrap into a record (frame-envelope.ts). */
  readonly envelope?: FrameEnvelope;
  /** The body is an OTLP/HTTP logs request (`format` and `frames` are then ignored). */
  readonly otlp?: OtlpBodyOptions;
  readonly def: TableDef;
  readonly ctx: EncodeContext;
  readonly jsonDepthMax: number;
}

/**
 * Most objects and arrays a JSON body may open in this thread, counted on
 * its bytes before any JSON.parse: parsed, `{}` in an array takes ~56 bytes
 * of heap for 3 of text, so a body of them within the body limit built a
 * tree past a decode worker's heap (12× the limit), and V8 aborted the
 * whole process, not just the worker.
 */
const JSON_CONTAINERS_MAX = threadJsonContainersMax();

/**
 * The answer of one decode task. `body`: the task's body handed back from a
 * thread when records were refused, so the caller can decode it again (under
 * a newer schema version: decision 57) though it gave the body away.
 */
export type DecodeAnswer = { readonly ok: true; readonly encoded: EncodedBatch; readonly body?: Uint8Array } | { readonly ok: false; readonly error: ReturnType<SluiceError['toBody']>['error'] };

/**
 * Compiled schemas (each with its generated functions) and protobuf
 * decoders kept per thread: at most this many, the least recently used
 * dropped first. Without a bound a node with many tables, or whose schemas
 * evolve, kept every version it ever decoded. Compiling one again is cheap
 * (46–64 µs for the bench tables' schemas, then the encoder on first use).
 */
const COMPILED_CACHED_MAX = 256;

/** Values by key, the least recently used dropped past COMPILED_CACHED_MAX. */
class Compiled<T> {
  readonly #map = new Map<string, T>();
  /** The key last asked for: the most recent already, so a run of one table's bodies reorders nothing. */
  #lastKey = '';

  get size(): number {
    return this.#map.size;
  }

  /** The value of `key`, made by `make` when absent. */
  get(key: string, make: () => T): T {
    let value = this.#map.get(key);
    if (value !== undefined && key === this.#lastKey) return value;
    this.#lastKey = key;
    if (value !== undefined) {
      // Map order is insertion order: re-inserting makes this the most recent.
      this.#map.delete(key);
      this.#map.set(key, value);
      return value;
    }
    value = make();
    this.#map.set(key, value);
    if (this.#map.size > COMPILED_CACHED_MAX) this.#map.delete(this.#map.keys().next().value as string);
    return value;
  }
}

const schemas = new Compiled<CompiledSchema>();

/** Compiles a schema once per (table, version) per thread, keeping the COMPILED_CACHED_MAX most recently used. */
export function schemaFor(def: TableDef, tableId: number, jsonDepthMax: number): CompiledSchema {
  return schemas.get(`${tableId}:${def.version}:${jsonDepthMax}`, () => compileSchema(def, { jsonDepthMax }));
}

/** How many compiled schemas this thread holds (tests). */
export function schemasCached(): number {
  return schemas.size;
}

const protos = new Compiled<ProtoDecoder>();

/** The table's protobuf decoder, compiled once per (table, version) per thread; UNSUPPORTED_MEDIA_TYPE without a message. */
function protoFor(def: TableDef, tableId: number): ProtoDecoder {
  if (def.proto === undefined) throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', `table ${def.name} has no protobuf message; create it with "proto" to send binary records`);
  const proto = def.proto;
  return protos.get(`${tableId}:${def.version}`, () => protoDecoder(proto, def.fields));
}

/** Decodes and encodes one body; never throws on user input. */
export function runDecode(task: DecodeTask): DecodeAnswer {
  try {
    if (task.otlp !== undefined) {
      const schema = schemaFor(task.def, task.ctx.tableId, task.jsonDepthMax);
      return { ok: true, encoded: encodeOtlp(task.body, task.otlp, schema, task.ctx, task.jsonDepthMax) };
    }
    if (task.frameFormat !== 'protobuf') checkJsonContainers(task.body, JSON_CONTAINERS_MAX);
    else if (task.frames !== undefined) checkProtoObjects(task.body, task.frames, protoFor(task.def, task.ctx.tableId));
    const schema = schemaFor(task.def, task.ctx.tableId, task.jsonDepthMax);
    const text = encodeJsonText(task, schema);
    if (text !== undefined) return { ok: true, encoded: text };
    const records = task.frames === undefined ? decodeBody(task.body, task.format) : framedRecords(task, task.frames);
    return { ok: true, encoded: encodeBatch(records, schema, task.ctx) };
  } catch (err) {
    if (err instanceof SluiceError) return { ok: false, error: err.toBody().error };
    throw err;
  }
}

/**
 * PAYLOAD_TOO_LARGE when the protobuf frames would build more objects than
 * the JSON bound lets a body open (proto-wire-count.ts); a body shorter than
 * the bound cannot (every counted object takes a byte of wire, or a frame).
 */
function checkProtoObjects(body: Uint8Array, frames: Uint32Array, proto: ProtoDecoder): void {
  if (body.length + frames.length <= JSON_CONTAINERS_MAX) return;
  let left = JSON_CONTAINERS_MAX;
  let at = 0;
  for (const len of frames) {
    left -= proto.objects(body.subarray(at, at + len), left);
    if (left < 0) throw new SluiceError('PAYLOAD_TOO_LARGE', `the messages would build more than ${JSON_CONTAINERS_MAX} objects (nested messages, repeated elements, map entries), more than a decode thread holds: send smaller batches`);
    at += len;
  }
}

/** The batch of a JSON body or JSON frames, encoded from the bytes (encode-json-text.ts); undefined for the other inputs. */
function encodeJsonText(task: DecodeTask, schema: CompiledSchema): EncodedBatch | undefined {
  if (task.frames !== undefined) return task.envelope === undefined && task.frameFormat !== 'protobuf' ? encodeJsonFrames(task.body, task.frames, schema, task.ctx) : undefined;
  return encodeJsonBody(task.body, task.format, schema, task.ctx);
}

function framedRecords(task: DecodeTask, frames: Uint32Array): unknown[] {
  if (task.envelope !== undefined) return wrapFrames(decodeFrames(task.body, frames, undefined, task.envelope.noun), task.envelope, task.ctx.nowMs);
  return decodeFrames(task.body, frames, task.frameFormat === 'protobuf' ? protoFor(task.def, task.ctx.tableId) : undefined);
}

/** piscina entry point. */
export default function decodeTask(task: DecodeTask): DecodeAnswer {
  const decoded = runDecode(task);
  if (!decoded.ok) return decoded;
  // Refused records only (never on the success path): the body goes back by transfer, not copied.
  const back = decoded.encoded.rejectedCount > 0 && task.body.buffer !== decoded.encoded.batch.buffer && task.body.buffer instanceof ArrayBuffer;
  const answer: DecodeAnswer = back ? { ...decoded, body: task.body } : decoded;
  // Transfer the batch's memory instead of copying it; the builder allocates
  // outside Node's shared buffer pool in a worker thread (msgpack-writer.ts), so the ArrayBuffer is the batch's alone.
  const transferable = {
    get [transferableSymbol]() {
      return back ? [decoded.encoded.batch.buffer, task.body.buffer] : [decoded.encoded.batch.buffer];
    },
    get [valueSymbol]() {
      return answer;
    },
  };
  return move(transferable as never) as unknown as DecodeAnswer;
}
