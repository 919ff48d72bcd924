/**
 * The read routes against an in-process node: what an export holds once its
 * client is gone, and what paging through a snapshot (`as_of`) returns.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { resolveConfig } from '../../../src/config.ts';
import { SluiceNode } from '../../../src/sluice-node.ts';
import type { ApiContext } from '../../../src/api/http/api-context.ts';
import type { Coordinator } from '../../../src/cluster/coordinator/coordinator.ts';
import { tempDir } from '../../support/temp-dir.ts';
import { authHeaders, TEST_TOKEN } from '../../support/auth.ts';

const READINGS = { name: 'readings', shardKey: 'device', timeField: 'ts', fields: [{ name: 'device', type: 'string', required: true }, { name: 'ts', type: 'timestamp', required: true }, { name: 'pad', type: 'string' }] };

let node: SluiceNode;
let base = '';

after(async () => {
  await node?.stop();
});
const dir = tempDir({ after }, 'sluice-read-routes-');

before(async () => {
  const config = resolveConfig({ dataDir: dir, httpPort: 0, bootstrapToken: TEST_TOKEN, diskFreeBytesMin: 0, auditLog: 'off' });
  node = await SluiceNode.start(config, pino({ level: 'silent' }));
  base = node.url;
  const res = await fetch(`${base}/v1/tables`, { method: 'POST', headers: { ...authHeaders(), 'content-type': 'application/json' }, body: JSON.stringify(READINGS) });
  assert.equal(res.status, 201, await res.text());
});

/** The node's coordinator (private to the node: the tests wrap its methods). */
function coordinatorOf(n: SluiceNode): Coordinator {
  return (n as unknown as { ctx: ApiContext }).ctx.services().coordinator;
}

async function post(table: string, lines: readonly object[]): Promise<void> {
  const res = await fetch(`${base}/v1/tables/${table}/records`, { method: 'POST', headers: { ...authHeaders(), 'content-type': 'application/x-ndjson' }, body: lines.map((l) => JSON.stringify(l)).join('\n') });
  assert.equal(res.status, 200, await res.text());
}

for (const format of ['ndjson', 'parquet'] as const) {
  test(`${format} export: a client that goes away mid-stream closes the table scan`, async (t) => {
    // Enough records that the scan is far from its end when the client leaves.
    for (let b = 0; b < 8; b++) {
      await post('readings', Array.from({ length: 4_000 }, (_, i) => ({ device: `d${i % 50}`, ts: 1_700_000_000_000 + b * 4_000 + i, pad: 'x'.repeat(300) })));
    }
    const coordinator = coordinatorOf(node);
    const scanTable = coordinator.scanTable.bind(coordinator);
    let open = 0;
    let started = 0;
    coordinator.scanTable = (entry, options) =>
      (async function* () {
        open++;
        started++;
        try {
          yield* scanTable(entry, options);
        } finally {
          open--;
        }
      })();
    t.after(() => {
      coordinator.scanTable = scanTable;
    });

    const req = httpRequest(`${base}/v1/tables/readings/export?format=${format}`, { headers: authHeaders() });
    req.end();
    const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
    assert.equal(res.statusCode, 200);
    // The client reads nothing and leaves.
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    res.socket.destroy();
    for (let i = 0; i < 100 && open > 0; i++) await sleep(20);
    assert.equal(started, 1);
    assert.equal(open, 0, 'the scan (a storage iterator and its snapshot) is still open after the client went away');
  });
}

test('a HEAD of an export (fastify answers it from the GET route) does not go on scanning the table after its answer', async (t) => {
  await post('readings', Array.from({ length: 4_000 }, (_, i) => ({ device: `h${i % 50}`, ts: 1_600_000_000_000 + i, pad: 'y'.repeat(300) })));
  const coordinator = coordinatorOf(node);
  const scanTable = coordinator.scanTable.bind(coordinator);
  let open = 0;
  let pages = 0;
  coordinator.scanTable = (entry, options) =>
    (async function* () {
      open++;
      try {
        for await (const p of scanTable(entry, options)) {
          pages++;
          // A slow disk: the scan is far from its end when the answer is sent.
          await sleep(20);
          yield p;
        }
      } finally {
        open--;
      }
    })();
  t.after(() => {
    coordinator.scanTable = scanTable;
  });
  const res = await fetch(`${base}/v1/tables/readings/export?format=parquet`, { method: 'HEAD', headers: authHeaders() });
  assert.equal(res.status, 200);
  const atAnswer = pages;
  for (let i = 0; i < 250 && open > 0; i++) await sleep(20);
  assert.equal(open, 0);
  // One page may be on its way when the answer closes; none after it.
  assert.ok(pages <= atAnswer + 1, `the HEAD was answered after ${atAnswer} pages, and the export read ${pages} (outside --exports-in-flight-max, for nobody)`);
});

interface Page {
  records: { _id: string; ts: number }[];
  next_cursor: string | null;
  as_of?: string;
}

async function page(query: string): Promise<Page> {
  const res = await fetch(`${base}/v1/tables/readings/records?${query}`, { headers: authHeaders() });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text) as Page;
}

test('paging through a snapshot (as_of) returns what one read of that snapshot returns, though a write was on its way to disk when it was taken', async (t) => {
  const key = 'snap-1';
  await post('readings', [{ device: key, ts: 2_000 }]);
  await post('readings', [{ device: key, ts: 3_000 }]);
  // The next WAL append reaches the disk, but its fsync answers late (a slow disk, a group commit).
  const wal = (coordinatorOf(node) as unknown as { store: { wal: { append: (type: number, payload: Uint8Array) => Promise<bigint> } } }).store.wal;
  const append = wal.append.bind(wal);
  let letGo = (): void => undefined;
  const held = new Promise<void>((resolve) => (letGo = resolve));
  let reached = (): void => undefined;
  const atDisk = new Promise<void>((resolve) => (reached = resolve));
  wal.append = async (type, payload) => {
    wal.append = append;
    const lsn = await append(type, payload);
    reached();
    await held;
    return lsn;
  };
  t.after(() => {
    wal.append = append;
    letGo();
  });
  // Stamped (its version is below the snapshot's), not yet acknowledged.
  const slow = post('readings', [{ device: key, ts: 1_000 }]);
  await atDisk;
  const first = page(`key=${key}&as_of=now&limit=1`);
  await sleep(100);
  letGo();
  await slow;
  const one = await first;
  assert.ok(one.as_of !== undefined && one.next_cursor !== null, JSON.stringify(one));
  const rest = await page(`key=${key}&as_of=${one.as_of}&limit=10&cursor=${one.next_cursor}`);
  const whole = await page(`key=${key}&as_of=${one.as_of}&limit=10`);
  const paged = [...one.records, ...rest.records].map((r) => r.ts);
  assert.deepEqual(paged, whole.records.map((r) => r.ts), 'two pages of one snapshot skip a record a single read of that snapshot shows');
});
