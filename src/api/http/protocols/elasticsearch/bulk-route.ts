/**
 * `POST|PUT /_bulk` and `/{index}/_bulk`: an Elasticsearch bulk request
 * becomes one write per target table through the node's door (admission,
 * the shared pipeline in skip mode, the WAL), answered after the fsync
 * with Elasticsearch's per-item answer. The body's tables are learnt only
 * from its action lines, so the route needs `write` on some table before
 * the body is read, and each table's `write` scope is checked once read
 * (a table the token may not write answers its items 403).
 */
import type { OnInvalid } from '../../../../ingest/batch-encoder.ts';
import { protocolOnInvalid } from '../protocol-on-invalid.ts';
import { isUtf8 } from 'node:buffer';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SluiceError, isSluiceError } from '../../../../core/errors.ts';
import type { AdmissionTicket } from '../../../../ingest/admission.ts';
import { shareTicket } from '../../../../ingest/shared-ticket.ts';
import type { WriteResult } from '../../../../ingest/pipeline.ts';
import { tableNeed } from '../../../../security/scopes.ts';
import type { ApiContext } from '../../api-context.ts';
import { authorizeRequest } from '../../auth-hook.ts';
import { readBody } from '../../body-reader.ts';
import { onSomeTable, type RouteAuth } from '../../route-auth.ts';
import { ensureTable } from '../ensure-table.ts';
import { parseBulkBody, uniformOps } from './bulk-ndjson.ts';
import { uniformTarget, writeUniform } from './bulk-uniform.ts';
import { planBulk, tableWrite, type BulkPlan, type TableBatch } from './bulk-plan.ts';
import { failedBatch, settleDeferred, writtenBatch } from './bulk-answer.ts';
import { bulkAnswerBytes } from './bulk-answer-bytes.ts';
import { esTableDefinition, esTableProblem } from './index-table.ts';
import { currentDef } from '../../../../storage/catalog.ts';
import { withoutExistingCreates } from './create-check.ts';
import { DocIdGenerator } from './doc-ids.ts';

/** Media types read as NDJSON (rsyslog sends application/json; the Elastic clients the vendor types), parameters ignored. */
const BULK_MEDIA_TYPES: ReadonlySet<string> = new Set(['application/json', 'application/x-ndjson', 'application/vnd.elasticsearch+x-ndjson', 'application/vnd.elasticsearch+json']);

/** Registers the bulk routes with `routeOptions` (auth, the product header hook). */
export function registerBulkRoutes(app: FastifyInstance, ctx: ApiContext, routeOptions: { config: { auth: RouteAuth; shipperCredentials: boolean } }): void {
  const ids = new DocIdGenerator();
  const config = { ...routeOptions.config, auth: onSomeTable('write') };
  app.route({ method: ['POST', 'PUT'], url: '/_bulk', ...routeOptions, config, handler: (request, reply) => bulk(ctx, ids, request, reply, undefined) });
  app.route<{ Params: { index: string } }>({
    method: ['POST', 'PUT'],
    url: '/:index/_bulk',
    ...routeOptions,
    config,
    handler: (request, reply) => bulk(ctx, ids, request, reply, request.params.index),
  });
}

async function bulk(ctx: ApiContext, ids: DocIdGenerator, request: FastifyRequest, reply: FastifyReply, pathIndex: string | undefined): Promise<FastifyReply> {
  const startedMs = Date.now();
  checkMediaType(request.headers['content-type']);
  ctx.services();
  const declared = Number(request.headers['content-length'] ?? 0);
  const ticket = ctx.door.tryAdmit(Number.isFinite(declared) ? Math.min(declared, ctx.config.bodyBytesMax) : 0);
  if (ticket === undefined) throw new SluiceError('OVERLOADED', 'too many writes in flight; retry after the Retry-After delay');
  let plan: BulkPlan;
  try {
    const body = await readBody(request.raw, { bodyBytesMax: ctx.config.bodyBytesMax, ticket });
    if (!isUtf8(body)) throw new SluiceError('INVALID_ENCODING', 'the _bulk body is not valid UTF-8');
    const uniform = uniformOps(body);
    const target = uniform === undefined ? undefined : uniformTarget(uniform, pathIndex, ctx.config.esTablePrefix);
    if (uniform !== undefined && target !== undefined) {
      const answer = await writeUniform({ ctx, request, body, ids, startedMs }, uniform, target, ticket);
      return reply.code(200).type('application/json').send(answer);
    }
    const ops = parseBulkBody(body);
    if (ops.length === 0) throw new SluiceError('EMPTY_BODY', 'the _bulk body holds no actions');
    plan = planBulk(body, ops, {
      pathIndex,
      tablePrefix: ctx.config.esTablePrefix,
      tablesMax: ctx.config.esBulkIndicesMax,
      newId: () => ids.next(),
    });
  } catch (err) {
    ticket.release();
    throw err;
  }
  await writeBatches(ctx, request, plan, ticket, startedMs);
  return reply.code(200).type('application/json').send(bulkAnswerBytes(plan.items, plan.outcomes, Date.now() - startedMs));
}

/**
 * Writes every table's batch at once and records the outcomes. When every
 * write failed with a retryable error (overload, not ready, no quorum),
 * the request fails with it: 429/503 and Retry-After, nothing written.
 */
async function writeBatches(ctx: ApiContext, request: FastifyRequest, plan: BulkPlan, ticket: AdmissionTicket, startedMs: number): Promise<void> {
  const batches = [...plan.batches.values()];
  if (batches.length === 0) {
    ticket.release();
    return;
  }
  // The body was admitted once; its tables' writes share that ticket, released after the last of them.
  const tickets = shareTicket(ticket, batches.length);
  const settled = await Promise.allSettled(batches.map((batch, i) => writeTable(ctx, request, batch, plan, tickets[i] as AdmissionTicket)));
  const failures = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
  const first = failures[0];
  if (first !== undefined && (!isSluiceError(first) || (failures.length === batches.length && first.canRetry))) throw first;
  settled.forEach((s, i) => {
    const batch = batches[i] as TableBatch;
    if (s.status === 'rejected') failedBatch(batch, s.reason as SluiceError, plan.outcomes);
    else if (s.value.result !== undefined) writtenBatch(s.value.batch, s.value.result, plan.items, { startedMs, timeField: ctx.config.esTimeField }, plan.outcomes, plan.prior);
  });
  settleDeferred(plan.deferred, plan.items, plan.outcomes, plan.prior);
}

/**
 * One table's records: scope, table, the creates that would overwrite
 * (409, left out), write. `ticket` is released on every path. Returns the
 * batch as written (without those creates) and its result.
 */
async function writeTable(ctx: ApiContext, request: FastifyRequest, planned: TableBatch, plan: BulkPlan, ticket: AdmissionTicket): Promise<{ batch: TableBatch; result: WriteResult | undefined }> {
  let batch: TableBatch;
  let onInvalid: OnInvalid;
  try {
    authorizeRequest(ctx.auth, request, tableNeed('write', planned.table));
    const entry = await ensureTable(ctx, esTableDefinition(planned.table));
    onInvalid = protocolOnInvalid(request, entry, 'skip');
    const problem = esTableProblem(currentDef(entry));
    if (problem !== undefined) throw new SluiceError('SCHEMA_INCOMPATIBLE', `the table ${planned.table} exists but cannot take Elasticsearch documents: ${problem} (docs/protocols.md)`);
    batch = await withoutExistingCreates(ctx, planned, plan.items, plan.outcomes);
  } catch (err) {
    ticket.release();
    throw err;
  }
  if (batch.positions.length === 0) {
    ticket.release();
    return { batch, result: undefined };
  }
  const { body, frames, envelope, minted } = tableWrite(plan, batch, ctx.config.esTimeField);
  const write = { table: batch.table, body, frames, envelope, format: 'ndjson', onInvalid, source: 'elasticsearch', requestId: String(request.id) } as const;
  // Made-up ids are new by construction (doc-ids.ts): no primary-key lookups for them.
  const result = await ctx.door.write(minted ? { ...write, keysMinted: true } : write, ticket, ctx.endpoints.http.progress);
  return { batch, result };
}

function checkMediaType(contentType: string | undefined): void {
  const mime = (contentType ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
  if (!BULK_MEDIA_TYPES.has(mime)) {
    throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', `a _bulk body is NDJSON: send Content-Type application/x-ndjson, application/json or application/vnd.elasticsearch+x-ndjson, not ${JSON.stringify(contentType ?? '')}`);
  }
}
