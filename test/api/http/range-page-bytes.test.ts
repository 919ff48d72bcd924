/**
 * A single node's range page ends at a byte bound as well as at `limit`
 * (found in a review, 2026-12-07): the route built a page of up to 10,000
 * records, each up to the body limit, into one string, which could take
 * gigabytes or pass V8's longest string (a 500). The cluster path is
 * bounded by its replicas' Scan replies (SCAN_REPLY_BYTES_MAX); a single
 * node now bounds both what it reads (record bytes) and the page's text.
 * Paging on from `next_cursor` reads every record exactly once.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { RANGE_PAGE_BYTES_MAX } from '../../../src/config.ts';
import type { SluiceNode } from '../../../src/sluice-node.ts';
import { startTestNode } from '../../support/test-node.ts';
import { authHeaders } from '../../support/auth.ts';

/** The page bound this test expects (the one cluster range pages have, SCAN_REPLY_BYTES_MAX). */
const PAGE_BYTES_MAX = RANGE_PAGE_BYTES_MAX;

const node: SluiceNode = await startTestNode({ after }, {}, 'sluice-range-page-bytes-');


async function createTable(def: object): Promise<void> {
  const res = await fetch(`${node.url}/v1/tables`, { method: 'POST', headers: { ...authHeaders(), 'content-type': 'application/json' }, body: JSON.stringify(def) });
  assert.equal(res.status, 201, (await res.text()).slice(0, 300));
}

async function post(table: string, lines: readonly object[]): Promise<void> {
  const res = await fetch(`${node.url}/v1/tables/${table}/records`, { method: 'POST', headers: { ...authHeaders(), 'content-type': 'application/x-ndjson' }, body: lines.map((l) => JSON.stringify(l)).join('\n') });
  assert.equal(res.status, 200, (await res.text()).slice(0, 300));
}

interface Paged {
  /** Ids in the order the pages returned them. */
  readonly ids: string[];
  /** Characters of each page's JSON text. */
  readonly pageChars: number[];
  /** Characters of the largest record's JSON text. */
  readonly recordCharsMax: number;
}

/** Reads a shard key's records page after page at the largest limit, until `next_cursor` is null. */
async function pageThrough(table: string, key: string, extra = ''): Promise<Paged> {
  const ids: string[] = [];
  const pageChars: number[] = [];
  let recordCharsMax = 0;
  let cursor: string | null = null;
  for (let pages = 0; pages < 100; pages++) {
    const res = await fetch(`${node.url}/v1/tables/${table}/records?key=${key}&limit=10000${extra}${cursor === null ? '' : `&cursor=${cursor}`}`, { headers: authHeaders() });
    const text = await res.text();
    assert.equal(res.status, 200, text.slice(0, 300));
    pageChars.push(text.length);
    const page = JSON.parse(text) as { records: { _id: string }[]; next_cursor: string | null };
    for (const r of page.records) {
      ids.push(r._id);
      recordCharsMax = Math.max(recordCharsMax, JSON.stringify(r).length);
    }
    cursor = page.next_cursor;
    if (cursor === null) return { ids, pageChars, recordCharsMax };
  }
  assert.fail('still paging after 100 pages');
}

/** Every page within the bound (one record past it at most), and every record once. */
function assertBounded(paged: Paged, written: number): void {
  assert.equal(paged.ids.length, written, 'records returned, over all pages');
  assert.equal(new Set(paged.ids).size, written, 'a record returned twice');
  const total = paged.pageChars.reduce((a, b) => a + b, 0);
  assert.ok(total > PAGE_BYTES_MAX, `the records (${total} characters) must not fit one page for this test to mean anything`);
  // The page's envelope (`{"records":[`, the cursor) is well under 1 KiB.
  for (const chars of paged.pageChars) {
    assert.ok(chars <= PAGE_BYTES_MAX + paged.recordCharsMax + 1024, `a page of ${chars} characters, past the bound of ${PAGE_BYTES_MAX} and one record of ${paged.recordCharsMax}`);
  }
  assert.ok(paged.pageChars.length >= 2, 'the pages end at the bound');
}

test('a range read of large records at the largest limit ends its pages at the byte bound, and paging on returns every record once', async () => {
  await createTable({ name: 'blobs', shardKey: 'device', timeField: 'ts', fields: [{ name: 'device', type: 'string', required: true }, { name: 'ts', type: 'timestamp', required: true }, { name: 'pad', type: 'string' }] });
  // 24 records of about 1 MB: 24 MB on one shard key, past the 16 MiB bound.
  const written = 24;
  for (let b = 0; b < written / 4; b++) {
    await post('blobs', Array.from({ length: 4 }, (_, i) => ({ device: 'big', ts: 1_700_000_000_000 + b * 4 + i, pad: String.fromCharCode(97 + ((b * 4 + i) % 26)).repeat(1_000_000) })));
  }
  assertBounded(await pageThrough('blobs', 'big'), written);
  // A snapshot read pages the same way.
  assertBounded(await pageThrough('blobs', 'big', '&as_of=now'), written);
});

test('records small on disk and large as JSON (many long field names) end their pages at the bound on the text', async () => {
  // 1,000 booleans with 63-character names: about 1 KB stored, about 70 KB of JSON each.
  const names = Array.from({ length: 1_000 }, (_, i) => `f${String(i).padStart(4, '0')}_${'n'.repeat(57)}`);
  await createTable({ name: 'wide', shardKey: 'device', timeField: 'ts', fields: [{ name: 'device', type: 'string', required: true }, { name: 'ts', type: 'timestamp', required: true }, ...names.map((name) => ({ name, type: 'bool' }))] });
  const flags = Object.fromEntries(names.map((n) => [n, true]));
  const written = 300;
  for (let b = 0; b < written / 50; b++) {
    await post('wide', Array.from({ length: 50 }, (_, i) => ({ device: 'w', ts: 1_700_000_000_000 + b * 50 + i, ...flags })));
  }
  assertBounded(await pageThrough('wide', 'w'), written);
});
