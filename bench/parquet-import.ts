/**
 * Parquet import benchmark (issue #4): a file of `rows` rows and 7 columns
 * (strings, a dictionary-friendly currency, an exact DECIMAL(12,2), a
 * timestamp, an int64, a nullable memo; snappy, row groups of 65,536)
 * imported into a fresh node, next to the Parquet reader's own decode rate
 * on the same file in the same run:
 *
 * - raw decode: hyparquet decoding every column of every row group through
 *   the importer's byte-range reads, building no rows (the reader's limit);
 * - decode + convert: the importer's reader on one thread, rows turned into
 *   request bodies (what `sluice ingest` does before sending);
 * - `sluice ingest` as a child process against a node: wall time from start
 *   to exit, dedupe keys on every row (that is what makes a rerun after a
 *   crash duplicate-free);
 * - `POST /v1/tables/{t}/import` with the file as the body: conversion
 *   and encoding in the node's worker threads (decision 31), no HTTP per
 *   batch, no dedupe keys; with the node's CPU-s per 1M rows (/proc).
 *
 * Each figure is the median of `runs`; every import run gets a fresh node.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, openAsBlob, statSync } from 'node:fs';
import path from 'node:path';
import { parquetRead } from 'hyparquet';
import { parquetWriteFile } from 'hyparquet-writer';
import { NodeProcess, ROOT, authHeaders, cliProcessEnv, http } from '../test/process/harness.ts';
import type { TableDef } from '../src/core/schema/table-def.ts';
import { ConvertPool } from '../src/ingest/formats/convert-pool.ts';
import { PARQUET_COMPRESSORS, PARQUET_PARSERS, ParquetFile } from '../src/ingest/formats/parquet-file.ts';
import { readFileBatches } from '../src/ingest/formats/read-file-batches.ts';
import { cpuSeconds } from './lib/node-metrics.ts';
import { THREAD_KINDS, threadCpu, threadCpuSince } from './lib/thread-cpu.ts';
import { fmt, median } from './lib/stats.ts';

const BIN = path.join(ROOT, 'bin', 'sluice.js');
const ROW_GROUP_ROWS = 65_536;

export const TABLE = {
  name: 'bench_import',
  shardKey: 'account_id',
  timeField: 'ts',
  fields: [
    { name: 'account_id', type: 'string', required: true },
    { name: 'txn_id', type: 'string', required: true },
    { name: 'amount', type: 'decimal', required: true },
    { name: 'currency', type: 'string', required: true },
    { name: 'ts', type: 'timestamp', required: true },
    { name: 'seq', type: 'int', required: true },
    { name: 'memo', type: 'string' },
  ],
};

/** The table as the reader takes it (what a node's describe returns). */
const DEF: TableDef = {
  ...TABLE,
  replicationFactor: 1,
  extraFields: 'reject',
  version: 1,
  fields: TABLE.fields.map((f, i) => ({ id: i + 1, name: f.name, type: f.type as TableDef['fields'][number]['type'], required: f.required ?? false })),
};

/** Writes the benchmark file (hyparquet-writer, snappy) and returns its size. */
export function writeFile(file: string, rows: number): number {
  const account: string[] = [];
  const txn: string[] = [];
  const amount: bigint[] = [];
  const currency: string[] = [];
  const ts: bigint[] = [];
  const seq: bigint[] = [];
  const memo: (string | null)[] = [];
  for (let i = 0; i < rows; i++) {
    account.push(`acct-${String((i * 7919) % 100_000).padStart(6, '0')}`);
    txn.push(`tx-${String(i).padStart(10, '0')}`);
    amount.push(BigInt(i % 100_000));
    currency.push(i % 3 === 0 ? 'USD' : 'EUR');
    ts.push(BigInt(1_764_000_000_000 + i * 3 - (i % 17) * 40));
    seq.push(BigInt(i));
    memo.push(i % 5 === 0 ? null : `bench payment ${String(i % 1000).padStart(4, '0')} for invoice INV-${String(i % 77777).padStart(6, '0')}`);
  }
  const required = (name: string, e: Record<string, unknown>) => ({ name, repetition_type: 'REQUIRED', ...e });
  parquetWriteFile({
    filename: file,
    rowGroupSize: ROW_GROUP_ROWS,
    columnData: [
      { name: 'account_id', data: account },
      { name: 'txn_id', data: txn },
      { name: 'amount', data: amount },
      { name: 'currency', data: currency },
      { name: 'ts', data: ts },
      { name: 'seq', data: seq },
      { name: 'memo', data: memo },
    ],
    schema: [
      { name: 'root', num_children: 7 },
      required('account_id', { type: 'BYTE_ARRAY', converted_type: 'UTF8' }),
      required('txn_id', { type: 'BYTE_ARRAY', converted_type: 'UTF8' }),
      required('amount', { type: 'INT64', converted_type: 'DECIMAL', precision: 12, scale: 2 }),
      required('currency', { type: 'BYTE_ARRAY', converted_type: 'UTF8' }),
      required('ts', { type: 'INT64', converted_type: 'TIMESTAMP_MILLIS' }),
      required('seq', { type: 'INT64' }),
      { name: 'memo', repetition_type: 'OPTIONAL', type: 'BYTE_ARRAY', converted_type: 'UTF8' },
    ] as never,
  });
  return statSync(file).size;
}

/** hyparquet decoding every column, row group by row group, building no rows: rows/s. */
async function rawDecode(file: string): Promise<number> {
  const pf = await ParquetFile.open(file);
  try {
    const metadata = await pf.metadata();
    const started = performance.now();
    let values = 0;
    let start = 0;
    for (const group of metadata.row_groups) {
      const end = start + Number(group.num_rows);
      await parquetRead({ file: pf.buffer, metadata, rowStart: start, rowEnd: end, compressors: PARQUET_COMPRESSORS, parsers: PARQUET_PARSERS, utf8: false, onChunk: (c) => (values += c.columnData.length) });
      start = end;
    }
    if (values < start) throw new Error(`decoded ${values} values of ${start} rows`);
    return start / ((performance.now() - started) / 1000);
  } finally {
    await pf.close();
  }
}

/** The importer's reader on the calling thread: rows/s into request bodies. */
async function decodeAndConvert(file: string): Promise<number> {
  const pool = new ConvertPool({ threads: 0 });
  const started = performance.now();
  let rows = 0;
  for await (const b of readFileBatches(file, { format: 'parquet', gzip: false, def: DEF, onInvalid: 'reject', limits: { rowsMax: 1000, bytesMax: 4 << 20 } }, pool)) rows += b.rows;
  return rows / ((performance.now() - started) / 1000);
}

/** Starts a fresh node with the table; `fn` gets its URL; the node is stopped after. */
async function withNode<T>(root: string, fn: (url: string, pid: number) => Promise<T>): Promise<T> {
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  const t = { after: (f: () => Promise<unknown> | unknown) => cleanups.push(f) };
  try {
    const node = await NodeProcess.start(t, { dataDir: mkdtempSync(path.join(root, 'node-')) });
    const created = await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(TABLE) });
    if (created.status !== 201) throw new Error(`create table: ${created.text}`);
    return await fn(node.url, node.pid);
  } finally {
    for (const f of cleanups.reverse()) await f();
  }
}

/** `sluice ingest` from start to exit: rows/s. */
function cliImport(file: string, rows: number, url: string, root: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const args = [BIN, 'ingest', file, '--table', TABLE.name, '--url', url, '--no-progress', '--checkpoint-dir', mkdtempSync(path.join(root, 'cp-'))];
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: cliProcessEnv() });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.once('exit', (code) => {
      const seconds = (performance.now() - started) / 1000;
      if (code !== 0 || !out.includes(`${rows} records written`)) reject(new Error(`sluice ingest exited ${code}: ${out}`));
      else resolve(rows / seconds);
    });
  });
}

/** `POST /v1/tables/{t}/import` with the file as the body: rows/s, and the node's CPU-s per 1M rows (all its threads, and by thread kind: bench/lib/thread-cpu.ts). */
async function serverImport(file: string, rows: number, url: string, pid: number): Promise<{ rate: number; cpuPerMillion: number; threads: string }> {
  const cpuBefore = cpuSeconds(pid);
  const threadsBefore = threadCpu(pid);
  const started = performance.now();
  const res = await fetch(`${url}/v1/tables/${TABLE.name}/import`, { method: 'POST', body: await openAsBlob(file), headers: { ...authHeaders(), 'content-type': 'application/vnd.apache.parquet' } });
  const text = await res.text();
  if (res.status !== 200 || (JSON.parse(text) as { written: number }).written !== rows) throw new Error(`import: ${res.status} ${text}`);
  const rate = rows / ((performance.now() - started) / 1000);
  // Read once the answer is in: the rows are durable and indexed (the ticket is held until the index has them).
  const cpuPerMillion = ((cpuSeconds(pid) - cpuBefore) * 1e6) / rows;
  const spent = threadCpuSince(threadsBefore, threadCpu(pid));
  const threads = THREAD_KINDS.map((kind): [string, number] => [kind, (spent[kind] * 1e6) / rows])
    .filter(([, s]) => s >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([name, s]) => `${name} ${fmt(s, 2)}`)
    .join(', ');
  return { rate, cpuPerMillion, threads };
}

/** Runs the benchmark and logs a Markdown table. */
export async function runParquetImportBench(o: { rows: number; runs: number; root: string; log: (line: string) => void }): Promise<void> {
  const file = path.join(o.root, `parquet-import-${o.rows}.parquet`);
  const bytes = writeFile(file, o.rows);
  const raw: number[] = [];
  const converted: number[] = [];
  const cli: number[] = [];
  const server: number[] = [];
  const serverCpu: number[] = [];
  for (let run = 0; run < o.runs; run++) {
    raw.push(await rawDecode(file));
    converted.push(await decodeAndConvert(file));
    cli.push(await withNode(o.root, (url) => cliImport(file, o.rows, url, o.root)));
    const imported = await withNode(o.root, (url, pid) => serverImport(file, o.rows, url, pid));
    server.push(imported.rate);
    serverCpu.push(imported.cpuPerMillion);
    o.log(`run ${run + 1}: import ${fmt(imported.rate)} rows/s, node ${fmt(imported.cpuPerMillion, 2)} CPU-s per 1M rows (${imported.threads})`);
  }
  const base = median(raw);
  const line = (what: string, values: number[], note = ''): void => {
    const m = median(values);
    o.log(`| ${what} | ${fmt(m)} | ${fmt(m / base, 2)}× | ${note} |`);
  };
  o.log(`## Parquet import (median of ${o.runs})`);
  o.log('');
  o.log(`${fmt(o.rows)} rows × 7 columns, ${fmt(bytes / 2 ** 20, 1)} MiB, snappy, row groups of ${fmt(ROW_GROUP_ROWS)} rows (hyparquet-writer). Imports go into a fresh single node each run; the client, the node and its workers share the machine.`);
  o.log('');
  o.log('| figure | rows/s | ratio to raw decode | |');
  o.log('|---|---|---|---|');
  line('hyparquet raw decode, 1 thread, no rows built', raw, 'the reader’s limit');
  line('decode + convert to request bodies, 1 thread', converted, 'what the importer does before sending');
  line('`sluice ingest` (CLI → node over HTTP, dedupe keys on every row)', cli, 'target ≥ 0.6×');
  line('`POST /v1/tables/{t}/import` (node-side, no dedupe keys)', server, `node ${fmt(median(serverCpu), 2)} CPU-s per 1M rows`);
  o.log('');
}
