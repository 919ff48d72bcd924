/**
 * Per-table rate and burst limits and the event-time bound, against a live
 * `sluice serve` with a real HTTP client and the real gRPC client of the
 * shipped .proto: limits set in the definition and by `PATCH
 * /v1/tables/{t}`, a burst taken, the next write refused whole with 429
 * RATE_LIMITED and a Retry-After after which it succeeds, a request past
 * the burst refused for good (413), another table unaffected, a gRPC stream
 * waiting where a unary write is refused, far-future event times refused
 * (reject) or listed (skip), what landed read back through the export, and
 * the settings surviving a SIGKILL and restart.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { status, type ServiceError } from '@grpc/grpc-js';
import { NodeProcess, http, runCli, tempDir } from './harness.ts';
import { ingestClient, ingestStream, ingestWrite, type IngestClient } from './ingest-client.ts';

const FIELDS = [
  { name: 'device', type: 'string', required: true },
  { name: 'ts', type: 'timestamp', required: true },
  { name: 'n', type: 'int' },
];
/** Limited by PATCH below; an event-time bound of one minute from its definition. */
const METERED = { name: 'metered', shardKey: 'device', timeField: 'ts', fields: FIELDS, limits: { eventTimeAheadMsMax: 60_000 } };
/** No limits: the node's default event-time bound (1 h) only. */
const OTHER = { name: 'other', shardKey: 'device', timeField: 'ts', fields: FIELDS };
const RATE = { recordsPerSecond: 20, recordsBurst: 40 };

/** `n` NDJSON records named `prefix-i`, event time `now + aheadMs`. */
function records(prefix: string, n: number, aheadMs = 0): string {
  const ts = Date.now() + aheadMs;
  return Array.from({ length: n }, (_, i) => JSON.stringify({ device: `${prefix}-${i}`, ts, n: i })).join('\n');
}

function post(base: string, table: string, body: string, query = ''): ReturnType<typeof http> {
  return http(`${base}/v1/tables/${table}/records${query}`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } });
}

async function exported(base: string, table: string): Promise<string[]> {
  const res = await http(`${base}/v1/tables/${table}/export`);
  assert.equal(res.status, 200, res.text);
  return res.text.trim() === '' ? [] : res.text.trim().split('\n').map((l) => (JSON.parse(l) as { device: string }).device).sort();
}

function byPrefix(devices: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const d of devices) {
    const p = d.slice(0, d.lastIndexOf('-'));
    out[p] = (out[p] ?? 0) + 1;
  }
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('table limits on a live node', () => {
  let node: NodeProcess;
  let base: string;
  let dataDir: string;
  let grpc: IngestClient;
  const cleanups: (() => Promise<void> | void)[] = [];
  const t = { after: (fn: () => Promise<void> | void) => cleanups.push(fn) };
  const start = async (extra: string[] = []): Promise<void> => {
    // gRPC on a port the node picks (no race with other processes for a free one), read back from its log.
    node = await NodeProcess.start(t, { dataDir, args: ['--shards', '4', '--grpc', '127.0.0.1:0', ...extra] });
    base = node.url;
    const port = node.logs.find((l) => l['event'] === 'grpc_listening')?.['port'];
    assert.ok(typeof port === 'number' && port > 0, 'the node logs its gRPC port');
    grpc = ingestClient(port);
    const c = grpc;
    cleanups.push(() => c.close());
  };
  before(async () => {
    dataDir = tempDir(t, 'sluice-limits-');
    await start();
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  test('limits in the definition and by PATCH, shown by GET; bad settings refused with their path', async () => {
    for (const def of [METERED, OTHER]) {
      const created = await http(`${base}/v1/tables`, { method: 'POST', body: JSON.stringify(def) });
      assert.equal(created.status, 201, created.text);
    }
    assert.deepEqual((await http(`${base}/v1/tables/metered`)).body.limits, { eventTimeAheadMsMax: 60_000 });
    assert.deepEqual((await http(`${base}/v1/tables/other`)).body.limits, { eventTimeAheadMsMax: 3_600_000 }, 'the node default applies');

    const patched = await http(`${base}/v1/tables/metered`, { method: 'PATCH', body: JSON.stringify({ limits: RATE }) });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual(patched.body.limits, { ...RATE, eventTimeAheadMsMax: 60_000 }, 'a merge patch: the bound stays');
    assert.equal(patched.body.version, 1, 'settings are not a schema version');
    assert.deepEqual((await http(`${base}/v1/tables/metered`)).body.limits, { ...RATE, eventTimeAheadMsMax: 60_000 });

    const negative = await http(`${base}/v1/tables/metered`, { method: 'PATCH', body: JSON.stringify({ limits: { recordsPerSecond: -5 } }) });
    assert.equal(negative.status, 400);
    assert.equal(negative.body.error.code, 'INVALID_TABLE_DEFINITION');
    assert.equal(negative.body.error.details[0].path, '/limits/recordsPerSecond');
    const schema = await http(`${base}/v1/tables/metered`, { method: 'PATCH', body: JSON.stringify({ fields: FIELDS }) });
    assert.equal(schema.status, 400);
    assert.match(schema.body.error.message, /PATCH \/v1\/tables\/\{t\}\/schema/);
    // A described table can be sent back to the schema route with a new field; its limits must then be the current ones.
    const described = (await http(`${base}/v1/tables/metered`)).body;
    const evolved = await http(`${base}/v1/tables/metered/schema`, { method: 'PATCH', body: JSON.stringify({ ...described, fields: [...described.fields, { name: 'note', type: 'string' }] }) });
    assert.equal(evolved.status, 200, evolved.text);
    assert.equal(evolved.body.version, 2);
    assert.deepEqual(evolved.body.limits, described.limits, 'a schema change keeps the limits');
    const sneaky = await http(`${base}/v1/tables/metered/schema`, { method: 'PATCH', body: JSON.stringify({ ...evolved.body, limits: { recordsPerSecond: 1 } }) });
    assert.equal(sneaky.status, 400);
    assert.match(sneaky.body.error.message, /PATCH \/v1\/tables\/\{t\} \{"limits"/);
    const burstAlone = await http(`${base}/v1/tables`, { method: 'POST', body: JSON.stringify({ ...OTHER, name: 'nope', limits: { recordsBurst: 5 } }) });
    assert.equal(burstAlone.status, 400);
    assert.equal(burstAlone.body.error.details[0].path, '/limits/recordsBurst');
    assert.equal((await http(`${base}/v1/tables/nope`)).status, 404, 'a refused definition creates nothing');
    assert.equal((await http(`${base}/v1/tables/missing`, { method: 'PATCH', body: JSON.stringify({ limits: RATE }) })).status, 404);
  });

  test('a burst is taken, the next write is 429 RATE_LIMITED with Retry-After, and succeeds after it; other tables are unaffected', async () => {
    const burst = await post(base, 'metered', records('burst', 40));
    assert.equal(burst.status, 200, burst.text);
    assert.equal(burst.body.written, 40);

    // 20 records at 20/s: refused unless a second passed since the burst.
    const refused = await post(base, 'metered', records('late', 20));
    assert.equal(refused.status, 429, refused.text);
    assert.equal(refused.body.error.code, 'RATE_LIMITED');
    assert.match(refused.body.error.message, /nothing was written/);
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 1, `20 records at 20/s, a few tokens back already: Retry-After ${retryAfter}`);

    const huge = await post(base, 'metered', records('huge', 41));
    assert.equal(huge.status, 413, huge.text);
    assert.equal(huge.body.error.code, 'RATE_LIMIT_BURST_EXCEEDED');
    assert.equal(huge.headers.get('retry-after'), null, 'no retry can make it fit');

    const other = await post(base, 'other', records('free', 1000));
    assert.equal(other.status, 200, other.text);
    assert.equal(other.body.written, 1000);

    await sleep(retryAfter * 1000);
    const retried = await post(base, 'metered', records('late', 20));
    assert.equal(retried.status, 200, retried.text);
    assert.equal(retried.body.written, 20);

    assert.deepEqual(byPrefix(await exported(base, 'metered')), { burst: 40, late: 20 }, 'nothing of a refused request was written');
    const metrics = await http(`${base}/metrics`);
    assert.match(metrics.text, /sluice_rate_limited_total\{table="metered",reason="records_rate"\} [1-9]/);
    assert.match(metrics.text, /sluice_rate_limited_total\{table="metered",reason="records_burst"\} 1/);
  });

  test('gRPC: a unary write past the limit is RESOURCE_EXHAUSTED (RATE_LIMITED, retry-after)', async () => {
    // The previous test just took the bucket's tokens: 20 records at 20/s are refused unless a second passed.
    const err = await ingestWrite(grpc, { table: 'metered', records: Buffer.from(records('grpc-refused', 20)) }).then(
      () => undefined,
      (e: ServiceError) => e,
    );
    assert.equal(err?.code, status.RESOURCE_EXHAUSTED);
    assert.equal(err?.metadata.get('sluice-code')[0], 'RATE_LIMITED');
    assert.ok(Number(err?.metadata.get('retry-after')[0]) >= 1);
    assert.ok(Number(err?.metadata.get('grpc-retry-pushback-ms')[0]) > 0);
  });

  test('event times too far ahead: refused whole under reject, listed under skip; the bound is per table', async () => {
    const before = (await exported(base, 'other')).length;
    const mixed = `${records('now', 1)}\n${records('future', 1, 2 * 3_600_000)}`;
    const rejected = await post(base, 'other', mixed);
    assert.equal(rejected.status, 400, rejected.text);
    assert.equal(rejected.body.error.code, 'EVENT_TIME_IN_FUTURE');
    assert.deepEqual(rejected.body.error.details.map((d: { index: number; path: string; code: string }) => [d.index, d.path, d.code]), [[1, '/ts', 'EVENT_TIME_IN_FUTURE']]);
    assert.equal((await exported(base, 'other')).length, before, 'nothing written');

    const skipped = await post(base, 'other', mixed, '?on_invalid=skip');
    assert.equal(skipped.status, 200, skipped.text);
    assert.equal(skipped.body.written, 1);
    assert.equal(skipped.body.ids[1], null);
    assert.deepEqual(skipped.body.rejected.map((r: { index: number; code: string }) => [r.index, r.code]), [[1, 'EVENT_TIME_IN_FUTURE']]);

    // A body past --worker-body-bytes-min (64 KiB) is validated in a decode worker: the bound travels with it.
    const large = `${records('large', 2000)}\n${records('large-future', 1, 2 * 3_600_000)}`;
    assert.ok(large.length > 64 * 1024);
    const inWorker = await post(base, 'other', large);
    assert.equal(inWorker.body.error?.code, 'EVENT_TIME_IN_FUTURE', inWorker.text.slice(0, 300));
    assert.equal(inWorker.body.error.details[0].index, 2000);

    const iso = JSON.stringify({ device: 'iso-0', ts: new Date(Date.now() + 2 * 3_600_000).toISOString() });
    assert.equal((await post(base, 'other', iso)).body.error?.code, 'EVENT_TIME_IN_FUTURE', 'an ISO time is judged after parsing');
    assert.equal((await post(base, 'other', records('soon', 1, 30 * 60_000))).status, 200, 'within the default hour');
    const metered = await post(base, 'metered', records('minutes', 1, 2 * 60_000));
    assert.equal(metered.body.error?.code, 'EVENT_TIME_IN_FUTURE', 'metered allows one minute');

    const devices = byPrefix(await exported(base, 'other'));
    assert.equal(devices['now'], 1);
    assert.equal(devices['soon'], 1);
    assert.equal(devices['future'], undefined);
    assert.equal(devices['iso'], undefined);
    assert.equal(devices['large'], undefined, 'nothing of the large refused body');
    const metrics = await http(`${base}/metrics`);
    assert.match(metrics.text, /sluice_event_time_in_future_records_total\{table="other"\} 4/);
  });

  test('a patched rate and burst apply to the live bucket; a gRPC stream and a file import wait for the rate instead of failing, even past the burst', async () => {
    const faster = await http(`${base}/v1/tables/metered`, { method: 'PATCH', body: JSON.stringify({ limits: { recordsPerSecond: 100, recordsBurst: 10 } }) });
    assert.equal(faster.status, 200, faster.text);
    const overBurst = await post(base, 'metered', records('over', 11));
    assert.equal(overBurst.body.error?.code, 'RATE_LIMIT_BURST_EXCEEDED', 'the new burst holds at once, without a restart');

    // 30 records in batches of 10 on a bucket of at most 10: a unary write would be refused; the stream waits.
    let started = Date.now();
    const replies = await ingestStream(grpc, [0, 1, 2].map((i) => ({ table: 'metered', records: Buffer.from(records(`stream${i}`, 10)), sequence: String(i) })));
    assert.deepEqual(replies.map((r) => [r.error, r.written]), [[null, 10], [null, 10], [null, 10]], 'no batch of a stream fails for the rate');
    assert.ok(Date.now() - started >= 190, `at least 20 records at 100/s (took ${Date.now() - started} ms)`);

    // One import batch of 60 rows, six times the burst: a request would be refused for good; the import waits at least 50 rows at 100/s.
    const ts = new Date().toISOString();
    const csv = ['device,ts,n', ...Array.from({ length: 60 }, (_, i) => `import-${i},${ts},${i}`)].join('\n');
    started = Date.now();
    const res = await http(`${base}/v1/tables/metered/import`, { method: 'POST', body: csv, headers: { 'content-type': 'text/csv' } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.written, 60);
    assert.ok(Date.now() - started >= 490, `took ${Date.now() - started} ms`);

    assert.deepEqual(byPrefix(await exported(base, 'metered')), { burst: 40, late: 20, stream0: 10, stream1: 10, stream2: 10, import: 60 }, 'nothing of a refused request was written');
    const metrics = await http(`${base}/metrics`);
    assert.match(metrics.text, /sluice_rate_limit_wait_seconds_total\{table="metered"\} [0-9.]+/);
    assert.equal((await http(`${base}/v1/tables/metered`, { method: 'PATCH', body: JSON.stringify({ limits: RATE }) })).status, 200);
  });

  test('the limits survive a SIGKILL and restart; the bucket starts full', async () => {
    await node.kill('SIGKILL');
    // Restarted with another node-wide event-time bound: it applies to tables that set none.
    await start(['--event-time-ahead-max-ms', '600000']);
    assert.deepEqual((await http(`${base}/v1/tables/metered`)).body.limits, { ...RATE, eventTimeAheadMsMax: 60_000 });
    assert.deepEqual((await http(`${base}/v1/tables/other`)).body.limits, { eventTimeAheadMsMax: 600_000 });
    assert.equal((await post(base, 'other', records('ten-minutes', 1, 20 * 60_000))).body.error?.code, 'EVENT_TIME_IN_FUTURE');
    assert.equal((await post(base, 'metered', records('restart', 40))).status, 200);
    const refused = await post(base, 'metered', records('restart-late', 20));
    assert.equal(refused.status, 429, refused.text);
    assert.equal(refused.body.error.code, 'RATE_LIMITED');

    // Lifting the rate (null removes it) lets the same request through at once.
    const lifted = await http(`${base}/v1/tables/metered`, { method: 'PATCH', body: JSON.stringify({ limits: { recordsPerSecond: null, recordsBurst: null } }) });
    assert.deepEqual(lifted.body.limits, { eventTimeAheadMsMax: 60_000 });
    assert.equal((await post(base, 'metered', records('restart-late', 20))).status, 200);
    assert.equal(byPrefix(await exported(base, 'metered'))['restart-late'], 20);

    // The CLI: only the flags given change; "none" removes (its flag parsing is unit-tested in test/cli).
    const cli = runCli(['table', 'limits', 'metered', '--url', base, '--bytes-per-second', '1048576', '--event-time-ahead-max-ms', 'none']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.deepEqual(JSON.parse(cli.stdout), { bytesPerSecond: 1_048_576, bytesBurst: 1_048_576, eventTimeAheadMsMax: 600_000 });
  });
});
