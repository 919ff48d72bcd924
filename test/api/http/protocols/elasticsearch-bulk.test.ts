/**
 * The Elasticsearch `_bulk` body, in-process: action/source pairing (blank
 * lines, CRLF, bad JSON, a missing source line), the mapping of ops to
 * table records and per-item refusals, index → table names, and the
 * answer's items. The route with a real client: test/process/elasticsearch-bulk.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSluiceError } from '../../../../src/core/errors.ts';
import { SNOWFLAKE_EPOCH_MS } from '../../../../src/core/snowflake.ts';
import { parseBulkBody, uniformOps } from '../../../../src/api/http/protocols/elasticsearch/bulk-ndjson.ts';
import { planBulk, tableWrite, type BulkItem, type BulkPlan, type PlanOptions } from '../../../../src/api/http/protocols/elasticsearch/bulk-plan.ts';
import { decodeFrames } from '../../../../src/ingest/decode-frames.ts';
import { docTime, packStrings, unpackStrings, wrapFrames } from '../../../../src/ingest/frame-envelope.ts';
import { UnparsedRecord } from '../../../../src/ingest/batch-encoder.ts';
import { bulkAnswerJson, settleDeferred, writtenBatch, type ItemOutcome } from '../../../../src/api/http/protocols/elasticsearch/bulk-answer.ts';
import { bulkAnswerBytes, uniformAnswerBytes } from '../../../../src/api/http/protocols/elasticsearch/bulk-answer-bytes.ts';
import { esTableDefinition, esTableProblem, tableOfIndex } from '../../../../src/api/http/protocols/elasticsearch/index-table.ts';
import { prefersHtml } from '../../../../src/api/http/status/accept.ts';
import { withEsErrorFields } from '../../../../src/api/http/protocols/elasticsearch/es-error-body.ts';
import { parseTableDef } from '../../../../src/core/schema/parse-table-def.ts';
import { ListedIds } from '../../../../src/ingest/request-ids.ts';

const NOW = Date.UTC(2026, 11, 5);

function options(over: Partial<PlanOptions> = {}): PlanOptions {
  let n = 0;
  return { pathIndex: undefined, tablePrefix: 'es_', newId: () => `gen${n++}`, tablesMax: 100, ...over };
}

/** A body as the route reads it. */
function bulkBody(text: string): Buffer {
  return Buffer.from(text, 'utf8');
}

/** The records of `table`'s batch as the decode worker builds them (the worker's own code, in-process). */
function recordsOf(plan: BulkPlan, table: string): unknown[] {
  const batch = plan.batches.get(table);
  assert.ok(batch !== undefined, `a batch for ${table}`);
  const w = tableWrite(plan, batch, '@timestamp');
  return wrapFrames(decodeFrames(w.body, w.frames, undefined, w.envelope.noun), w.envelope, NOW);
}

/** The snowflake id minted at `ms` (worker 0, sequence 0). */
function idAt(ms: number): string {
  return String(BigInt(ms - SNOWFLAKE_EPOCH_MS) << 22n);
}

test('pairs actions with sources, skipping blank lines (rsyslog sends one between ops) and CRs', () => {
  const body = bulkBody('{"index":{"_index":"a","_id":"1"}}\r\n\r\n{"m":1}\n\n   \n{"create":{"_index":"b","_id":7}}\n{"m":2}\n{"delete":{"_index":"a","_id":"1"}}\n{"update":{"_id":"1"}}\n{"doc":{}}\n');
  const ops = parseBulkBody(body);
  assert.deepEqual(
    ops.map((o) => [o.action, o.index, o.id, o.line]),
    [
      ['index', 'a', '1', 1],
      ['create', 'b', '7', 6],
      ['delete', 'a', '1', 8],
      ['update', undefined, '1', 9],
    ],
  );
  const src = ops[0]?.source;
  assert.equal(src === undefined ? undefined : body.toString('utf8', src.start, src.end), '{"m":1}', 'the source line, trimmed, as bytes of the body');
  assert.equal(ops[2]?.source, undefined, 'delete has no source line');
  assert.deepEqual(parseBulkBody(bulkBody('\n \n')), []);
});

test('lines are trimmed as String.trim does, also of a BOM and non-ASCII spaces; byte offsets stay exact', () => {
  const body = bulkBody('\ufeff{"index":{"_index":"é"}}\u00a0\n\u2003{"m":"ü"}\u00a0 \n');
  const ops = parseBulkBody(body);
  assert.deepEqual(ops.map((o) => [o.action, o.index]), [['index', 'é']]);
  const src = ops[0]?.source;
  assert.equal(src === undefined ? undefined : body.toString('utf8', src.start, src.end), '{"m":"ü"}');
});

test('a source line that is not a JSON object spoils only its own op: in the decode worker, or in the plan when its _id was given', () => {
  const body = bulkBody('{"index":{}}\n{"a":\n{"index":{}}\n[1,2]\n{"index":{}}\n{"ok":true}\n{"index":{"_id":"g1"}}\n{"a":\n{"index":{"_id":"g2"}}\n[1]\n');
  const plan = planBulk(body, parseBulkBody(body), options({ pathIndex: 'a' }));
  assert.equal(plan.items.length, 5);
  assert.deepEqual(plan.outcomes.slice(0, 3), [undefined, undefined, undefined], 'made-up ids: the worker decides');
  assert.match(plan.outcomes[3]?.error?.reason ?? '', /the source is not valid JSON/);
  assert.match(plan.outcomes[4]?.error?.reason ?? '', /the source must be a JSON object/);
  assert.equal(plan.outcomes[4]?.error?.code, 'INVALID_JSON');
  const records = recordsOf(plan, 'es_a');
  assert.match((records[0] as UnparsedRecord).message, /the source is not valid JSON/);
  assert.equal((records[0] as UnparsedRecord).code, 'INVALID_JSON');
  assert.match((records[1] as UnparsedRecord).message, /the source must be a JSON object/);
  assert.deepEqual(records[2], { doc_id: 'gen2', es_index: 'a', ts: NOW, doc: { ok: true } });
});

test('a broken pairing refuses the whole body with BAD_REQUEST naming the line', () => {
  const cases: [string, RegExp][] = [
    ['{"index":{}}\n{"a":1}\n{"index":{}}\n', /line 3: the index action has no source line/],
    ['{"index":{}}\n{"a":1}\n{"index":\n{"a":1}\n', /line 3: the action line is not JSON/],
    ['{"upsert":{}}\n{"a":1}\n', /line 1: expected one of \[index, create, update, delete\] but found \[upsert\]/],
    ['{"index":{},"create":{}}\n{"a":1}\n', /line 1: expected one of/],
    ['["index"]\n', /line 1: the action line must be a JSON object/],
    ['{"index":{"_index":5}}\n{}\n', /line 1: _index must be a string/],
    ['{"index":"x"}\n{}\n', /metadata must be a JSON object/],
  ];
  for (const [body, message] of cases) {
    assert.throws(
      () => parseBulkBody(bulkBody(body)),
      (err: unknown) => isSluiceError(err, 'BAD_REQUEST') && message.test(err.message) && /nothing was written/.test(err.message),
      body,
    );
  }
});

test('plans one batch per table; each document becomes a record with its _id, index and event time', () => {
  const body = bulkBody(
    [
      '{"index":{"_index":"logs-app.2026","_id":"x1"}}',
      '{"@timestamp":"2026-01-02T03:04:05Z","msg":"a"}',
      '{"create":{}}',
      '{"msg":"b"}',
      '{"index":{"_index":"other"}}',
      '{"@timestamp":1767000000000}',
    ].join('\n'),
  );
  const plan = planBulk(body, parseBulkBody(body), options({ pathIndex: 'web' }));
  assert.deepEqual([...plan.batches.keys()], ['es_logs_app_2026', 'es_web', 'es_other']);
  assert.deepEqual(recordsOf(plan, 'es_logs_app_2026'), [{ doc_id: 'x1', es_index: 'logs-app.2026', ts: '2026-01-02T03:04:05Z', doc: { '@timestamp': '2026-01-02T03:04:05Z', msg: 'a' } }]);
  assert.deepEqual(recordsOf(plan, 'es_web'), [{ doc_id: 'gen0', es_index: 'web', ts: NOW, doc: { msg: 'b' } }], 'the path index and receive time are the defaults; a missing _id is made up');
  assert.deepEqual(recordsOf(plan, 'es_other'), [{ doc_id: 'gen1', es_index: 'other', ts: 1767000000000, doc: { '@timestamp': 1767000000000 } }]);
  const web = plan.batches.get('es_web');
  assert.equal(web !== undefined && tableWrite(plan, web, '@timestamp').minted, true, 'only made-up ids: written without lookups');
  const app = plan.batches.get('es_logs_app_2026');
  assert.equal(app !== undefined && tableWrite(plan, app, '@timestamp').minted, false, 'a given _id is looked up');
  assert.deepEqual(plan.items.map((i) => [i.action, i.index, i.id]), [['index', 'logs-app.2026', 'x1'], ['create', 'web', 'gen0'], ['index', 'other', 'gen1']]);
  assert.deepEqual(plan.outcomes, [undefined, undefined, undefined]);
});

test('refuses per item what cannot be stored, before writing anything', () => {
  const body = bulkBody(
    [
      '{"delete":{"_index":"a","_id":"1"}}',
      '{"update":{"_index":"a","_id":"1"}}',
      '{"doc":{}}',
      '{"index":{}}',
      '{"a":1}',
      '{"index":{"_index":"a","_id":""}}',
      '{"a":1}',
      `{"index":{"_index":"${'x'.repeat(70)}"}}`,
      '{"a":1}',
      '{"index":{"_index":"a","_id":"n"}}',
      'nope',
      '{"index":{"_index":"a","_id":"k"}}',
      '{"a":1}',
    ].join('\n'),
  );
  const plan = planBulk(body, parseBulkBody(body), options());
  const codes = plan.outcomes.map((o) => (o === undefined ? 'planned' : `${o.status} ${o.error?.type} ${o.error?.code}`));
  assert.deepEqual(codes, [
    '400 illegal_argument_exception UNSUPPORTED_ACTION',
    '400 illegal_argument_exception UNSUPPORTED_ACTION',
    '400 action_request_validation_exception INVALID_ARGUMENT',
    '400 action_request_validation_exception INVALID_ARGUMENT',
    '400 invalid_index_name_exception INVALID_ARGUMENT',
    '400 document_parsing_exception INVALID_JSON',
    'planned',
  ]);
  assert.deepEqual([...plan.batches.keys()], ['es_a']);
  assert.equal(plan.batches.get('es_a')?.positions.length, 1);
});

test('the same _id twice in one request: index writes it again (updated), create is not written and is a 409 once the earlier one is stored', () => {
  const body = bulkBody('{"index":{"_index":"a","_id":"k"}}\n{"v":1}\n{"index":{"_index":"a","_id":"k"}}\n{"v":2}\n{"create":{"_index":"a","_id":"k"}}\n{"v":3}\n{"create":{"_index":"b","_id":"k"}}\n{"v":4}\n');
  const plan = planBulk(body, parseBulkBody(body), options());
  assert.deepEqual(plan.batches.get('es_a')?.earlier, [-1, 0]);
  assert.deepEqual(plan.deferred, [{ pos: 2, earlier: 1 }]);
  assert.equal(plan.batches.get('es_b')?.positions.length, 1, 'another index is another table');
  const NOW = Date.UTC(2026, 11, 5);
  const id = String(BigInt(NOW + 5 - SNOWFLAKE_EPOCH_MS) << 22n);
  writtenBatch(plan.batches.get('es_a') as never, { written: 2, ids: new ListedIds([id, id]), token: 't' } as never, plan.items, { startedMs: NOW, timeField: '@timestamp' }, plan.outcomes);
  settleDeferred(plan.deferred, plan.items, plan.outcomes);
  assert.deepEqual(plan.outcomes.slice(0, 3).map((o) => o?.status), [201, 200, 409]);
  assert.equal(plan.outcomes[2]?.error?.code, 'DOCUMENT_EXISTS');
});

test('a later op of an _id whose earlier op validation refused: a create is not answered 409 (a shipper would drop it), an index is created', () => {
  const NOW = Date.UTC(2026, 11, 5);
  const id = String(BigInt(NOW + 5 - SNOWFLAKE_EPOCH_MS) << 22n);
  const refused = { index: 0, code: 'TYPE', path: '/ts', message: 'expected an ISO-8601 string' };
  const create = bulkBody('{"index":{"_index":"a","_id":"k"}}\n{"@timestamp":"not a date"}\n{"create":{"_index":"a","_id":"k"}}\n{"@timestamp":"2026-01-01T00:00:00Z"}\n');
  const p1 = planBulk(create, parseBulkBody(create), options());
  writtenBatch(p1.batches.get('es_a') as never, { written: 0, ids: new ListedIds([null]), token: 't', rejected: [refused], rejectedCount: 1 } as never, p1.items, { startedMs: NOW, timeField: '@timestamp' }, p1.outcomes);
  settleDeferred(p1.deferred, p1.items, p1.outcomes);
  assert.deepEqual(p1.outcomes.map((o) => o?.status), [400, 429], 'the create is to be sent again, not dropped as existing');
  const index = bulkBody('{"index":{"_index":"a","_id":"k"}}\n{"@timestamp":"bad"}\n{"index":{"_index":"a","_id":"k"}}\n{"@timestamp":"2026-01-01T00:00:00Z"}\n');
  const p2 = planBulk(index, parseBulkBody(index), options());
  writtenBatch(p2.batches.get('es_a') as never, { written: 1, ids: new ListedIds([null, id]), token: 't', rejected: [refused], rejectedCount: 1 } as never, p2.items, { startedMs: NOW, timeField: '@timestamp' }, p2.outcomes);
  assert.deepEqual(p2.outcomes.map((o) => o?.status), [400, 201]);
});

test('an op of an _id after a refused one is answered by what the ops before that left: a create after (stored, refused) is 409, an index after (stored, refused) is updated', () => {
  const NOW = Date.UTC(2026, 11, 5);
  const id = String(BigInt(NOW + 5 - SNOWFLAKE_EPOCH_MS) << 22n);
  const refused = { index: 1, code: 'TYPE', path: '/ts', message: 'expected an ISO-8601 string' };
  const ok = '{"@timestamp":"2026-01-01T00:00:00Z"}';
  const body = bulkBody(`{"create":{"_index":"a","_id":"c"}}\n${ok}\n{"index":{"_index":"a","_id":"c"}}\n{"@timestamp":"bad"}\n{"create":{"_index":"a","_id":"c"}}\n${ok}\n{"index":{"_index":"a","_id":"c"}}\n${ok}\n`);
  const plan = planBulk(body, parseBulkBody(body), options());
  writtenBatch(plan.batches.get('es_a') as never, { written: 2, ids: new ListedIds([id, null, id]), token: 't', rejected: [refused], rejectedCount: 1 } as never, plan.items, { startedMs: NOW, timeField: '@timestamp' }, plan.outcomes, plan.prior);
  settleDeferred(plan.deferred, plan.items, plan.outcomes, plan.prior);
  // Elasticsearch: created, refused, 409 (the first create stored it), updated.
  assert.deepEqual(plan.outcomes.map((o) => o?.status), [201, 400, 409, 200]);
});

test('a request writes at most tablesMax distinct tables; items for more are refused, items for the first ones stored', () => {
  const body = bulkBody(['a', 'b', 'a', 'c', 'b-'].map((i) => `{"index":{"_index":"${i}"}}\n{}`).join('\n'));
  const plan = planBulk(body, parseBulkBody(body), options({ tablesMax: 2 }));
  assert.deepEqual([...plan.batches.keys()], ['es_a', 'es_b']);
  assert.deepEqual(plan.outcomes.map((o) => o?.status), [undefined, undefined, undefined, 400, 400]);
  assert.match(plan.outcomes[3]?.error?.reason ?? '', /at most 2 indices/);
});

test('event time: the field, a dotted path, or receive time; a bad value is passed on for validation to refuse', () => {
  assert.equal(docTime({ '@timestamp': '2026-01-01T00:00:00Z' }, '@timestamp', NOW), '2026-01-01T00:00:00Z');
  assert.equal(docTime({ event: { created: 5 } }, 'event.created', NOW), 5);
  assert.equal(docTime({ 'event.created': 6 }, 'event.created', NOW), 6);
  assert.equal(docTime({ '@timestamp': null }, '@timestamp', NOW), NOW);
  assert.equal(docTime({}, '@timestamp', NOW), NOW);
  assert.deepEqual(docTime({ '@timestamp': { a: 1 } }, '@timestamp', NOW), { a: 1 });
});

test('index names map to valid table names, or to none', () => {
  assert.equal(tableOfIndex('syslog', 'es_'), 'es_syslog');
  assert.equal(tableOfIndex('logs-app.2026+x', 'es_'), 'es_logs_app_2026_x');
  assert.equal(tableOfIndex('syslog', ''), 'syslog');
  assert.equal(tableOfIndex('.kibana', ''), undefined, 'a table name starts with a letter');
  assert.equal(tableOfIndex('x'.repeat(61), 'es_'), undefined, 'at most 63 characters');
  assert.equal(tableOfIndex('x'.repeat(60), 'es_'), `es_${'x'.repeat(60)}`);
  // The definition is one POST /v1/tables accepts.
  const def = parseTableDef(esTableDefinition('es_syslog'), NOW, { replicationFactorDefault: 1 });
  assert.equal(def.primaryKey, 'doc_id');
  assert.equal(def.shardKey, 'doc_id');
  assert.equal(def.timeField, 'ts');
});

test('an existing table takes Elasticsearch documents only with their fields and keys; added fields are fine', () => {
  const def = (raw: Record<string, unknown>) => parseTableDef(raw, NOW, { replicationFactorDefault: 1 });
  const es = esTableDefinition('es_x');
  assert.equal(esTableProblem(def(es)), undefined);
  assert.equal(esTableProblem(def({ ...es, fields: [...(es['fields'] as object[]), { name: 'extra', type: 'string' }] })), undefined);
  assert.match(esTableProblem(def({ name: 'es_x', shardKey: 'host', fields: [{ name: 'host', type: 'string', required: true }] })) ?? '', /lacks doc_id \(string\), es_index \(string\), ts \(timestamp\), doc \(json\)/);
  assert.match(esTableProblem(def({ ...es, primaryKey: undefined })) ?? '', /primary key and shard key must be doc_id/);
  assert.match(esTableProblem(def({ ...es, timeField: undefined })) ?? '', /time field must be ts/);
});

test('the answer: items in body order, created / updated / 409 from the ids, validation refusals per item', () => {
  const body = bulkBody('{"index":{"_index":"a","_id":"new"}}\n{}\n{"index":{"_index":"a","_id":"old"}}\n{}\n{"create":{"_index":"a","_id":"old2"}}\n{}\n{"index":{"_index":"a","_id":"bad"}}\n{}\n{"delete":{"_index":"a","_id":"z"}}\n');
  const plan = planBulk(body, parseBulkBody(body), options());
  const batch = plan.batches.get('es_a');
  assert.ok(batch !== undefined);
  const result = {
    written: 3,
    ids: new ListedIds([idAt(NOW + 1), idAt(NOW - 10_000), idAt(NOW - 1), null]),
    token: 't',
    rejected: [{ index: 3, code: 'TYPE', path: '/ts', message: 'expected an ISO-8601 string' }],
    rejectedCount: 1,
  };
  writtenBatch(batch, result, plan.items, { startedMs: NOW, timeField: '@timestamp' }, plan.outcomes);
  const answer = JSON.parse(bulkAnswerJson(plan.items, plan.outcomes, 12)) as { took: number; errors: boolean; items: Record<string, ItemOutcome & { _id: string; _index: string }>[] };
  assert.equal(answer.took, 12);
  assert.equal(answer.errors, true);
  const flat = answer.items.map((item) => {
    const [action, body] = Object.entries(item)[0] as [string, ItemOutcome & { _id: string; _index: string }];
    return [action, body._index, body._id, body.status, body.result ?? body.error?.type];
  });
  assert.deepEqual(flat, [
    ['index', 'a', 'new', 201, 'created'],
    ['index', 'a', 'old', 200, 'updated'],
    ['create', 'a', 'old2', 409, 'version_conflict_engine_exception'],
    ['index', 'a', 'bad', 400, 'document_parsing_exception'],
    ['delete', 'a', 'z', 400, 'illegal_argument_exception'],
  ]);
  assert.equal(answer.items[3]?.['index']?.error?.reason, '@timestamp: expected an ISO-8601 string', 'the sender\'s field name, not the table\'s');
  assert.equal(JSON.parse(bulkAnswerJson(plan.items.slice(0, 2), plan.outcomes.slice(0, 2), 1)).errors, false);
});

test('GET / answers the version body unless the client prefers HTML (a browser)', () => {
  assert.equal(prefersHtml(undefined), false);
  assert.equal(prefersHtml('*/*'), false);
  assert.equal(prefersHtml('application/vnd.elasticsearch+json; compatible-with=9'), false);
  assert.equal(prefersHtml('text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'), true);
  assert.equal(prefersHtml('application/json, text/html;q=0.5'), false);
});

test('whole-request errors keep sluice\'s body and gain Elasticsearch\'s type, reason and status', () => {
  const body = JSON.stringify({ error: { code: 'OVERLOADED', message: 'too many writes in flight', details: [] } });
  const both = JSON.parse(withEsErrorFields(body, 429) as string);
  assert.deepEqual(both, {
    error: { code: 'OVERLOADED', message: 'too many writes in flight', details: [], type: 'es_rejected_execution_exception', reason: 'too many writes in flight', root_cause: [{ type: 'es_rejected_execution_exception', reason: 'too many writes in flight' }] },
    status: 429,
  });
  assert.equal(JSON.parse(withEsErrorFields(JSON.stringify({ error: { code: 'WAL_IO', message: 'm', details: [] } }), 500) as string).error.type, 'sluice_exception');
  const answer = '{"took":1,"errors":false,"items":[]}';
  assert.equal(withEsErrorFields(answer, 200), answer, 'answers pass unchanged');
  assert.equal(withEsErrorFields('{"error":{"code":', 400), '{"error":{"code":', 'an unparsable body passes unchanged');
});

test('the answer of written items, built as text, is exactly what JSON.stringify makes of their objects', () => {
  const items = [
    { action: 'index', index: 'logs-"x"', id: 'a\u00e9"\\', idGiven: true },
    { action: 'create', index: 'logs-"x"', id: 'gen', idGiven: false },
    { action: 'index', index: 'other', id: 'z', idGiven: true },
  ] as const;
  const outcomes: ItemOutcome[] = [{ status: 201, result: 'created' }, { status: 200, result: 'updated' }, { status: 409, error: { type: 't', reason: 'r', code: 'DOCUMENT_EXISTS' } }];
  const shards = { total: 1, successful: 1, failed: 0 };
  const expected = [
    { index: { _index: 'logs-"x"', _id: 'a\u00e9"\\', status: 201, result: 'created', _version: 1, _shards: shards } },
    { create: { _index: 'logs-"x"', _id: 'gen', status: 200, result: 'updated', _version: 1, _shards: shards } },
    { index: { _index: 'other', _id: 'z', status: 409, error: outcomes[2]?.error } },
  ];
  assert.equal(bulkAnswerJson(items, outcomes, 3), `{"took":3,"errors":true,"items":${JSON.stringify(expected)}}`);
});

test('the answer as bytes is the UTF-8 of the answer as text, whatever the items', () => {
  const shapes: BulkItem[] = [
    { action: 'index', index: 'logs', id: '-0AZ_az9-0AZ_az9-0AZ', idGiven: false },
    { action: 'create', index: 'logs', id: 'gen"\\', idGiven: false },
    { action: 'index', index: 'l\u00e9gs-"q"', id: 'x', idGiven: false },
    { action: 'index', index: 'logs', id: 'given é', idGiven: true },
    { action: 'delete', index: 'logs', id: undefined, idGiven: false },
    { action: 'index', index: 'logs', id: 'tab\there', idGiven: false },
    // Items far past the bytes reserved per item: the buffer grows.
    { action: 'index', index: 'i'.repeat(400), id: 'made-up-but-long'.repeat(20), idGiven: false },
    { action: 'create', index: 'logs', id: 'g\u00e9'.repeat(300), idGiven: true },
  ];
  const outcomes: (ItemOutcome | undefined)[] = [{ status: 201, result: 'created' }, { status: 200, result: 'updated' }, { status: 400, error: { type: 't', reason: 'r é', code: 'X' } }, undefined];
  for (let seed = 0; seed < 200; seed++) {
    const n = seed % 13 + (seed % 50 === 0 ? 400 : 0);
    const items = Array.from({ length: n }, (_, i) => shapes[(seed * 7 + i * 3) % shapes.length] as BulkItem);
    const outs = items.map((_, i) => outcomes[(seed + i * 5) % outcomes.length]);
    assert.equal(bulkAnswerBytes(items, outs, seed).toString('utf8'), bulkAnswerJson(items, outs, seed), `seed ${seed}`);
    assert.ok(bulkAnswerBytes(items, outs, seed).equals(Buffer.from(bulkAnswerJson(items, outs, seed), 'utf8')));
  }
});

test('uniform bodies: one index or create action line without _id, repeated; anything else is left to the general plan', () => {
  const body = bulkBody('{"index":{"_index":"a"}}\n{"m":1}\n\n{"index":{"_index":"a"}}\n  {"m":2}  \n');
  const u = uniformOps(body);
  assert.ok(u !== undefined);
  assert.deepEqual([u.action, u.index, u.count], ['index', 'a', 2]);
  const ops = parseBulkBody(body);
  assert.deepEqual([u.sources.slice(0, 2), u.sources.slice(2)], ops.map((o) => [o.source?.start, o.source?.end]), 'the same source ranges as the general parse');
  assert.deepEqual(uniformOps(bulkBody('{"create":{}}\n{"m":1}\n'))?.index, undefined);
  for (const other of [
    '{"index":{"_index":"a"}}\n{"m":1}\n{"index":{"_index":"b"}}\n{"m":2}\n', // two indices
    '{"index":{"_index":"a","_id":"1"}}\n{"m":1}\n', // an _id
    '{"index":{"_index":"a"}}\n{"m":1}\n{"create":{"_index":"a"}}\n{"m":2}\n', // two actions
    '{"index":{"_index":"a"}}\n{"m":1}\n{"index":{"_index":"a"}}\n', // a source missing
    '{"delete":{"_index":"a","_id":"1"}}\n',
    '{"index":\n{"m":1}\n', // malformed
    '\n \n',
  ]) {
    assert.equal(uniformOps(bulkBody(other)), undefined, other);
  }
});

test('the uniform answer is the general answer of the same items, all created', () => {
  for (const [action, index] of [['index', 'logs'], ['create', 'l\u00e9gs-"q"']] as const) {
    const ids = Array.from({ length: 7 }, (_, i) => `-0AZ_az9-0AZ_az9-${String(i).padStart(3, '0')}`);
    const items = ids.map((id) => ({ action, index, id, idGiven: false }));
    const outcomes = items.map(() => ({ status: 201, result: 'created' }) as ItemOutcome);
    assert.ok(uniformAnswerBytes(action, index, ids.join(''), 20, 9).equals(bulkAnswerBytes(items, outcomes, 9)));
  }
});

test('packed strings: one value for all, or values cut by their lengths, non-ASCII included', () => {
  for (const values of [['a', 'a', 'a'], ['x1', '', 'é🙂', 'gen0'], ['only']]) {
    assert.deepEqual(unpackStrings(packStrings(values), values.length), values);
  }
  assert.equal(packStrings(['s', 's']).lengths, undefined, 'the same index for every document crosses as one string');
});

test('repeated action lines (a shipper sends one line per document) are read alike; a changed line of the same length is not mistaken for the last', () => {
  const lines = ['{"index":{"_id":"a1"}}', '{"index":{"_id":"a1"}}', '{"index":{"_id":"a2"}}', '{"create":{"_id":"a"}}', '{"index":{"_id":"a1"}}'];
  const ops = parseBulkBody(bulkBody(lines.map((l) => `${l}\n{}\n`).join('')));
  assert.deepEqual(ops.map((o) => [o.action, o.id, o.line]), [['index', 'a1', 1], ['index', 'a1', 3], ['index', 'a2', 5], ['create', 'a', 7], ['index', 'a1', 9]]);
});
