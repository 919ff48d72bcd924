/**
 * AnyValue and KeyValue lists of a protobuf request, read from the wire
 * (proto-reader.ts) as plain JSON: string, bool and double as themselves
 * (a non-finite double as its name, "NaN", "Infinity", "-Infinity": JSON
 * has no such numbers), int64 as a number when it is a safe integer and as
 * a decimal string otherwise, bytes as base64, arrays as arrays, kvlists as
 * objects, an empty AnyValue as null. Nesting past `depthMax` is refused
 * (DEPTH) without reading deeper.
 *
 *   AnyValue     := 1 string | 2 bool | 3 int64 | 4 double | 5 ArrayValue | 6 KeyValueList | 7 bytes
 *   ArrayValue   := 1 AnyValue*        KeyValueList := 1 KeyValue*
 *   KeyValue     := 1 key string, 2 value AnyValue
 *
 * A value sent twice (or two members of the oneof) keeps the last one, as
 * the protobuf spec says of a non-repeated field.
 */
import type { JsonValue } from '../../../core/schema/table-def.ts';
import { newAttributes, setAttribute, type Attributes } from './otlp-log-entry.ts';
import { DELIMITED, FIXED64, MalformedProto, ProtoReader, VARINT, int64HalvesJson } from './proto-reader.ts';
import { ValueProblem } from './value-problem.ts';

/** An int64 as JSON: a number when exact, else its decimal string. */
export function int64Json(v: bigint): number | string {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

/** A double as JSON. */
export function doubleJson(v: number): number | string {
  return Number.isFinite(v) ? v : String(v);
}

/** The AnyValue in [start, end) as JSON; `depth` is its nesting level (1 for an attribute's value). */
export function wireAnyValue(r: ProtoReader, start: number, end: number, path: string, depth: number, depthMax: number): JsonValue {
  if (depth > depthMax) throw new ValueProblem(path, 'DEPTH', `value nested deeper than ${depthMax}`);
  let value: JsonValue = null;
  r.pos = start;
  while (r.pos < end) {
    const key = r.uint32(end);
    const field = key >>> 3;
    const wire = key & 7;
    if (field === 1 && wire === DELIMITED) value = r.string(end);
    else if (field === 2 && wire === VARINT) value = r.varint64(end) !== 0 || r.hi !== 0;
    else if (field === 3 && wire === VARINT) value = int64HalvesJson(r.varint64(end), r.hi);
    else if (field === 4 && wire === FIXED64) value = doubleJson(r.double(end));
    else if (field >= 5 && field <= 7 && wire === DELIMITED) {
      const valueEnd = r.delimitedEnd(end);
      const at = r.pos;
      if (field === 7) value = r.buf.toString('base64', at, valueEnd);
      else value = field === 5 ? wireArray(r, at, valueEnd, path, depth + 1, depthMax) : wireAttributes(r, at, valueEnd, 1, path, depth + 1, depthMax);
      r.pos = valueEnd;
    } else if (field >= 1 && field <= 7) throw new MalformedProto(`AnyValue field ${field} with wire type ${wire}`);
    else r.skip(wire, end);
  }
  return value;
}

/** The items of an ArrayValue in [start, end), each at `depth`. */
function wireArray(r: ProtoReader, start: number, end: number, path: string, depth: number, depthMax: number): JsonValue[] {
  const items: JsonValue[] = [];
  r.pos = start;
  while (r.pos < end) {
    const key = r.uint32(end);
    if (key >>> 3 !== 1) {
      r.skip(key & 7, end);
      continue;
    }
    if ((key & 7) !== DELIMITED) throw new MalformedProto(`ArrayValue field 1 with wire type ${key & 7}`);
    const itemEnd = r.delimitedEnd(end);
    items.push(wireAnyValue(r, r.pos, itemEnd, `${path}/${items.length}`, depth, depthMax));
    r.pos = itemEnd;
  }
  return items;
}

/**
 * The KeyValues of field `field` of the message in [start, end) as an
 * object (other fields skipped); a repeated key keeps its last value.
 * Each value is at `depth`, its path `path/key`.
 */
export function wireAttributes(r: ProtoReader, start: number, end: number, field: number, path: string, depth: number, depthMax: number): Attributes {
  const out = newAttributes();
  r.pos = start;
  for (let kvEnd = r.nextDelimited(field, end, 'KeyValue field'); kvEnd >= 0; kvEnd = r.nextDelimited(field, end, 'KeyValue field')) {
    keyValueInto(r, r.pos, kvEnd, out, path, depth, depthMax);
    r.pos = kvEnd;
  }
  return out;
}

/** One KeyValue in [start, end) into `out` (key and value may come in either order). */
export function keyValueInto(r: ProtoReader, start: number, end: number, out: Attributes, path: string, depth: number, depthMax: number): void {
  let name = '';
  let valueStart = -1;
  let valueEnd = -1;
  r.pos = start;
  while (r.pos < end) {
    const key = r.uint32(end);
    if (key === ((1 << 3) | DELIMITED)) name = r.string(end);
    else if (key === ((2 << 3) | DELIMITED)) {
      valueEnd = r.delimitedEnd(end);
      valueStart = r.pos;
      r.pos = valueEnd;
    } else if (key >>> 3 === 1 || key >>> 3 === 2) throw new MalformedProto(`KeyValue field ${key >>> 3} with wire type ${key & 7}`);
    else r.skip(key & 7, end);
  }
  const at = `${path}/${escapeToken(name)}`;
  // An absent value is an empty AnyValue (null), still subject to the depth limit.
  setAttribute(out, name, valueStart < 0 ? wireAnyValue(r, 0, 0, at, depth, depthMax) : wireAnyValue(r, valueStart, valueEnd, at, depth, depthMax));
}

/** One JSON pointer reference token (RFC 6901). */
export function escapeToken(key: string): string {
  return key.includes('~') || key.includes('/') ? key.replaceAll('~', '~0').replaceAll('/', '~1') : key;
}
