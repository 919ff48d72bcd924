/**
 * The msgpack form of a record's positional field values (the `fields`
 * part of a stored value). Positional arrays in the schema version's field
 * order are the "shared structure": field names live once in the catalog's
 * schema versions, not in every record (see docs/decisions/0002).
 */
import { Packr } from 'msgpackr';

const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  // int64 fields beyond 2^53 travel as bigint; smaller ones come back as numbers.
  int64AsType: 'auto' as 'bigint', // msgpackr's types lag its docs: 'auto' is supported
  moreTypes: false,
  // A json value is data, never a serialization hook: with toJSON on, an
  // object holding its own "constructor" and "toJSON" keys (valid JSON) made
  // pack() call toJSON and throw a TypeError. Off changes nothing else here:
  // Buffers keep their bin encoding, other objects were already maps.
  useToJSON: false,
});

/** Encodes positional field values. The result is a fresh buffer the caller may keep. */
export function encodeFields(values: readonly unknown[]): Buffer {
  return packr.pack(values);
}

/** Decodes positional field values. */
export function decodeFields(bytes: Uint8Array): unknown[] {
  const out = packr.unpack(bytes) as unknown;
  if (!Array.isArray(out)) throw new TypeError('stored fields are not an array');
  return out;
}
