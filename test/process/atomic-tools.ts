/**
 * What the process tests of atomic batches share: a ledger table, keys on
 * distinct shards, reading the records of some keys back through one node,
 * and asking a node what became of a batch.
 */
import { shardOf } from '../../src/core/murmur3.ts';
import { http } from './harness.ts';

/** Shards per table of the test clusters (the node default). */
export const SHARDS = 16;
/** Where a test cluster's decisions live in etcd. */
export const TX_PREFIX = 'sluice/tx/';

/** One ledger record as written. */
export interface LedgerRec {
  readonly account: string;
  readonly ts: number;
  readonly tag: string;
  readonly amount: string;
}

/** A ledger table (a decimal amount, a time field), RF=3. */
export function ledgerTable(name: string): object {
  return {
    name,
    shardKey: 'account',
    timeField: 'ts',
    replicationFactor: 3,
    fields: [
      { name: 'account', type: 'string', required: true },
      { name: 'ts', type: 'timestamp', required: true },
      { name: 'tag', type: 'string', required: true },
      { name: 'amount', type: 'decimal', required: true },
    ],
  };
}

/** `count` shard keys starting with `prefix`, each on a shard of its own. */
export function keysOnDistinctShards(prefix: string, count: number): string[] {
  const keys: string[] = [];
  const shards = new Set<number>();
  for (let i = 0; keys.length < count; i++) {
    const key = `${prefix}-${i}`;
    const shard = shardOf(key, SHARDS);
    if (shards.has(shard)) continue;
    shards.add(shard);
    keys.push(key);
  }
  return keys;
}

/** tag → amount of every record of `keys` in `table` through `url` (`query` appended), or the error's text. */
export async function readKeys(url: string, table: string, keys: readonly string[], query: string): Promise<Record<string, string> | string> {
  const seen: Record<string, string> = {};
  for (const key of keys) {
    const res = await http(`${url}/v1/tables/${table}/records?key=${encodeURIComponent(key)}&limit=100&${query}`).catch((err: unknown) => ({ status: 0, text: String(err), body: undefined }));
    if (res.status !== 200) return `${key}: ${res.status} ${res.text.slice(0, 200)}`;
    for (const r of (res.body as { records: LedgerRec[] }).records) seen[r.tag] = r.amount;
  }
  return seen;
}

/** The status `GET /v1/tx/{id}` answers on `url` (committed, aborted, unknown), or the error's text. */
export async function txStatus(url: string, txId: string): Promise<string> {
  const res = await http(`${url}/v1/tx/${txId}`).catch((err: unknown) => ({ status: 0, text: String(err), body: undefined }));
  if (res.status !== 200) return `${res.status} ${res.text.slice(0, 200)}`;
  const body = res.body as { tx_id: string; status: string };
  return body.tx_id === txId ? body.status : `answered for ${body.tx_id}`;
}

/** The part of `GET /v1/cluster` these tests read. */
export interface StatusTx {
  readonly transactions: { readonly pending: number; readonly running: number };
}
