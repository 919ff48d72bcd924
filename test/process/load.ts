/**
 * Concurrent writers for crash tests: they write uniquely tagged records,
 * remember exactly what each acknowledged request wrote, and remember the
 * requests whose outcome is unknown (in flight when the node died).
 */
import assert from 'node:assert/strict';
import { http } from './harness.ts';

/** A table whose records carry their writer, request and position. */
export const LEDGER = {
  name: 'ledger',
  shardKey: 'account',
  timeField: 'ts',
  fields: [
    { name: 'account', type: 'string', required: true },
    { name: 'ts', type: 'timestamp', required: true },
    { name: 'tag', type: 'string', required: true },
    { name: 'amount', type: 'decimal', required: true },
    { name: 'n', type: 'int', required: true },
  ],
};

/** One record as written. */
export interface LedgerRecord {
  account: string;
  ts: number;
  tag: string;
  amount: string;
  n: number;
}

/** What the writers know after a run. */
export interface LoadOutcome {
  /** id → record, for every acknowledged record. */
  readonly acked: Map<string, LedgerRecord>;
  /** Tags of requests that failed or were in flight (outcome unknown), with their size. */
  readonly unknown: Map<string, number>;
  /** Requests answered with a non-2xx status, by status. */
  readonly refused: Map<number, number>;
  /** Why requests failed (connection errors and error bodies), for assertion messages. */
  readonly failures?: string[];
}

/** Creates the ledger table on a node. */
export async function createLedger(url: string): Promise<void> {
  const res = await http(`${url}/v1/tables`, { method: 'POST', body: JSON.stringify(LEDGER) });
  assert.equal(res.status, 201, res.text);
}

/**
 * Runs `writers` loops writing batches of `batch` records to the ledger
 * until `stop` resolves, then returns the outcome; `wave` keeps the tags of
 * two runs against one table apart. A loop ends at its
 * first connection failure (the node died).
 */
export async function runWriters(url: string, writers: number, batch: number, stop: Promise<void>, wave = 'a'): Promise<LoadOutcome> {
  const outcome: LoadOutcome = { acked: new Map(), unknown: new Map(), refused: new Map(), failures: [] };
  let stopped = false;
  void stop.then(() => {
    stopped = true;
  });
  const loop = async (w: number): Promise<void> => {
    for (let r = 0; !stopped; r++) {
      const tag = `${wave}${w}.${r}`;
      const records: LedgerRecord[] = Array.from({ length: batch }, (_, i) => ({
        account: `acct-${(w * 7 + i) % 50}`,
        ts: 1_700_000_000_000 + ((r * batch + i) % 100_000) * 1000,
        tag: `${tag}-${i}`,
        amount: `${w}.${String(i).padStart(2, '0')}`,
        n: r * batch + i,
      }));
      let res;
      try {
        res = await http(`${url}/v1/tables/ledger/records`, {
          method: 'POST',
          body: records.map((x) => JSON.stringify(x)).join('\n'),
          headers: { 'content-type': 'application/x-ndjson' },
        });
      } catch (err) {
        outcome.unknown.set(tag, batch);
        outcome.failures?.push(`${tag}: ${(err as Error).message} ${String((err as Error).cause ?? '')}`);
        return;
      }
      if (res.status !== 200) {
        outcome.failures?.push(`${tag}: ${res.status} ${res.text.slice(0, 300)}`);
        outcome.refused.set(res.status, (outcome.refused.get(res.status) ?? 0) + 1);
        // A refused request must not have stored anything; check it like an unknown one.
        outcome.unknown.set(tag, batch);
        if (res.status === 503) return;
        continue;
      }
      assert.equal(res.body.ids.length, batch);
      res.body.ids.forEach((id: string, i: number) => outcome.acked.set(id, records[i] as LedgerRecord));
    }
  };
  await Promise.all(Array.from({ length: writers }, (_, w) => loop(w)));
  return outcome;
}

/**
 * Checks a node against a load outcome: every acknowledged record reads
 * back identical by id, the export holds no id twice, and every request of
 * unknown outcome is all there or not at all (nothing half-written).
 */
export async function verifyOutcome(url: string, outcome: LoadOutcome): Promise<{ exported: number }> {
  const exported = await http(`${url}/v1/tables/ledger/export`);
  assert.equal(exported.status, 200, exported.text);
  const lines = exported.text.length === 0 ? [] : exported.text.trim().split('\n');
  const byId = new Map<string, LedgerRecord & { _id: string }>();
  const perRequest = new Map<string, number>();
  for (const line of lines) {
    const rec = JSON.parse(line) as LedgerRecord & { _id: string };
    assert.ok(!byId.has(rec._id), `id ${rec._id} exported twice`);
    byId.set(rec._id, rec);
    const req = rec.tag.slice(0, rec.tag.lastIndexOf('-'));
    perRequest.set(req, (perRequest.get(req) ?? 0) + 1);
  }
  for (const [id, want] of outcome.acked) {
    const got = byId.get(id);
    assert.ok(got !== undefined, `acknowledged record ${id} (${want.tag}) is missing`);
    assert.equal(got.tag, want.tag);
    assert.equal(got.amount, want.amount);
    assert.equal(got.account, want.account);
    assert.equal(got.ts, want.ts);
    assert.equal(got.n, want.n);
  }
  // Sample point reads too: the id index must agree with the export.
  const sample = [...outcome.acked.keys()].filter((_, i) => i % 97 === 0).slice(0, 50);
  for (const id of sample) {
    const one = await http(`${url}/v1/tables/ledger/records/${id}`);
    assert.equal(one.status, 200, `GET ${id}: ${one.text}`);
    assert.equal(one.body.tag, outcome.acked.get(id)?.tag);
  }
  for (const [tag, size] of outcome.unknown) {
    const n = perRequest.get(tag) ?? 0;
    assert.ok(n === 0 || n === size, `request ${tag} is half-written: ${n} of ${size} records`);
  }
  return { exported: lines.length };
}
