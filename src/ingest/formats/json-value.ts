/**
 * Decoded file values as JSON values: what a `json` field (or any column
 * the reader hands back as a structure) is sent as. JSON.stringify would
 * throw on a bigint and silently write NaN as null, so both are decided
 * here instead.
 */

/** Why one value cannot be imported; the caller names its row and column. */
export class ValueProblem {
  readonly message: string;
  constructor(message: string) {
    this.message = message;
  }
}

/** A JSON-annotated value whose text does not parse. */
export class BadJson {
  readonly message: string;
  constructor(message: string) {
    this.message = message;
  }
}

/** Nesting a value may have; deeper ones are refused (the schema's own bound is lower). */
const DEPTH_MAX = 1000;

/**
 * `v` as a JSON value: int64s beyond ±2^53 as decimal strings, bytes as
 * base64, dates as epoch ms, typed arrays as arrays; a ValueProblem for
 * non-finite numbers and unparsable JSON text.
 */
export function toJsonValue(v: unknown, depth = 0): unknown {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      return Number.isFinite(v) ? v : new ValueProblem(`${String(v)} is not a finite number`);
    case 'bigint':
      return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v.toString();
    case 'undefined':
      return null;
    case 'object': {
      if (v === null) return null;
      if (depth >= DEPTH_MAX) return new ValueProblem(`nested deeper than ${DEPTH_MAX} levels`);
      if (v instanceof BadJson) return new ValueProblem(`not JSON text: ${v.message}`);
      if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
      if (v instanceof Date) return v.getTime();
      if (Array.isArray(v) || ArrayBuffer.isView(v)) {
        const items = Array.from(v as ArrayLike<unknown>);
        for (let i = 0; i < items.length; i++) {
          const item = toJsonValue(items[i], depth + 1);
          if (item instanceof ValueProblem) return item;
          items[i] = item;
        }
        return items;
      }
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        const item = toJsonValue(x, depth + 1);
        if (item instanceof ValueProblem) return item;
        out[k] = item;
      }
      return out;
    }
    default:
      return new ValueProblem(`a ${typeof v} is not a JSON value`);
  }
}
