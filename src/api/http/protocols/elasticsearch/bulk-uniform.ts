/**
 * The shippers' `_bulk`: every op the same `index` (or `create`) action
 * line without `_id`, so one table and only made-up ids (rsyslog,
 * Filebeat, Fluent Bit and Vector send this by default). Such a request
 * needs no per-op plan: the source ranges are one array of numbers, the
 * ids one string, and the answer, when every document was stored, one
 * template filled with the ids. Each op's objects in the general plan
 * lived until the answer, long enough to be promoted: garbage collection
 * took 6–10% of the main thread and 0.9 CPU-s per million more in V8's
 * helper threads than the native route (docs/benchmarks.md). Anything
 * else, and any answer other than "all created", goes through the general
 * plan's code (bulk-plan.ts), so the two cannot answer differently (a test
 * compares them).
 */
import type { FastifyRequest } from 'fastify';
import { isSluiceError, SluiceError } from '../../../../core/errors.ts';
import type { AdmissionTicket } from '../../../../ingest/admission.ts';
import { packStrings } from '../../../../ingest/frame-envelope.ts';
import type { WriteResult } from '../../../../ingest/pipeline.ts';
import { tableNeed } from '../../../../security/scopes.ts';
import { currentDef } from '../../../../storage/catalog.ts';
import type { ApiContext } from '../../api-context.ts';
import { authorizeRequest } from '../../auth-hook.ts';
import { ensureTable } from '../ensure-table.ts';
import { protocolOnInvalid } from '../protocol-on-invalid.ts';
import { failedBatch, writtenBatch, type ItemOutcome } from './bulk-answer.ts';
import { bulkAnswerBytes, uniformAnswerBytes } from './bulk-answer-bytes.ts';
import type { UniformOps } from './bulk-ndjson.ts';
import { esEnvelope, sourceFrames, type BulkItem, type TableBatch } from './bulk-plan.ts';
import { DOC_ID_CHARS, type DocIdGenerator } from './doc-ids.ts';
import { esTableDefinition, esTableProblem, tableOfIndex } from './index-table.ts';

/** What a uniform request needs besides its ops. */
export interface UniformRequest {
  readonly ctx: ApiContext;
  readonly request: FastifyRequest;
  readonly body: Buffer;
  readonly ids: DocIdGenerator;
  readonly startedMs: number;
}

/** The index and table of `ops`, or undefined when the general plan must answer (no index, or no valid table name). */
export function uniformTarget(ops: UniformOps, pathIndex: string | undefined, tablePrefix: string): { index: string; table: string } | undefined {
  const index = ops.index ?? pathIndex ?? '';
  const table = index === '' ? undefined : tableOfIndex(index, tablePrefix);
  return table === undefined ? undefined : { index, table };
}

/** Writes a uniform request's documents and returns the answer body; `ticket` is released on every path. */
export async function writeUniform(r: UniformRequest, ops: UniformOps, target: { index: string; table: string }, ticket: AdmissionTicket): Promise<Buffer> {
  const { ctx, request } = r;
  const ids = r.ids.nextMany(ops.count);
  let result: WriteResult;
  try {
    authorizeRequest(ctx.auth, request, tableNeed('write', target.table));
    const entry = await ensureTable(ctx, esTableDefinition(target.table));
    const onInvalid = protocolOnInvalid(request, entry, 'skip');
    const problem = esTableProblem(currentDef(entry));
    if (problem !== undefined) throw new SluiceError('SCHEMA_INCOMPATIBLE', `the table ${target.table} exists but cannot take Elasticsearch documents: ${problem} (docs/protocols.md)`);
    const envelope = esEnvelope(ctx.config.esTimeField, { text: ids, lengths: new Uint32Array(ops.count).fill(DOC_ID_CHARS) }, packStrings([target.index]));
    const { body, frames } = sourceFrames(r.body, ops.sources);
    const write = { table: target.table, body, frames, envelope, format: 'ndjson', onInvalid, source: 'elasticsearch', requestId: String(request.id), keysMinted: true } as const;
    // Made-up ids are new by construction (doc-ids.ts): no primary-key lookups for them.
    result = await ctx.door.write(write, ticket, ctx.endpoints.http.progress);
  } catch (err) {
    // (The door releases it on every path; a second release does nothing.)
    ticket.release();
    // As the general plan: a retryable failure of the request's only table fails the request (429/503).
    if (!isSluiceError(err) || err.canRetry) throw err;
    return answered(r, ops, target, ids, (batch, outcomes) => failedBatch(batch, err, outcomes));
  }
  if (result.rejectedCount === 0) return uniformAnswerBytes(ops.action, target.index, ids, DOC_ID_CHARS, Date.now() - r.startedMs);
  const at = { startedMs: r.startedMs, timeField: ctx.config.esTimeField };
  return answered(r, ops, target, ids, (batch, outcomes, items) => writtenBatch(batch, result, items, at, outcomes));
}

/** The answer through the general plan's items and outcomes (some document refused, or the write failed). */
function answered(r: UniformRequest, ops: UniformOps, target: { index: string; table: string }, ids: string, decide: (batch: TableBatch, outcomes: (ItemOutcome | undefined)[], items: BulkItem[]) => void): Buffer {
  const items: BulkItem[] = [];
  const batch: TableBatch = { table: target.table, sources: ops.sources, positions: [], earlier: [] };
  for (let i = 0; i < ops.count; i++) {
    items.push({ action: ops.action, index: target.index, id: ids.slice(i * DOC_ID_CHARS, (i + 1) * DOC_ID_CHARS), idGiven: false });
    batch.positions.push(i);
    batch.earlier.push(-1);
  }
  const outcomes = new Array<ItemOutcome | undefined>(ops.count);
  decide(batch, outcomes, items);
  return bulkAnswerBytes(items, outcomes, Date.now() - r.startedMs);
}
