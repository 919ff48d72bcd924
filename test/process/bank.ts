/**
 * The bank of the Jepsen-style process test (cluster-bank.test.ts): the
 * ledger table, exact decimal cents, reading every account's legs over
 * HTTP (paged, optionally at one snapshot), and the auditor that says
 * whether a set of legs is a correct state of the bank: the sum exact,
 * every transfer whole and as intended, no record twice; and how the
 * writers' answers are classified.
 */
import { shardOf } from '../../src/core/murmur3.ts';
import { authHeaders } from '../support/auth.ts';

/** Append-only ledger: one record per leg, no primary key (snapshot reads need old versions). */
export const BANK_LEDGER = {
  name: 'ledger',
  shardKey: 'account',
  timeField: 'ts',
  replicationFactor: 3,
  fields: [
    { name: 'account', type: 'string', required: true },
    { name: 'xfer_id', type: 'string', required: true },
    { name: 'amount', type: 'decimal', required: true },
    { name: 'ts', type: 'timestamp', required: true },
  ],
};

/** The xfer_id of the seed batch's legs (one per account). */
export const SEED_XFER = 'seed';

/** Largest page of a range query (config.ts queryLimitMax): fewer round trips per account. */
const PAGE_RECORDS = 10_000;
/** Pages of one account at most: a bound, so a cursor that never ends fails instead of looping. */
const PAGES_MAX = 100;

/** One stored leg as read back. */
export interface Leg {
  readonly id: string;
  readonly account: string;
  readonly xfer: string;
  readonly cents: bigint;
}

/** What a writer meant a transfer to be: `cents` from `from` to `to`. */
export interface Intent {
  readonly from: string;
  readonly to: string;
  readonly cents: bigint;
}

/** Cents as an exact decimal string ("-12.34"); never through a float. */
export function centsText(cents: bigint): string {
  const sign = cents < 0n ? '-' : '';
  const abs = cents < 0n ? -cents : cents;
  return `${sign}${abs / 100n}.${String(abs % 100n).padStart(2, '0')}`;
}

/** A decimal as the API renders it (a string: "12.34", "-1000") in exact cents; throws on anything else or finer than a cent. */
export function parseCents(value: unknown): bigint {
  const m = typeof value === 'string' ? /^(-?)([0-9]+)(?:\.([0-9]+))?$/.exec(value) : null;
  if (m === null) throw new Error(`not a decimal amount: ${JSON.stringify(value)}`);
  const fraction = (m[3] ?? '').replace(/0+$/, '');
  if (fraction.length > 2) throw new Error(`amount finer than a cent: ${JSON.stringify(value)}`);
  const cents = BigInt(m[2] as string) * 100n + BigInt(fraction.padEnd(2, '0'));
  return m[1] === '-' ? -cents : cents;
}

/** A request's outcome: an HTTP answer, or status 0 with the error as `text` when none came (connection refused or reset, timeout). */
export interface Answer {
  readonly status: number;
  readonly body: any;
  readonly text: string;
  readonly headers: Headers;
}

/** A JSON request with a deadline (a SIGSTOPped node would otherwise hold it as long as it is stopped), sending the test token. */
export async function request(url: string, init: { method?: string; body?: string }, timeoutMs: number): Promise<Answer> {
  try {
    const headers = { ...authHeaders(), ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) };
    const res = await fetch(url, { method: init.method ?? 'GET', ...(init.body === undefined ? {} : { body: init.body }), headers, signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    let body: unknown;
    try {
      body = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      body = { unparsed: text.slice(0, 500) };
    }
    return { status: res.status, body, text, headers: res.headers };
  } catch (err) {
    // Connection refused or reset (a killed node), or the deadline: no answer.
    const e = err as Error & { cause?: unknown };
    return { status: 0, body: undefined, text: `${e.name}: ${e.message}${e.cause === undefined ? '' : ` (${String(e.cause)})`}`, headers: new Headers() };
  }
}

/** One account read: its legs and the snapshot it was read at, or the answer that refused it. */
export type AccountRead = { readonly ok: true; readonly legs: Leg[]; readonly asOf: string | undefined } | { readonly ok: false; readonly answer: Answer };

/**
 * Every leg of `account` through `base`, paging with next_cursor. `asOf`:
 * 'now' takes a snapshot (later pages read the version it answered), a
 * version reads that snapshot, undefined reads without one.
 */
export async function readAccount(base: string, account: string, options: { asOf?: string; consistency: string; timeoutMs: number }): Promise<AccountRead> {
  const legs: Leg[] = [];
  let asOf = options.asOf;
  let cursor: string | null = null;
  for (let page = 0; page < PAGES_MAX; page++) {
    const params = new URLSearchParams({ key: account, limit: String(PAGE_RECORDS), consistency: options.consistency });
    if (asOf !== undefined) params.set('as_of', asOf);
    if (cursor !== null) params.set('cursor', cursor);
    const answer = await request(`${base}/v1/tables/ledger/records?${params}`, {}, options.timeoutMs);
    if (answer.status !== 200) return { ok: false, answer };
    if (asOf !== undefined) {
      const header = answer.headers.get('sluice-as-of');
      if (header === null || answer.body.as_of !== header || (asOf !== 'now' && header !== asOf)) {
        throw new Error(`${base} read ${account} as_of=${asOf}: answered header ${header}, body as_of ${answer.body.as_of}`);
      }
      asOf = header;
    }
    for (const r of answer.body.records as Record<string, unknown>[]) legs.push(legOf(r, account));
    cursor = answer.body.next_cursor as string | null;
    if (cursor === null) return { ok: true, legs, asOf };
  }
  throw new Error(`${base} read ${account}: more than ${PAGES_MAX} pages`);
}

/** A leg from a record as the API renders it. */
export function legOf(r: Record<string, unknown>, account?: string): Leg {
  const leg = { id: String(r['_id']), account: String(r['account']), xfer: String(r['xfer_id']), cents: parseCents(r['amount']) };
  if (account !== undefined && leg.account !== account) throw new Error(`a read of ${account} returned a leg of ${leg.account}: ${JSON.stringify(r)}`);
  return leg;
}

/** What is wrong with one state of the bank; empty lists and a right sum when nothing is. */
export interface Audit {
  readonly sumCents: bigint;
  /** Transfers whose legs are not exactly the two intended (a lone leg, a wrong amount or account). */
  readonly broken: readonly { readonly xfer: string; readonly legs: readonly Leg[] }[];
  /** Record ids read more than once. */
  readonly duplicates: readonly string[];
  /** Legs of transfers nobody attempted. */
  readonly strays: readonly Leg[];
  /** Transfers (not the seed) with both legs present. */
  readonly whole: ReadonlySet<string>;
}

/** Audits `legs` against what was seeded (`accounts` × `seedCents`) and what the writers attempted. */
export function audit(legs: readonly Leg[], accounts: readonly string[], seedCents: bigint, intents: ReadonlyMap<string, Intent>): Audit {
  let sumCents = 0n;
  const ids = new Set<string>();
  const duplicates: string[] = [];
  const byXfer = new Map<string, Leg[]>();
  for (const leg of legs) {
    sumCents += leg.cents;
    if (ids.has(leg.id)) duplicates.push(leg.id);
    ids.add(leg.id);
    const list = byXfer.get(leg.xfer);
    if (list === undefined) byXfer.set(leg.xfer, [leg]);
    else list.push(leg);
  }
  const broken: { xfer: string; legs: Leg[] }[] = [];
  const strays: Leg[] = [];
  const whole = new Set<string>();
  for (const [xfer, list] of byXfer) {
    if (xfer === SEED_XFER) {
      const seeded = list.length === accounts.length && accounts.every((a) => list.some((l) => l.account === a && l.cents === seedCents));
      if (!seeded) broken.push({ xfer, legs: list });
      continue;
    }
    const intent = intents.get(xfer);
    if (intent === undefined) {
      strays.push(...list);
      continue;
    }
    const [x, y] = list;
    const as = (l: Leg | undefined, account: string, cents: bigint): boolean => l !== undefined && l.account === account && l.cents === cents;
    const ok = list.length === 2 && ((as(x, intent.from, -intent.cents) && as(y, intent.to, intent.cents)) || (as(y, intent.from, -intent.cents) && as(x, intent.to, intent.cents)));
    if (ok) whole.add(xfer);
    else broken.push({ xfer, legs: list });
  }
  return { sumCents, broken, duplicates, strays, whole };
}

/** True when the audit found the bank as it must be. */
export function isRight(a: Audit, totalCents: bigint): boolean {
  return a.sumCents === totalCents && a.broken.length === 0 && a.duplicates.length === 0 && a.strays.length === 0;
}

/** The audit's findings in a line, for failure messages and diagnostics. */
export function describe(a: Audit, totalCents: bigint): string {
  const broken = a.broken.slice(0, 10).map((b) => `${b.xfer}: [${b.legs.map((l) => `${l.account} ${centsText(l.cents)} (${l.id})`).join(', ')}]`);
  return `sum ${centsText(a.sumCents)} (want ${centsText(totalCents)}), ${a.broken.length} broken transfers ${broken.join('; ')}, ${a.duplicates.length} duplicate ids ${a.duplicates.slice(0, 5).join(',')}, ${a.strays.length} stray legs`;
}

/** `count` account names on distinct shards of `shards` (murmur3 of the shard key, as the nodes place them). */
export function accountsOnShards(count: number, shards: number): string[] {
  const accounts: string[] = [];
  const taken = new Set<number>();
  for (let n = 0; accounts.length < count; n++) {
    const name = `acct-${n}`;
    if (taken.has(shardOf(name, shards))) continue;
    taken.add(shardOf(name, shards));
    accounts.push(name);
  }
  return accounts;
}

/** How a transfer was answered, where (node index) and when (ms into the load). */
export type Outcome =
  | { readonly kind: 'acked'; readonly txId: string; readonly node: number; readonly atMs: number }
  | { readonly kind: 'refused'; readonly status: number; readonly code: string; readonly node: number; readonly atMs: number }
  | { readonly kind: 'in-doubt'; readonly txId: string; readonly node: number; readonly atMs: number }
  | { readonly kind: 'unknown'; readonly why: string; readonly node: number; readonly atMs: number };

/** Classifies a transfer's answer; `unexpected` is told about answers no contract allows. */
export function outcomeOf(answer: Answer, node: number, atMs: number, unexpected: (why: string) => void): Outcome {
  if (answer.status === 0) return { kind: 'unknown', why: answer.text, node, atMs };
  const code = String(answer.body?.error?.code ?? '');
  if (answer.status === 200) {
    if (answer.body.written !== 2 || typeof answer.body.tx_id !== 'string') unexpected(`a 200 that is not a two-phase commit of 2 records: ${answer.text}`);
    return { kind: 'acked', txId: String(answer.body.tx_id), node, atMs };
  }
  // Refusals: a decided abort (409), no quorum or not ready (503), overloaded (429): nothing stored.
  if (answer.status === 409 || answer.status === 503 || answer.status === 429) return { kind: 'refused', status: answer.status, code, node, atMs };
  if (answer.status === 504 && code === 'TX_IN_DOUBT' && typeof answer.body.error.tx_id === 'string') return { kind: 'in-doubt', txId: answer.body.error.tx_id, node, atMs };
  unexpected(`unexpected answer ${answer.status} ${answer.text.slice(0, 300)}`);
  return { kind: 'unknown', why: `${answer.status} ${code}`, node, atMs };
}
