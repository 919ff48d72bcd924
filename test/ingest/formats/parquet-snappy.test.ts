/**
 * A Parquet import decodes snappy pages with the checked decoder
 * (core/codec/snappy-block.ts): a corrupt page is an error, never values
 * made of zeros, and a page whose stated size its compressed bytes cannot
 * hold is refused before memory is taken for it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parquetRead } from 'hyparquet';
import { parquetWriteFile } from 'hyparquet-writer';
import { PARQUET_COMPRESSORS, PARQUET_PARSERS, ParquetFile } from '../../../src/ingest/formats/parquet-file.ts';
import { tempDir } from '../../support/temp-dir.ts';

/** One REQUIRED UTF8 column holding "abcde": its snappy data page is the literal block 09 20 05 00 00 00 "abcde". */
const PAGE = Buffer.from([0x09, 0x20, 0x05, 0, 0, 0, 0x61, 0x62, 0x63, 0x64, 0x65]);

function fileWithPage(dir: string, page: Buffer): string {
  const file = path.join(dir, 'one.parquet');
  parquetWriteFile({ filename: file, columnData: [{ name: 's', data: ['abcde'] }], schema: [{ name: 'root', num_children: 1 }, { name: 's', repetition_type: 'REQUIRED', type: 'BYTE_ARRAY', converted_type: 'UTF8' }] as never });
  const bytes = readFileSync(file);
  const at = bytes.indexOf(PAGE);
  assert.ok(at > 0 && bytes.indexOf(PAGE, at + 1) === -1, 'the data page is found once');
  page.copy(bytes, at);
  writeFileSync(file, bytes);
  return file;
}

async function readColumn(file: string): Promise<unknown[]> {
  const pf = await ParquetFile.open(file);
  try {
    const values: unknown[] = [];
    await parquetRead({ file: pf.buffer, metadata: await pf.metadata(), compressors: PARQUET_COMPRESSORS, parsers: PARQUET_PARSERS, utf8: false, onChunk: (c) => values.push(...c.columnData) });
    return values;
  } finally {
    await pf.close();
  }
}

test('Parquet: the untouched page reads back', async (t) => {
  const dir = tempDir(t);
  assert.deepEqual((await readColumn(fileWithPage(dir, PAGE))).map((v) => Buffer.from(v as Uint8Array).toString()), ['abcde']);
});

test('Parquet: a snappy page with a 4-byte copy offset of its top bit set is an error, not five zero bytes', async (t) => {
  // 9 bytes stated; a literal of the 4-byte length 05 00 00 00; a 4-byte copy (tag 0x13: 5 bytes) from offset 0xffffffff.
  const corrupt = Buffer.from([0x09, 0x0c, 0x05, 0, 0, 0, 0x13, 0xff, 0xff, 0xff, 0xff]);
  await assert.rejects(readColumn(fileWithPage(tempDir(t), corrupt)), /snappy/);
});

test('Parquet: a snappy page whose own length disagrees with its page header is an error', async (t) => {
  // The block says 5 bytes (the literal 05 00 00 00 "a"), the page header 9: the other 4 would be whatever the decoder held.
  const short = Buffer.from([0x05, 0x10, 0x05, 0, 0, 0, 0x61, 0, 0, 0, 0]);
  await assert.rejects(readColumn(fileWithPage(tempDir(t), short)), /premature end|holds 5 bytes where 9 are stated/);
});
