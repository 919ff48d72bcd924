/**
 * Operations endpoints: liveness, readiness, Prometheus metrics, and the
 * on-demand CPU profile, allocation profile and heap snapshot used before
 * optimising anything.
 */
import { Session } from 'node:inspector/promises';
import { getHeapSnapshot } from 'node:v8';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { SluiceError } from '../../../core/errors.ts';
import { setCounterTotal } from '../../metrics.ts';
import type { ApiContext } from '../api-context.ts';
import { intParam, queryParams } from '../query-params.ts';
import { PUBLIC, needs, scope } from '../route-auth.ts';

/** Longest CPU or allocation profile one request may take. */
const PROFILE_SECONDS_MAX = 120;
/** Mean bytes allocated between two allocation samples (V8's default). */
const ALLOCATION_SAMPLE_BYTES = 32 * 1024;

/**
 * Runs a profile for `seconds` on an inspector session of its own: `begin`
 * starts it and gives the function that stops it and returns the result.
 * One profile of each kind at a time (OVERLOADED otherwise).
 */
async function inspectorWindow<T>(running: Set<string>, kind: string, seconds: number, begin: (session: Session) => Promise<() => Promise<T>>): Promise<T> {
  if (running.has(kind)) throw new SluiceError('OVERLOADED', `a ${kind} profile is already running`);
  running.add(kind);
  const session = new Session();
  try {
    session.connect();
    const end = await begin(session);
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    return await end();
  } finally {
    session.disconnect();
    running.delete(kind);
  }
}

/** Registers the operations routes. */
export function registerOpsRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/healthz', needs(PUBLIC), async (_request, reply) => reply.type('application/json').send('{"status":"ok"}'));

  app.get('/readyz', needs(PUBLIC), async (_request, reply) => {
    const phase = ctx.phase();
    if (phase === 'ready') return reply.type('application/json').send('{"status":"ready"}');
    const err = new SluiceError(phase === 'stopping' ? 'SHUTTING_DOWN' : 'NOT_READY', `node is ${phase}`);
    return reply.code(503).type('application/json').send(JSON.stringify(err.toBody()));
  });

  // Every source of the node (HTTP, gRPC, Kafka) with its state and progress.
  app.get('/v1/sources', needs(scope('ops')), async (_request, reply) => reply.type('application/json').send(JSON.stringify({ sources: ctx.sources() })));

  app.get('/metrics', needs(scope('ops')), (_request, reply) => sendMetrics(ctx, reply));
  // A heap snapshot holds request bodies and bearer headers in flight: only on request, only for admin.
  if (ctx.config.debugEndpoints) registerDebugRoutes(app);
}

/** Prometheus text of the node's metrics (also served without a token on --metrics-listen). */
export async function sendMetrics(ctx: ApiContext, reply: FastifyReply): Promise<FastifyReply> {
  ctx.metrics.inFlightBytes.set(ctx.admission.inFlightBytes);
  ctx.metrics.inFlightRequests.set(ctx.admission.inFlightRequests);
  for (const source of ctx.sources()) {
    const labels = { source: source.name, kind: source.kind };
    setCounterTotal(ctx.metrics.sourceRecords, labels, source.progress.records);
    setCounterTotal(ctx.metrics.sourceRejected, labels, source.progress.rejected);
    ctx.metrics.sourcePaused.set(labels, source.state === 'paused' ? 1 : 0);
  }
  if (ctx.phase() === 'ready') {
    const cluster = ctx.services().cluster;
    if (cluster !== undefined) {
      const status = await cluster.status();
      for (const n of status.nodes) ctx.metrics.hintsPending.set({ peer: n.id }, n.hintsPending);
      setCounterTotal(ctx.metrics.hintsDropped, {}, status.hintsDropped);
      setCounterTotal(ctx.metrics.hintsExpired, {}, status.hintsExpired);
      setCounterTotal(ctx.metrics.hintsRefused, {}, status.hintsRefused);
      const tx = status.transactions;
      ctx.metrics.txPending.set(tx.pending);
      ctx.metrics.txPendingBytes.set(tx.pendingBytes);
      ctx.metrics.txPendingOldestSeconds.set(tx.oldestPendingMs / 1000);
      ctx.metrics.txUnconcluded.set(tx.undecided.filter((u) => u.state.endsWith('(unconcluded)')).length);
    }
  }
  return reply.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
}

function registerDebugRoutes(app: FastifyInstance): void {
  const running = new Set<string>();
  app.get('/debug/profile', needs(scope('admin')), async (request, reply) => {
    const seconds = intParam(queryParams(request), 'seconds', 10, PROFILE_SECONDS_MAX);
    const profile = await inspectorWindow(running, 'CPU', seconds, async (session) => {
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
      return async () => (await session.post('Profiler.stop')).profile;
    });
    return reply.type('application/json').header('content-disposition', `attachment; filename="sluice-${Date.now()}.cpuprofile"`).send(JSON.stringify(profile));
  });

  // Where the garbage comes from: every sampled allocation of the window, collected or not (a heap snapshot shows only survivors).
  app.get('/debug/allocations', needs(scope('admin')), async (request, reply) => {
    const seconds = intParam(queryParams(request), 'seconds', 10, PROFILE_SECONDS_MAX);
    const profile = await inspectorWindow(running, 'allocation', seconds, async (session) => {
      await session.post('HeapProfiler.enable');
      await session.post('HeapProfiler.startSampling', { samplingInterval: ALLOCATION_SAMPLE_BYTES, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
      return async () => (await session.post('HeapProfiler.stopSampling')).profile;
    });
    return reply.type('application/json').header('content-disposition', `attachment; filename="sluice-${Date.now()}.heapprofile"`).send(JSON.stringify(profile));
  });

  app.get('/debug/heap', needs(scope('admin')), async (_request, reply) =>
    reply
      .type('application/json')
      .header('content-disposition', `attachment; filename="sluice-${Date.now()}.heapsnapshot"`)
      .send(getHeapSnapshot()),
  );
}
