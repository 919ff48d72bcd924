/**
 * An `as_of` further ahead than any snapshot could have answered is a bad
 * request (found in a review, 2026-12-07): the API only checked that it
 * fits 64 bits. On a cluster such a version moved every replica's HLC
 * forward, or past the HLC's bound answered 503 CLOCK_SKEW, blaming the
 * cluster; on a single node it read as a snapshot of the future. It is
 * refused at the API with 400 INVALID_ARGUMENT, by id, by range and in an
 * export, while the versions the node answers stay readable.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { hlcFromParts } from '../../../src/core/hlc.ts';
import type { SluiceNode } from '../../../src/sluice-node.ts';
import { startTestNode } from '../../support/test-node.ts';
import { authHeaders } from '../../support/auth.ts';

const READINGS = { name: 'readings', shardKey: 'device', timeField: 'ts', fields: [{ name: 'device', type: 'string', required: true }, { name: 'ts', type: 'timestamp', required: true }] };

const node: SluiceNode = await startTestNode({ after }, {}, 'sluice-as-of-bounds-');
let id = '';

before(async () => {
  const created = await fetch(`${node.url}/v1/tables`, { method: 'POST', headers: { ...authHeaders(), 'content-type': 'application/json' }, body: JSON.stringify(READINGS) });
  assert.equal(created.status, 201, await created.text());
  const res = await fetch(`${node.url}/v1/tables/readings/records`, { method: 'POST', headers: { ...authHeaders(), 'content-type': 'application/x-ndjson' }, body: JSON.stringify({ device: 'd', ts: 1_000 }) });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  id = String((JSON.parse(text) as { ids: (string | number)[] }).ids[0]);
});

/** The three reads that take an `as_of`. */
function reads(asOf: string): string[] {
  return [`records/${id}?as_of=${asOf}`, `records?key=d&as_of=${asOf}`, `export?as_of=${asOf}`].map((p) => `${node.url}/v1/tables/readings/${p}`);
}

test('an as_of an hour ahead is refused with 400 INVALID_ARGUMENT, by id, by range and in an export', async () => {
  const ahead = String(hlcFromParts(Date.now() + 3_600_000, 0));
  for (const url of reads(ahead)) {
    const res = await fetch(url, { headers: authHeaders() });
    const text = await res.text();
    assert.equal(res.status, 400, `${url}: ${text.slice(0, 300)}`);
    const error = (JSON.parse(text) as { error: { code: string; details: { path: string }[] } }).error;
    assert.equal(error.code, 'INVALID_ARGUMENT', url);
    assert.equal(error.details[0]?.path, 'as_of', url);
  }
});

test('the snapshot the node answered, and a version of its clock now, are still read', async () => {
  const res = await fetch(`${node.url}/v1/tables/readings/records?key=d&as_of=now`, { headers: authHeaders() });
  const page = JSON.parse(await res.text()) as { as_of: string };
  assert.equal(res.status, 200);
  for (const asOf of [page.as_of, String(hlcFromParts(Date.now(), 0))]) {
    for (const url of reads(asOf)) {
      const again = await fetch(url, { headers: authHeaders() });
      assert.equal(again.status, 200, `${url}: ${(await again.text()).slice(0, 300)}`);
      await again.arrayBuffer().catch(() => undefined);
    }
  }
});
