/**
 * Reading a run back (loki-canary's missing/duplicate counters, TigerBeetle's
 * `--validate`): every table is exported, the records of this run are mapped
 * to their number j by `bench_id` and compared with the record regenerated
 * from the seed; then every shard key the run wrote (or a sample) is read through the range query
 * to check that records come back in event-time order, which the white
 * paper's out-of-order writes put to the test.
 *
 *   lost        acknowledged, not read back (must be 0)
 *   duplicated  read back more than once (must be 0: every write carries dedupe keys)
 *   mismatched  read back different from what was sent (must be 0)
 *   maybe       not acknowledged (gave up, or the node died before answering) but stored: allowed
 *   unexpected  a number this run never sent (must be 0)
 *   outOfOrderKeys  sampled keys whose range query is not in event-time order, or misses records (must be 0)
 */
import { BitSet } from './bitset.ts';

/** One table as the verifier needs it. */
export interface VerifyTable {
  readonly name: string;
  readonly shardKey: string;
  readonly timeField: string;
  /** Record number of a read-back record and the first difference from the regenerated one. */
  readonly check: (readBack: Record<string, unknown>) => { j: number; problem?: string };
}

/** What to verify. */
export interface VerifyInput {
  readonly baseUrl: string;
  readonly token: string | undefined;
  readonly runId: string;
  readonly runField: string;
  readonly tables: readonly VerifyTable[];
  readonly acked: BitSet;
  readonly attempted: BitSet;
  /** Shard keys per table whose range query is checked (Infinity: every key this run wrote). */
  readonly keysPerTable: number;
}

/** The verdict; `ok` when nothing was lost, duplicated, altered or out of order. */
export interface VerifyResult {
  readonly ok: boolean;
  readonly readBack: number;
  readonly acked: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly mismatched: number;
  readonly maybe: number;
  readonly unexpected: number;
  readonly keysChecked: number;
  readonly outOfOrderKeys: number;
  /** Up to 10 examples of what went wrong. */
  readonly problems: readonly string[];
  readonly seconds: number;
}

const PROBLEMS_MAX = 10;
/** Page size of the range queries of the order check. */
const PAGE_RECORDS = 1000;

class Tally {
  readBack = 0;
  duplicated = 0;
  mismatched = 0;
  maybe = 0;
  unexpected = 0;
  outOfOrderKeys = 0;
  keysChecked = 0;
  readonly seen = new BitSet();
  readonly problems: string[] = [];
  note(problem: string): void {
    if (this.problems.length < PROBLEMS_MAX) this.problems.push(problem);
  }
}

/** Reads every table back and compares; see the file comment. */
export async function verifyRun(input: VerifyInput): Promise<VerifyResult> {
  const started = Date.now();
  const tally = new Tally();
  for (const table of input.tables) {
    const keyCounts = await readTable(input, table, tally);
    await checkKeyOrder(input, table, keyCounts, tally);
  }
  let lost = 0;
  for (let j = 0; j < input.acked.capacity; j++) {
    if (input.acked.has(j) && !tally.seen.has(j)) {
      if (lost++ < 3) tally.note(`record ${j} was acknowledged and is not read back`);
    }
  }
  const ok = lost === 0 && tally.duplicated === 0 && tally.mismatched === 0 && tally.unexpected === 0 && tally.outOfOrderKeys === 0;
  return {
    ok,
    readBack: tally.readBack,
    acked: input.acked.count,
    lost,
    duplicated: tally.duplicated,
    mismatched: tally.mismatched,
    maybe: tally.maybe,
    unexpected: tally.unexpected,
    keysChecked: tally.keysChecked,
    outOfOrderKeys: tally.outOfOrderKeys,
    problems: tally.problems,
    seconds: (Date.now() - started) / 1000,
  };
}

/** Streams a table's NDJSON export, tallying this run's records; returns this run's records per sampled key. */
async function readTable(input: VerifyInput, table: VerifyTable, tally: Tally): Promise<Map<string, number>> {
  const res = await get(input, `/v1/tables/${table.name}/export?format=ndjson`);
  const keyCounts = new Map<string, number>();
  const runMark = `"${input.runField}":"${input.runId}"`;
  let rest = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    const text = rest + decoder.decode(chunk, { stream: true });
    const lines = text.split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) if (line.includes(runMark)) onRecord(table, JSON.parse(line) as Record<string, unknown>, input, tally, keyCounts);
  }
  if (rest.includes(runMark)) onRecord(table, JSON.parse(rest) as Record<string, unknown>, input, tally, keyCounts);
  return keyCounts;
}

function onRecord(table: VerifyTable, rec: Record<string, unknown>, input: VerifyInput, tally: Tally, keyCounts: Map<string, number>): void {
  if (rec[input.runField] !== input.runId) return;
  tally.readBack++;
  // Every record of this run counts for its key: the range query must return as many.
  const key = String(rec[table.shardKey]);
  const n = keyCounts.get(key);
  if (n !== undefined) keyCounts.set(key, n + 1);
  else if (keyCounts.size < input.keysPerTable) keyCounts.set(key, 1);
  const { j, problem } = table.check(rec);
  if (!input.attempted.has(j)) {
    tally.unexpected++;
    tally.note(`${table.name}: record ${j} was never sent by this run`);
    return;
  }
  if (!tally.seen.add(j)) {
    tally.duplicated++;
    tally.note(`${table.name}: record ${j} is stored more than once`);
  }
  if (problem !== undefined) {
    tally.mismatched++;
    tally.note(`${table.name}: record ${j} differs from what was sent: ${problem}`);
  }
  if (!input.acked.has(j)) tally.maybe++;
}

/** Range queries in flight at once while checking keys. */
const KEY_READS_IN_FLIGHT = 16;

/** Reads each checked key through the range query, KEY_READS_IN_FLIGHT at a time. */
async function checkKeyOrder(input: VerifyInput, table: VerifyTable, keyCounts: Map<string, number>, tally: Tally): Promise<void> {
  const keys = [...keyCounts];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < keys.length) {
      const [key, expected] = keys[next++] as [string, number];
      await checkKey(input, table, key, expected, tally);
    }
  };
  await Promise.all(Array.from({ length: KEY_READS_IN_FLIGHT }, worker));
}

/** One key's records by range query: event times never decrease, and every record of this run is there. */
async function checkKey(input: VerifyInput, table: VerifyTable, key: string, expected: number, tally: Tally): Promise<void> {
  tally.keysChecked++;
  let cursor: string | null = null;
  let lastTime = -Infinity;
  let found = 0;
  let ordered = true;
  do {
    const q = new URLSearchParams({ key, limit: String(PAGE_RECORDS), ...(cursor === null ? {} : { cursor }) });
    const page = (await (await get(input, `/v1/tables/${table.name}/records?${q}`)).json()) as { records: Record<string, unknown>[]; next_cursor: string | null };
    for (const rec of page.records) {
      const t = Number(rec[table.timeField]);
      if (t < lastTime) ordered = false;
      lastTime = t;
      if (rec[input.runField] === input.runId) found++;
    }
    cursor = page.next_cursor;
  } while (cursor !== null);
  if (!ordered || found !== expected) {
    tally.outOfOrderKeys++;
    tally.note(`${table.name} key ${key}: ${ordered ? '' : 'records not in event-time order; '}${found} of this run's ${expected} records by range query`);
  }
}

async function get(input: VerifyInput, path: string): Promise<Response> {
  const res = await fetch(new URL(path, input.baseUrl), { headers: input.token === undefined ? {} : { authorization: `Bearer ${input.token}` } });
  if (!res.ok) throw new Error(`verify: GET ${path} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  return res;
}
