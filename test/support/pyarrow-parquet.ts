/**
 * Parquet files written by pyarrow (Apache Arrow C++), so import tests read
 * files sluice did not write, with what real data lakes use: dictionary
 * encoding, snappy or zstd per column, nulls, several row groups and
 * pages. Columns are given as JSON-safe values plus a type name; the
 * script builds typed Arrow arrays from them and reports what it wrote.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

/** Column types the writer knows, and the JSON form of their values. */
export type PyarrowType =
  | 'string' // string
  | 'int64' // number, or a decimal string past 2^53
  | 'int32'
  | 'float64'
  | 'bool'
  | 'timestamp_us' // epoch ms (number), written as UTC microseconds
  | 'timestamp_ms'
  | 'date32' // days since 1970
  | `decimal(${number},${number})` // the exact decimal text
  | 'binary' // base64
  | 'json' // JSON text, written with Arrow's JSON extension type (Parquet JSON)
  | 'list<string>'; // array of strings

/** One column. */
export interface PyarrowColumn {
  readonly name: string;
  readonly type: PyarrowType;
  /** null: a null value. */
  readonly values: readonly unknown[];
  /** false: a REQUIRED column (no nulls). @default true */
  readonly nullable?: boolean;
}

/** How pyarrow writes the file. */
export interface PyarrowWriteOptions {
  /** Codec for every column, or per column. */
  readonly compression: 'snappy' | 'zstd' | 'gzip' | 'none' | Readonly<Record<string, string>>;
  /** Columns written with dictionary encoding (true: all). */
  readonly dictionary: boolean | readonly string[];
  readonly rowGroupRows: number;
  readonly pageBytes?: number;
}

/** What the file holds, as pyarrow reads its footer back. */
export interface PyarrowFileSummary {
  readonly num_rows: number;
  readonly row_groups: number;
  /** Per column: codec and encodings of the first row group's chunk. */
  readonly columns: Record<string, { compression: string; encodings: string[] }>;
}

const SCRIPT = String.raw`
import base64, decimal, json, re, sys
import pyarrow as pa, pyarrow.parquet as pq
spec = json.load(open(sys.argv[1]))
def arrow(c):
    t, v = c['type'], c['values']
    if t == 'string': return pa.array(v, pa.string())
    if t == 'int64': return pa.array([None if x is None else int(x) for x in v], pa.int64())
    if t == 'int32': return pa.array(v, pa.int32())
    if t == 'float64': return pa.array(v, pa.float64())
    if t == 'bool': return pa.array(v, pa.bool_())
    if t == 'timestamp_us': return pa.array([None if x is None else x * 1000 for x in v], pa.timestamp('us', tz='UTC'))
    if t == 'timestamp_ms': return pa.array(v, pa.timestamp('ms', tz='UTC'))
    if t == 'date32': return pa.array(v, pa.date32())
    if t == 'binary': return pa.array([None if x is None else base64.b64decode(x) for x in v], pa.binary())
    if t == 'json': return pa.array(v, pa.json_())
    if t == 'list<string>': return pa.array(v, pa.list_(pa.string()))
    m = re.fullmatch(r'decimal\((\d+),(\d+)\)', t)
    if m: return pa.array([None if x is None else decimal.Decimal(x) for x in v], pa.decimal128(int(m.group(1)), int(m.group(2))))
    raise SystemExit('unknown type ' + t)
fields, arrays = [], []
for c in spec['columns']:
    a = arrow(c)
    fields.append(pa.field(c['name'], a.type, nullable=c.get('nullable', True)))
    arrays.append(a)
table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
o = spec['options']
comp = o['compression']
pq.write_table(table, spec['file'], compression=comp, use_dictionary=o['dictionary'], row_group_size=o['rowGroupRows'],
               data_page_size=o.get('pageBytes') or 1024 * 1024)
md = pq.ParquetFile(spec['file']).metadata
rg = md.row_group(0)
cols = {}
for i in range(rg.num_columns):
    cc = rg.column(i)
    cols[cc.path_in_schema.split('.')[0]] = {'compression': cc.compression, 'encodings': list(cc.encodings)}
print(json.dumps({'num_rows': md.num_rows, 'row_groups': md.num_row_groups, 'columns': cols}))
`;

/** Writes `file` with pyarrow (the python from ensurePyarrow) and returns what its footer says. */
export function writeParquetWithPyarrow(python: string, file: string, columns: readonly PyarrowColumn[], options: PyarrowWriteOptions): PyarrowFileSummary {
  const specFile = `${file}.spec.json`;
  const compression = options.compression === 'none' ? 'NONE' : options.compression;
  writeFileSync(specFile, JSON.stringify({ file, columns, options: { ...options, compression } }));
  const res = spawnSync(python, ['-c', SCRIPT, specFile], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
  if (res.status !== 0) throw new Error(`pyarrow could not write ${file}: ${res.error?.message ?? ''}${res.stderr}`);
  return JSON.parse(res.stdout) as PyarrowFileSummary;
}
