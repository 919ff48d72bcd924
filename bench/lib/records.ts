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

/** One NDJSON line of ~160 bytes. */
export function recordLine(i: number): string {
  const account = `acct-${String((i * 7919) % 100_000).padStart(6, '0')}`;
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
