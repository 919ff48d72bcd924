/**
 * An export whose reader stops reading without closing its connection
 * (a stuck consumer, a client gone behind a NAT that never sends a reset)
 * must not hold its export slot, and the table scan's snapshot, for ever:
 * past `exportStallMs` without progress the node ends the answer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestNode } from '../../support/test-node.ts';
import { authHeaders } from '../../support/auth.ts';

const READINGS = { name: 'readings', shardKey: 'device', timeField: 'ts', fields: [{ name: 'device', type: 'string', required: true }, { name: 'ts', type: 'timestamp', required: true }, { name: 'pad', type: 'string' }] };

test('an export whose reader stops reading is ended after exportStallMs, and its slot serves the next export', async (t) => {
  const node = await startTestNode(t, { exportsInFlightMax: 1, exportStallMs: 1_000 }, 'sluice-export-stall-');
  const base = node.url;
  const call = (method: string, path: string, body?: string, type = 'application/json'): Promise<Response> =>
    fetch(`${base}${path}`, { method, headers: { ...authHeaders(), 'content-type': type }, ...(body === undefined ? {} : { body }) });
  // Each answer read whole: an answer left unread keeps its connection busy, and the node's stop waits for it.
  const status = async (res: Promise<Response>): Promise<number> => {
    const r = await res;
    await r.arrayBuffer();
    return r.status;
  };
  assert.equal(await status(call('POST', '/v1/tables', JSON.stringify(READINGS))), 201);
  // ~25 MB of NDJSON: more than the socket buffers of both ends hold, so the export stalls on its reader.
  for (let b = 0; b < 16; b++) {
    const lines = Array.from({ length: 4_000 }, (_, i) => JSON.stringify({ device: `d${i % 50}`, ts: 1_700_000_000_000 + b * 4_000 + i, pad: 'x'.repeat(350) }));
    assert.equal(await status(call('POST', '/v1/tables/readings/records', lines.join('\n'), 'application/x-ndjson')), 200);
  }
  const port = Number(new URL(base).port);
  const stalled = connect(port, '127.0.0.1');
  t.after(() => stalled.destroy());
  await new Promise<void>((resolve) => stalled.once('connect', resolve));
  stalled.pause(); // reads nothing, closes nothing
  let closedByNode = false;
  stalled.once('close', () => (closedByNode = true));
  stalled.on('error', () => undefined);
  stalled.write(`GET /v1/tables/readings/export HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: ${authHeaders()['authorization']}\r\n\r\n`);
  await sleep(300);
  const busy = await call('GET', '/v1/tables/readings/export');
  assert.equal(busy.status, 429, 'the stalled export holds the one slot');
  await busy.body?.cancel();

  let next: Response | undefined;
  for (const until = Date.now() + 6_000; Date.now() < until; await sleep(200)) {
    next = await call('GET', '/v1/tables/readings/export');
    if (next.status === 200) break;
    await next.body?.cancel();
  }
  assert.equal(next?.status, 200, 'the slot was given back once the stalled export was ended');
  const lines = (await next?.text())?.trim().split('\n').length;
  assert.equal(lines, 64_000);
  stalled.resume();
  await sleep(100);
  assert.ok(closedByNode || stalled.destroyed, 'the node closed the stalled connection');
});
