/**
 * The objects protobufjs would build of a message, counted on its wire
 * bytes before it is decoded. An empty nested message is 2 bytes of wire
 * and an object or two of heap: a body of them within the body limit built
 * millions of objects past a decode thread's heap, where V8 aborts the
 * whole process, not just the thread.
 *
 * Counted: each message (the root and every nested one), each element of a
 * repeated field (an array slot, often a string or a message), each map
 * entry, and a packed field's bytes (at most one element per byte).
 * Scalars of singular fields live inside their message's object and are
 * not counted. The walk follows the message's type, so only fields the
 * type declares as messages are entered; anything the walk cannot read
 * ends it there (the decoder refuses such bytes with its own message).
 */
import protobuf from 'protobufjs';

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

interface Walk {
  readonly bytes: Uint8Array;
  count: number;
  readonly stopAfter: number;
}

/** The objects decoding `bytes` as `type` would build, counted up to `stopAfter` + 1 at most. */
export function countProtoObjects(type: protobuf.Type, bytes: Uint8Array, stopAfter: number): number {
  const w: Walk = { bytes, count: 0, stopAfter };
  walkMessage(w, type, 0, bytes.length);
  return w.count;
}

/** Counts the message in [start, end) and what it holds; stops once past the bound or at bytes it cannot read. */
function walkMessage(w: Walk, type: protobuf.Type, start: number, end: number): void {
  w.count++;
  let p = start;
  while (p < end && w.count <= w.stopAfter) {
    const tag = readVarint(w.bytes, p, end);
    if (tag === undefined) return;
    p = tag.next;
    const field = type.fieldsById[Math.floor(tag.value / 8)];
    const wire = tag.value & 7;
    if (wire === WIRE_BYTES) {
      const len = readVarint(w.bytes, p, end);
      if (len === undefined || len.value > end - len.next) return;
      walkBytesField(w, field, len.next, len.next + len.value);
      p = len.next + len.value;
      continue;
    }
    const next = scalarEnd(w.bytes, wire, p, end);
    if (next === undefined) return;
    if (field?.repeated === true) w.count++;
    p = next;
  }
}

/** A length-delimited field: a nested message, a map entry, a packed run or one string/bytes value. */
function walkBytesField(w: Walk, field: protobuf.Field | undefined, start: number, end: number): void {
  if (field === undefined) return;
  if (field instanceof protobuf.MapField) {
    w.count++;
    const value = field.resolvedType;
    if (value instanceof protobuf.Type) walkMapEntry(w, value, start, end);
    return;
  }
  if (field.resolvedType instanceof protobuf.Type) {
    walkMessage(w, field.resolvedType, start, end);
    return;
  }
  if (!field.repeated) return;
  // A packed run of scalars holds at most one element per byte; a repeated string or bytes value is one element.
  w.count += field.type === 'string' || field.type === 'bytes' ? 1 : end - start;
}

/** A map entry (key = 1, value = 2) whose value is a message: the value is walked. */
function walkMapEntry(w: Walk, value: protobuf.Type, start: number, end: number): void {
  let p = start;
  while (p < end) {
    const tag = readVarint(w.bytes, p, end);
    if (tag === undefined) return;
    const wire = tag.value & 7;
    if (wire !== WIRE_BYTES) {
      // The key: an integer or a bool.
      const next = scalarEnd(w.bytes, wire, tag.next, end);
      if (next === undefined) return;
      p = next;
      continue;
    }
    const len = readVarint(w.bytes, tag.next, end);
    if (len === undefined || len.value > end - len.next) return;
    if (Math.floor(tag.value / 8) === 2) walkMessage(w, value, len.next, len.next + len.value);
    p = len.next + len.value;
  }
}

/** Where a scalar of `wire` type starting at `p` ends; undefined past `end`, and for groups (3, 4) and unknown wire types, not read here. */
function scalarEnd(bytes: Uint8Array, wire: number, p: number, end: number): number | undefined {
  const next = wire === WIRE_VARINT ? readVarint(bytes, p, end)?.next : wire === WIRE_FIXED64 ? p + 8 : wire === WIRE_FIXED32 ? p + 4 : undefined;
  return next === undefined || next > end ? undefined : next;
}

/** A varint at `p` (at most 10 bytes, before `end`) and where the next field starts; undefined when it runs past either. */
function readVarint(bytes: Uint8Array, p: number, end: number): { value: number; next: number } | undefined {
  let value = 0;
  for (let i = 0; i < 10 && p + i < end; i++) {
    const b = bytes[p + i] as number;
    value += (b & 0x7f) * 2 ** (7 * i);
    if (b < 0x80) return { value, next: p + i + 1 };
  }
  return undefined;
}
