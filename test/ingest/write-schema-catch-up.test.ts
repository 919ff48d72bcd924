/**
 * A write through a node behind on a table's schema (its etcd watch has not
 * brought a PATCH answered by another node): a record refused for a reason
 * a newer version could change (an unknown field, a type) makes the node
 * read the table from etcd and validate the body again under the newer
 * version, instead of answering 400 or dead-lettering a valid record.
 * Two ClusterTables over one real etcd stand for nodes A and B; B's watch
 * is held back by cancelling it (its etcd client stays up). One etcd for
 * the file: table ids go on rising from test to test, as on a real node
 * (decode threads cache compiled schemas by table id and version).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Etcd3 } from 'etcd3';
import { EtcdProcess } from '../process/etcd.ts';
import { ClusterTables } from '../../src/cluster/metadata/cluster-tables.ts';
import { EtcdKeys } from '../../src/cluster/metadata/etcd-keys.ts';
import { Catalog } from '../../src/storage/catalog.ts';
import { EVENTS_TABLE, parseTableDef } from '../../src/core/schema/parse-table-def.ts';
import { evolveSchema } from '../../src/core/schema/evolve-schema.ts';
import { isSluiceError } from '../../src/core/errors.ts';
import { Admission } from '../../src/ingest/admission.ts';
import { DecodePool } from '../../src/ingest/decode-pool.ts';
import { IngestDoor } from '../../src/ingest/ingest-door.ts';
import { IngestPipeline } from '../../src/ingest/pipeline.ts';
import { TableRateLimiter } from '../../src/ingest/table-rate-limiter.ts';
import { RecordView } from '../../src/api/record-view.ts';
import { localNode } from '../support/local-node.ts';
import { tempDir } from '../support/temp-dir.ts';

type Owner = { after: (fn: () => Promise<void> | void) => void };

function clusterTables(t: Owner, url: string, catalog: Catalog): ClusterTables {
  const client = new Etcd3({ hosts: url, dialTimeout: 5000 });
  const tables = new ClusterTables(client, new EtcdKeys('sluice/'), catalog, pino({ level: 'silent' }));
  t.after(async () => {
    await tables.stop();
    client.close();
  });
  return tables;
}

/** Node A (tables only) and node B (tables, a store and the write pipeline), B's watch held back; `threads` decode threads on B. */
let etcd: EtcdProcess;
/** The file's cleanups, run once its last test is done (node:test's `after` inside `before` would run at once). */
const cleanups: (() => Promise<void> | void)[] = [];
before(async () => {
  etcd = await EtcdProcess.start({ after: (fn) => cleanups.push(fn) });
});
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

async function twoNodes(t: Owner, threads: number) {
  const a = clusterTables(t, etcd.clientUrl, await Catalog.open(tempDir(t, 'sluice-node-a-'), [EVENTS_TABLE], 1));
  await a.start();
  const node = await localNode(t, 4, 'sluice-node-b-');
  const b = clusterTables(t, etcd.clientUrl, node.catalog);
  await b.start();
  // Bodies from 1 KiB go to a decode thread (transferred there when they own their memory).
  const pool = new DecodePool({ threads, workerBodyBytesMin: 1024, workerHeapMbMax: 64 });
  t.after(() => pool.close());
  const limiter = new TableRateLimiter({ share: () => 1, eventTimeAheadMsMax: node.config.eventTimeAheadMsMax });
  const pipeline = new IngestPipeline({ catalog: node.catalog, coordinator: node.coordinator, pool, options: node.config, limiter, tables: b });
  const admission = new Admission({ inFlightBytesMax: node.config.inFlightBytesMax, inFlightRequestsMax: node.config.inFlightRequestsMax });
  const door = new IngestDoor(admission, () => pipeline);
  const write = (req: Parameters<IngestDoor['write']>[0]) => door.write(req, admission.tryAcquire(req.body.byteLength)!);
  const rows = async (table: string): Promise<Record<string, unknown>[]> => {
    const entry = node.catalog.get(table);
    if (entry === undefined) return [];
    const view = new RecordView();
    const out: Record<string, unknown>[] = [];
    for await (const page of node.coordinator.scanTable(entry)) for (const rec of page) out.push(view.toObject(entry, rec));
    return out;
  };
  return { a, b, node, write, rows };
}

/** A body that owns its memory, as a large HTTP body does: the decode pool transfers it to a thread. */
function owningBody(text: string): Buffer {
  const bytes = Buffer.from(text);
  const body = Buffer.from(new ArrayBuffer(bytes.length));
  body.set(bytes);
  return body;
}

const FIELDS = [
  { name: 'k', type: 'string', required: true },
  { name: 'v', type: 'int' },
];

/** Creates `name` on A, waits for B to have it, then holds B's watch back. */
async function tableThenHoldBack(nodes: Awaited<ReturnType<typeof twoNodes>>, name: string, extra: Record<string, unknown> = {}): Promise<void> {
  await nodes.a.create(parseTableDef({ name, shardKey: 'k', fields: FIELDS, ...extra }, Date.now()), Date.now());
  const deadline = Date.now() + 10_000;
  while (nodes.node.catalog.get(name) === undefined) {
    if (Date.now() > deadline) assert.fail('B never saw the table');
    await new Promise((r) => setTimeout(r, 20));
  }
  await nodes.b.stop();
}

async function patch(nodes: Awaited<ReturnType<typeof twoNodes>>, name: string, fields: readonly Record<string, unknown>[]): Promise<void> {
  await nodes.a.evolve(name, (current) => evolveSchema(current, { fields }, Date.now()));
}

for (const threads of [0, 1]) {
  test(`a write with a field added on another node succeeds on a node whose watch is behind (decode threads: ${threads})`, { timeout: 60_000 }, async (t) => {
    const nodes = await twoNodes(t, threads);
    const m = `m${threads}`;
    await tableThenHoldBack(nodes, m);
    await patch(nodes, m, [...FIELDS, { name: 'note', type: 'string' }]);
    assert.equal(nodes.node.catalog.get(m)?.versions.length, 1, 'B is behind');
    // Large enough for a decode thread, and owning its memory: the thread gets the body by transfer.
    const pad = 'x'.repeat(2048);
    const body = owningBody(`{"k":"a","v":1,"note":"${pad}"}`);
    const res = await nodes.write({ table: m, body, format: 'ndjson', onInvalid: 'reject' });
    assert.equal(res.written, 1);
    assert.equal(nodes.node.catalog.get(m)?.versions.length, 2, 'B read the table again');
    assert.deepEqual((await nodes.rows(m)).map((r) => r['note']), [pad]);
  });
}

test('a Kafka-source-style batch (frames, dead_letter) with the new field dead-letters nothing on a node behind', { timeout: 60_000 }, async (t) => {
  const nodes = await twoNodes(t, 0);
  await tableThenHoldBack(nodes, 'k1');
  await patch(nodes, 'k1', [...FIELDS, { name: 'note', type: 'string' }]);
  const texts = ['{"k":"a","v":1,"note":"n1"}', '{"k":"b","v":2}', '{"k":"c","v":"bad"}'];
  const body = Buffer.from(texts.join(''));
  const frames = Uint32Array.from(texts.map((s) => Buffer.byteLength(s)));
  const res = await nodes.write({ table: 'k1', body, format: 'ndjson', frames, onInvalid: 'dead_letter', keepBody: true, rateLimit: 'wait', source: 'kafka:test' });
  assert.equal(res.written, 2);
  // Only the record that no version accepts is a letter.
  assert.equal(res.deadLettered?.count, 1);
  assert.deepEqual((await nodes.rows('k1__dead_letters')).length, 1);
});

test('a renamed field and a widened type written through a node behind are taken; a field no version has is still refused', { timeout: 60_000 }, async (t) => {
  const nodes = await twoNodes(t, 0);
  await tableThenHoldBack(nodes, 'r');
  await patch(nodes, 'r', [FIELDS[0] as Record<string, unknown>, { name: 'value', type: 'float', aliases: ['v'] }]);
  const res = await nodes.write({ table: 'r', body: Buffer.from('{"k":"a","value":1.5}'), format: 'ndjson', onInvalid: 'reject' });
  assert.equal(res.written, 1);
  await assert.rejects(
    nodes.write({ table: 'r', body: Buffer.from('{"k":"b","nope":1}'), format: 'ndjson', onInvalid: 'reject' }),
    (e) => isSluiceError(e, 'SCHEMA_VIOLATION'),
  );
});

test('a valid write reads nothing from etcd; a refusal reads the table once', { timeout: 60_000 }, async (t) => {
  const nodes = await twoNodes(t, 0);
  await tableThenHoldBack(nodes, 'h');
  let reads = 0;
  const refreshTable = nodes.b.refreshTable.bind(nodes.b);
  nodes.b.refreshTable = (name: string) => {
    reads++;
    return refreshTable(name);
  };
  await nodes.write({ table: 'h', body: Buffer.from('{"k":"a","v":1}'), format: 'ndjson', onInvalid: 'reject' });
  assert.equal(reads, 0, 'the success path does not ask etcd');
  await assert.rejects(nodes.write({ table: 'h', body: Buffer.from('{"k":"a","x":1}'), format: 'ndjson', onInvalid: 'reject' }), (e) => isSluiceError(e, 'SCHEMA_VIOLATION'));
  assert.equal(reads, 1);
  // A refusal no version could change (a missing shard key is REQUIRED, but not with a body that is not an object) asks too only when its code could.
  await assert.rejects(nodes.write({ table: 'h', body: Buffer.from('{"k":"' + 'x'.repeat(2000) + '","v":1}'), format: 'ndjson', onInvalid: 'reject' }), (e) => isSluiceError(e));
  assert.equal(reads, 1, 'a key too large is not a schema question');
});
