/**
 * The benchmark's records: ~160-byte payments spread over many accounts,
 * with event times slightly out of order, as NDJSON.
 */

/** The benchmark table (no primary key: pure appends). */
export const BENCH_TABLE = {
  name: 'bench_payments',
  shardKey: 'account_id',
  timeField: 'ts',
  fields: [
    { name: 'account_id', type: 'string', required: true },
    { name: 'txn_id', type: 'string', required: true },
    { name: 'amount', type: 'decimal', required: true },
    { name: 'currency', type: 'string', required: true },
    { name: 'ts', type: 'timestamp', required: true },
    { name: 'memo', type: 'string' },
  ],
};

/** The same table with `txn_id` as primary key (upsert path). */
export const BENCH_TABLE_PK = { ...BENCH_TABLE, name: 'bench_payments_pk', primaryKey: 'txn_id' };

/** Accounts (shard keys) of the benchmark records. */
export const BENCH_ACCOUNTS = 100_000;

/** The shard key of account number `n` (0..BENCH_ACCOUNTS-1). */
export function accountId(n: number): string {
  return `acct-${String(n).padStart(6, '0')}`;
}

/** One NDJSON line of ~160 bytes: consecutive records go to far-apart accounts, so 1,000 of them span every shard. */
export function recordLine(i: number): string {
  return paymentLine(i, accountId((i * 7919) % BENCH_ACCOUNTS));
}

/** Record `i` (its txn_id, amount, time and memo) for the account `account`. */
export function paymentLine(i: number, account: string): string {
  const ts = 1_764_000_000_000 + i * 3 - (i % 17) * 40;
  return `{"account_id":"${account}","txn_id":"tx-${String(i).padStart(10, '0')}","amount":"${(i % 100_000) / 100}","currency":"EUR","ts":${ts},"memo":"bench payment ${String(i % 1000).padStart(4, '0')} for invoice INV-${String(i % 77777).padStart(6, '0')}"}`;
}

/** `count` bodies of `perBody` records each, starting at record `first`. */
export function ndjsonBodies(first: number, count: number, perBody: number): Buffer[] {
  const bodies: Buffer[] = [];
  for (let b = 0; b < count; b++) {
    const lines: string[] = [];
    for (let i = 0; i < perBody; i++) lines.push(recordLine(first + b * perBody + i));
    bodies.push(Buffer.from(lines.join('\n') + '\n'));
  }
  return bodies;
}

/**
 * `count` bodies of `perBody` records whose accounts all fall into one
 * shard, body b into shard `b % byShard.length` (`byShard[s]`: the accounts
 * of shard s, from `accountsByShard`), each body cycling through its
 * shard's accounts so it still holds many shard keys.
 */
export function singleShardBodies(first: number, count: number, perBody: number, byShard: readonly (readonly string[])[]): Buffer[] {
  const bodies: Buffer[] = [];
  for (let b = 0; b < count; b++) {
    const accounts = byShard[b % byShard.length] as readonly string[];
    const lines: string[] = [];
    for (let i = 0; i < perBody; i++) {
      const n = first + b * perBody + i;
      lines.push(paymentLine(n, accounts[(n * 7919) % accounts.length] as string));
    }
    bodies.push(Buffer.from(lines.join('\n') + '\n'));
  }
  return bodies;
}

/** The benchmark's accounts grouped by the shard `shardOf` routes them to. */
export function accountsByShard(shardOf: (key: string) => number, shards: number): string[][] {
  const out: string[][] = Array.from({ length: shards }, () => []);
  for (let n = 0; n < BENCH_ACCOUNTS; n++) {
    const account = accountId(n);
    (out[shardOf(account)] as string[]).push(account);
  }
  return out;
}

/** `keys` shard keys of their own (`read-000042`), `perKey` records each from record `first` on, as bodies of `perBody`. */
export function readSetBodies(first: number, keys: number, perKey: number, perBody: number): Buffer[] {
  const lines: string[] = [];
  for (let i = 0; i < keys * perKey; i++) lines.push(paymentLine(first + i, readKey(i % keys)));
  const bodies: Buffer[] = [];
  for (let at = 0; at < lines.length; at += perBody) bodies.push(Buffer.from(lines.slice(at, at + perBody).join('\n') + '\n'));
  return bodies;
}

/** The shard key of read-set key `k`. */
export function readKey(k: number): string {
  return `read-${String(k).padStart(6, '0')}`;
}

/** Records [first, first + count) parsed, as a peer database stores them (the same values the NDJSON lines carry). */
export function benchRecords(first: number, count: number): { account_id: string; txn_id: string; amount: string; currency: string; ts: number; memo?: string }[] {
  return Array.from({ length: count }, (_, i) => JSON.parse(recordLine(first + i)) as { account_id: string; txn_id: string; amount: string; currency: string; ts: number; memo?: string });
}
