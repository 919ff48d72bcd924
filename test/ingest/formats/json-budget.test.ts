/**
 * A conversion thread (file imports) parses JSON cells with JSON.parse: a
 * CSV cell or a Parquet JSON value of a few MB of `{},` built a tree past
 * the thread's heap (96 MiB), and V8 aborted the whole node, not just the
 * thread. Such a value is refused as its row's problem, counted on its
 * text before it is parsed, and the task's other rows convert.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parquetWriteFile } from 'hyparquet-writer';
import { parseTableDef } from '../../../src/core/schema/parse-table-def.ts';
import { ConvertPool } from '../../../src/ingest/formats/convert-pool.ts';

const DEF = parseTableDef({ name: 'j', shardKey: 'k', fields: [{ name: 'k', type: 'string', required: true }, { name: 'doc', type: 'json' }] }, 0);
/** 9 MB of JSON text, ~3M empty objects: ~170 MB parsed. */
const HUGE = `[${'{},'.repeat(3_000_000)}{}]`;
const LIMITS = { rowsMax: 1000, bytesMax: 4 * 2 ** 20 };

test('CSV: a JSON cell whose parse would outgrow the conversion thread is its row\'s problem; the other rows convert', async (t) => {
  const pool = new ConvertPool({ threads: 1, idleTimeoutMs: 1000 });
  t.after(() => pool.close());
  const csv = `a,"[{""x"":1}]"\nb,"${HUGE}"\nc,"{""y"":[2]}"\n`;
  const result = await pool.run({ kind: 'csv', bytes: Buffer.from(csv), header: ['k', 'doc'], def: DEF, onInvalid: 'skip', limits: LIMITS });
  assert.equal(result.fatal, undefined, JSON.stringify(result.fatal));
  assert.equal(result.rows, 3);
  assert.equal(result.problemCount, 1);
  assert.equal(result.problems[0]?.row, 1);
  assert.equal(result.problems[0]?.column, 'doc');
  assert.match(result.problems[0]?.message ?? '', /objects and arrays/);
});

test('Parquet: a JSON value whose parse would outgrow the conversion thread is its row\'s problem; the other rows convert', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-json-budget-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'j.parquet');
  parquetWriteFile({
    filename: file,
    columnData: [
      { name: 'k', data: ['a', 'b', 'c'] },
      // The writer stores each value's JSON text.
      { name: 'doc', data: [[{ x: 1 }], JSON.parse(HUGE) as unknown, { y: [2] }] },
    ],
    schema: [
      { name: 'root', num_children: 2 },
      { name: 'k', repetition_type: 'REQUIRED', type: 'BYTE_ARRAY', converted_type: 'UTF8' },
      { name: 'doc', repetition_type: 'OPTIONAL', type: 'BYTE_ARRAY', converted_type: 'JSON' },
    ],
  });
  const pool = new ConvertPool({ threads: 1, idleTimeoutMs: 1000 });
  t.after(() => pool.close());
  const result = await pool.run({ kind: 'parquet', path: file, rowStart: 0, rowEnd: 3, def: DEF, onInvalid: 'skip', limits: LIMITS });
  assert.equal(result.fatal, undefined, JSON.stringify(result.fatal));
  assert.equal(result.rows, 3);
  assert.equal(result.problemCount, 1);
  assert.equal(result.problems[0]?.row, 1);
  assert.match(result.problems[0]?.message ?? '', /objects and arrays/);
});
