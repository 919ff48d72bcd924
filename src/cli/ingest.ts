/**
 * `sluice ingest FILE --table T`: streams an NDJSON file (optionally .gz)
 * to a node in batches, several requests in flight, with a live progress
 * bar and a summary. 429/503 answers are retried after Retry-After; any
 * other refusal stops the import with the node's error.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { Command, Option } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { CliError } from './cli-error.ts';
import { DEFAULT_URL, describeError, parseAnswer } from './http-client.ts';

interface IngestOptions {
  table: string;
  url: string;
  batchRecords: string;
  batchBytes: string;
  concurrency: string;
  onInvalid: 'reject' | 'skip';
  progress: boolean;
}

/** Retries of one batch on 429/503 before giving up. */
const RETRIES_MAX = 50;

/** The ingest command. */
export function ingestCommand(): Command {
  return new Command('ingest')
    .description('import an NDJSON file (.ndjson, .jsonl, optionally .gz) into a table')
    .argument('<file>', 'file to import')
    .requiredOption('--table <name>', 'target table')
    .option('--url <url>', 'sluice node URL', DEFAULT_URL)
    .option('--batch-records <n>', 'records per request', '1000')
    .option('--batch-bytes <n>', 'largest request body', String(4 * 1024 * 1024))
    .option('--concurrency <n>', 'requests in flight', '4')
    .addOption(new Option('--on-invalid <mode>', 'invalid records: reject the batch (stop) or skip them').choices(['reject', 'skip']).default('reject'))
    .option('--no-progress', 'no progress bar (summary only)')
    .action(async (file: string, o: IngestOptions) => {
      const summary = await ingestFile(file, o);
      process.stdout.write(
        `${summary.written} records written, ${summary.rejected} rejected, ${summary.requests} requests in ${summary.seconds.toFixed(1)} s (${Math.round(summary.written / Math.max(summary.seconds, 1e-3))} records/s)\n`,
      );
      if (summary.rejected > 0) process.exitCode = 3;
    });
}

interface Summary {
  written: number;
  rejected: number;
  requests: number;
  seconds: number;
}

async function ingestFile(file: string, o: IngestOptions): Promise<Summary> {
  const batchRecords = positive(o.batchRecords, '--batch-records');
  const batchBytes = positive(o.batchBytes, '--batch-bytes');
  const concurrency = positive(o.concurrency, '--concurrency');
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`, 2);
  }
  const target = `${o.url}/v1/tables/${encodeURIComponent(o.table)}/records${o.onInvalid === 'skip' ? '?on_invalid=skip' : ''}`;
  const started = performance.now();
  const summary: Summary = { written: 0, rejected: 0, requests: 0, seconds: 0 };
  const bar = o.progress && process.stderr.isTTY ? new SingleBar({ format: ' {bar} {percentage}% | {records} records | {rate} rec/s | ETA {eta_formatted}', stream: process.stderr }, Presets.shades_classic) : undefined;
  bar?.start(size, 0, { records: 0, rate: 0 });
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let bytesRead = 0;
  const send = (lines: string[]): void => {
    const p = post(target, lines.join('\n'), summary)
      .then(() => {
        const secs = (performance.now() - started) / 1000;
        bar?.update(bytesRead, { records: summary.written, rate: Math.round(summary.written / Math.max(secs, 1e-3)) });
      })
      .catch((err: unknown) => {
        failure ??= err;
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  const raw = createReadStream(file);
  raw.on('data', (chunk) => {
    bytesRead += chunk.length;
  });
  const stream = file.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  let pending: string[] = [];
  let pendingBytes = 0;
  let rest = '';
  try {
    for await (const chunk of stream) {
      const text = rest + (chunk as Buffer).toString('utf8');
      const lines = text.split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim().length === 0) continue;
        pending.push(line);
        pendingBytes += line.length + 1;
        if (pending.length >= batchRecords || pendingBytes >= batchBytes) {
          send(pending);
          pending = [];
          pendingBytes = 0;
          // Bound memory: read on only when a request slot is free.
          while (inFlight.size >= concurrency) await Promise.race(inFlight);
          if (failure !== undefined) break;
        }
      }
      if (failure !== undefined) break;
    }
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`, 2);
  }
  if (failure === undefined) {
    if (rest.trim().length > 0) pending.push(rest);
    if (pending.length > 0) send(pending);
  }
  await Promise.all(inFlight);
  bar?.update(size, { records: summary.written });
  bar?.stop();
  summary.seconds = (performance.now() - started) / 1000;
  if (failure !== undefined) {
    raw.destroy();
    throw failure instanceof CliError ? new CliError(`${failure.message}\n(${summary.written} records were written before the failure)`, failure.exitCode) : failure;
  }
  return summary;
}

async function post(url: string, body: string, summary: Summary): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    let res: Response;
    try {
      res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } });
    } catch (err) {
      throw new CliError(`cannot reach ${new URL(url).origin}: ${(err as Error).message}`);
    }
    summary.requests++;
    const text = await res.text();
    if (res.ok) {
      const answer = JSON.parse(text) as { written: number; rejected_count?: number };
      summary.written += answer.written;
      summary.rejected += answer.rejected_count ?? 0;
      return;
    }
    if ((res.status === 429 || res.status === 503) && attempt < RETRIES_MAX) {
      const after = Number(res.headers.get('retry-after') ?? '1');
      await new Promise((r) => setTimeout(r, Math.min(Number.isFinite(after) ? after : 1, 5) * 1000 * (0.5 + Math.random())));
      continue;
    }
    throw new CliError(describeError(res.status, parseAnswer(text)));
  }
}

function positive(value: string, flag: string): number {
  if (!/^[0-9]+$/.test(value) || Number(value) < 1) throw new CliError(`${flag} must be a positive integer, got ${value}`, 2);
  return Number(value);
}
