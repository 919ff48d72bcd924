/**
 * A `.proto` message as a table's binary record form (DESIGN §1, protobufjs
 * reflection). A table made from a message keeps the message's descriptor
 * (protobufjs JSON, not the .proto text: it needs no parser to load), and
 * sources that carry binary protobuf (gRPC `format: "protobuf"`, Kafka
 * `--kafka-format protobuf`) decode each message into the same plain
 * record a JSON source sends, which then goes through the same validation.
 *
 * Field mapping: string → string; bool → bool; every integer type → int
 * (64-bit ones as decimal strings, exact); float, double → float; bytes →
 * bytes (base64); enum → string (the value's name);
 * google.protobuf.Timestamp → timestamp (epoch ms); any other message,
 * repeated field or map → json.
 */
import protobuf from 'protobufjs';
import { SluiceError } from '../errors.ts';
import type { FieldDef, FieldType, JsonValue } from './table-def.ts';
import { countProtoObjects } from './proto-wire-count.ts';

/** What a table stores of its message. */
export interface ProtoBinding {
  /** Fully qualified message name, e.g. `shop.v1.Payment`. */
  readonly message: string;
  /** The protobufjs JSON descriptor of the root holding the message. */
  readonly descriptor: JsonValue;
}

/** A field derived from the message. */
export interface ProtoFieldSpec {
  readonly name: string;
  readonly type: FieldType;
}

const INT_TYPES = new Set(['int32', 'uint32', 'sint32', 'fixed32', 'sfixed32', 'int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const TIMESTAMP = 'google.protobuf.Timestamp';

/** Parses `.proto` text and binds `message`; throws INVALID_TABLE_DEFINITION naming the problem. */
export function bindProto(source: string, message: string): ProtoBinding {
  let root: protobuf.Root;
  try {
    const parsed = protobuf.parse(source, { keepCase: true });
    root = parsed.root;
    // Well-known imports (google/protobuf/timestamp.proto, …) come with protobufjs; others must be inlined.
    for (const file of [...(parsed.imports ?? []), ...(parsed.weakImports ?? [])]) {
      const common = protobuf.common.get(file);
      if (common === null) throw new Error(`import ${JSON.stringify(file)} is not a well-known type: put its messages in the same .proto`);
      root.addJSON(common.nested ?? {});
    }
    root.resolveAll();
  } catch (err) {
    throw new SluiceError('INVALID_TABLE_DEFINITION', `the .proto does not parse: ${err instanceof Error ? err.message : String(err)}`, [{ path: '/proto/source', message: String(err) }]);
  }
  lookup(root, message);
  return { message, descriptor: root.toJSON() as unknown as JsonValue };
}

/** The table fields of the bound message, in field-number order. */
export function protoFields(binding: ProtoBinding): ProtoFieldSpec[] {
  const type = loadType(binding);
  return [...type.fieldsArray].sort((a, b) => a.id - b.id).map((f) => ({ name: f.name, type: fieldTypeOf(f) }));
}

/** A compiled decoder of one binding. */
export interface ProtoDecoder {
  /** Decodes one message into a plain record; throws with a readable message when the bytes are not such a message. */
  decode(bytes: Uint8Array): Record<string, unknown>;
  /** The objects decoding `bytes` would build (messages, repeated elements, map entries), counted on the wire up to `stopAfter` + 1. */
  objects(bytes: Uint8Array, stopAfter: number): number;
}

/**
 * Where each message field goes in a table whose schema moved on from its
 * message (the binding cannot change with a schema patch): a field renamed
 * since goes under its new name, found through its aliases whether or not
 * they have expired (the message will never carry the new name); a field
 * the table removed, or never had, is dropped (its values are no longer
 * shown, as stored ones are not), since `defaults: true` puts every message
 * field in every record and each would otherwise be an UNKNOWN_FIELD.
 * Undefined: every name is a field of the table under its own name.
 */
export function protoRenames(type: protobuf.Type, fields: readonly FieldDef[]): Map<string, string | null> | undefined {
  const names = new Set(fields.map((f) => f.name));
  const renames = new Map<string, string | null>();
  for (const pf of type.fieldsArray) {
    if (names.has(pf.name)) continue;
    const renamed = fields.find((f) => f.aliases?.some((a) => a.name === pf.name) === true);
    renames.set(pf.name, renamed === undefined ? null : renamed.name);
  }
  return renames.size === 0 ? undefined : renames;
}

/** `record` with its message names mapped to the table's (see protoRenames). */
function renamed(record: Record<string, unknown>, renames: ReadonlyMap<string, string | null>): Record<string, unknown> {
  for (const [from, to] of renames) {
    if (!Object.hasOwn(record, from)) continue;
    const v = record[from];
    delete record[from];
    if (to !== null) record[to] = v;
  }
  return record;
}

/**
 * Loads the binding into a decoder (compile once per table version and
 * thread); with the table's `fields`, records come out under the table's
 * current names (protoRenames).
 */
export function protoDecoder(binding: ProtoBinding, fields?: readonly FieldDef[]): ProtoDecoder {
  const type = loadType(binding);
  const timestamps = type.fieldsArray.filter((f) => !f.repeated && !f.map && f.resolvedType?.fullName === `.${TIMESTAMP}`).map((f) => f.name);
  const options: protobuf.IConversionOptions = { longs: String, enums: String, bytes: String, defaults: true, arrays: true, objects: true };
  const renames = fields === undefined ? undefined : protoRenames(type, fields);
  return {
    decode(bytes: Uint8Array): Record<string, unknown> {
      const record = type.toObject(type.decode(bytes), options);
      for (const name of timestamps) {
        const ts = record[name] as { seconds?: string | number; nanos?: number } | null | undefined;
        // An unset Timestamp is absent, as a JSON record would leave it out.
        if (ts === null || ts === undefined) delete record[name];
        else record[name] = Number(ts.seconds ?? 0) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
      }
      return renames === undefined ? record : renamed(record, renames);
    },
    objects: (bytes, stopAfter) => countProtoObjects(type, bytes, stopAfter),
  };
}

function loadType(binding: ProtoBinding): protobuf.Type {
  let root: protobuf.Root;
  try {
    root = protobuf.Root.fromJSON(binding.descriptor as protobuf.INamespace);
    root.resolveAll();
  } catch (err) {
    throw new SluiceError('INVALID_TABLE_DEFINITION', `the stored protobuf descriptor does not load: ${err instanceof Error ? err.message : String(err)}`);
  }
  return lookup(root, binding.message);
}

function lookup(root: protobuf.Root, message: string): protobuf.Type {
  const found = root.lookup(message);
  if (!(found instanceof protobuf.Type)) {
    throw new SluiceError('INVALID_TABLE_DEFINITION', `the .proto has no message ${JSON.stringify(message)}`, [{ path: '/proto/message', message: `no message ${message}` }]);
  }
  return found;
}

function fieldTypeOf(f: protobuf.Field): FieldType {
  if (f.repeated || f.map) return 'json';
  if (f.resolvedType instanceof protobuf.Enum) return 'string';
  if (f.resolvedType instanceof protobuf.Type) return f.resolvedType.fullName === `.${TIMESTAMP}` ? 'timestamp' : 'json';
  if (f.type === 'string') return 'string';
  if (f.type === 'bool') return 'bool';
  if (f.type === 'bytes') return 'bytes';
  if (f.type === 'float' || f.type === 'double') return 'float';
  if (INT_TYPES.has(f.type)) return 'int';
  return 'json';
}
