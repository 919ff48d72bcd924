/**
 * Loki's protobuf push body: a snappy block holding a `PushRequest`. The
 * messages below are the subset of Loki's `push.proto` a push needs,
 * written here from the wire contract (field numbers and types; Loki's own
 * Go module is AGPL and not used): fields we do not read (a stream's
 * `hash`, an entry's `parsed` labels) are skipped as unknown fields.
 */
import protobuf from 'protobufjs';
import { SluiceError } from '../../../../core/errors.ts';
import { ProtoReader } from '../../../../ingest/formats/otlp/proto-reader.ts';
import { snappyUncompressBlock } from '../../../../core/codec/snappy-block.ts';
import { parseLabelString } from './loki-labels.ts';
import { NO_METADATA, badPush, timeFromSecondsNanos, type LokiEntry, type LokiStream } from './loki-push.ts';

const PUSH_PROTO = `
syntax = "proto3";
package sluice.loki;
import "google/protobuf/timestamp.proto";

message PushRequest {
  repeated StreamAdapter streams = 1;
}
message StreamAdapter {
  string labels = 1;
  repeated EntryAdapter entries = 2;
}
message EntryAdapter {
  google.protobuf.Timestamp timestamp = 1;
  string line = 2;
  repeated LabelPairAdapter structuredMetadata = 3;
}
message LabelPairAdapter {
  string name = 1;
  string value = 2;
}
`;

/** The decoded shapes protobufjs hands back (int64 as a Long, or a number without long.js). */
interface WireLong {
  toNumber(): number;
}
interface WirePush {
  readonly streams: readonly WireStream[];
}
interface WireStream {
  readonly labels: string;
  readonly entries: readonly WireEntry[];
}
interface WireEntry {
  readonly timestamp?: { readonly seconds: number | WireLong; readonly nanos: number } | null;
  readonly line: string;
  readonly structuredMetadata: readonly { readonly name: string; readonly value: string }[];
}

const pushRequest: protobuf.Type = (() => {
  const parsed = protobuf.parse(PUSH_PROTO, { keepCase: true });
  parsed.root.addJSON(protobuf.common.get('google/protobuf/timestamp.proto')?.nested ?? {});
  return parsed.root.resolveAll().lookupType('sluice.loki.PushRequest');
})();

/**
 * Bytes of `bytesMax` per message (stream, entry, metadata pair) a push may
 * hold. protobufjs makes an object of each, 100-250 bytes of heap from as
 * few as 2 bytes of wire, before any of our checks: without a bound, a
 * push within the limit ran a decode worker out of heap (at 16 bytes a
 * message it still did). An entry takes 95+ bytes as a record (with its
 * stream's labels), so a push of more entries never fit anyway; one whose
 * entries carry many tiny metadata pairs may be refused a little earlier.
 */
export const PUSH_BYTES_PER_MESSAGE_MIN = 64;

/** Decodes a snappy-compressed protobuf push of at most `bytesMax` uncompressed bytes; also returns that size (for admission). */
export function decodeProtoPush(body: Uint8Array, bytesMax: number): { streams: LokiStream[]; decodedBytes: number } {
  const bytes = snappyUncompressBlock(body, bytesMax);
  let push: WirePush;
  try {
    checkMessageCount(bytes, Math.floor(bytesMax / PUSH_BYTES_PER_MESSAGE_MIN));
    push = pushRequest.decode(bytes) as unknown as WirePush;
  } catch (err) {
    if (err instanceof SluiceError) throw err;
    throw new SluiceError('INVALID_PROTOBUF', `the push is not a Loki PushRequest: ${err instanceof Error ? err.message : String(err)}`);
  }
  const streams = push.streams.map((s, i) => ({ labels: parseLabelString(s.labels, `/streams/${i}/labels`), entries: s.entries.map((e, j) => entryOf(e, `/streams/${i}/entries/${j}`)) }));
  return { streams, decodedBytes: bytes.length };
}

/**
 * Counts the streams, entries and metadata pairs of a push on the wire
 * (PushRequest 1 → StreamAdapter 2 → EntryAdapter 3), without building
 * them; PAYLOAD_TOO_LARGE past `max`. Malformed wire throws (MalformedProto).
 */
function checkMessageCount(bytes: Uint8Array, max: number): void {
  const r = new ProtoReader(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  let count = 0;
  const each = (field: number, end: number, inner: (end: number) => void): void => {
    for (let valueEnd = r.nextDelimited(field, end, 'field'); valueEnd >= 0; valueEnd = r.nextDelimited(field, end, 'field')) {
      if (++count > max) throw new SluiceError('PAYLOAD_TOO_LARGE', `the push holds more than ${max} streams, entries and metadata pairs, more than the ${max * PUSH_BYTES_PER_MESSAGE_MIN}-byte limit takes: send smaller batches`);
      inner(valueEnd);
      r.pos = valueEnd;
    }
  };
  const none = (): void => {};
  each(1, bytes.length, (streamEnd) => each(2, streamEnd, (entryEnd) => each(3, entryEnd, none)));
}

function entryOf(e: WireEntry, path: string): LokiEntry {
  const ts = e.timestamp;
  if (ts === undefined || ts === null) throw badPush(`${path}/timestamp`, 'the entry has no timestamp');
  const seconds = typeof ts.seconds === 'number' ? ts.seconds : ts.seconds.toNumber();
  const { tsNs, tsMs } = timeFromSecondsNanos(seconds, ts.nanos, `${path}/timestamp`);
  return { tsNs, tsMs, line: e.line, metadata: metadataOf(e.structuredMetadata) };
}

function metadataOf(pairs: WireEntry['structuredMetadata']): Readonly<Record<string, string>> {
  if (pairs.length === 0) return NO_METADATA;
  // No prototype: a metadata name __proto__ is kept like any other.
  const metadata = Object.create(null) as Record<string, string>;
  for (const { name, value } of pairs) metadata[name] = value;
  return metadata;
}
