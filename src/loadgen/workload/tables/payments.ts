/**
 * The `payments` group: one table with an exact decimal amount and a
 * primary key, so a resent record upserts itself instead of adding a row.
 */
import { intBetween, pick, unit } from '../prng.ts';
import { benchTable, type BenchTable } from '../bench-table.ts';

const CURRENCIES = ['EUR', 'USD', 'GBP', 'CHF', 'SEK'] as const;
const PAYMENT_METHODS = ['card', 'sepa', 'wire', 'wallet'] as const;

/** Cents as a canonical decimal string with exactly two fraction digits ("-12.05"); never "-0.00". */
export function centsToDecimal(cents: number): string {
  const abs = Math.abs(cents);
  const frac = abs % 100;
  return `${cents < 0 ? '-' : ''}${Math.floor(abs / 100)}.${frac < 10 ? '0' : ''}${frac}`;
}

/** `payments`: account-keyed transactions, `txn_id` unique per (run, j). */
export const PAYMENTS: BenchTable = benchTable({
  group: 'payments',
  kind: '',
  shardKey: 'account',
  keyPrefix: 'acct-',
  primaryKey: 'txn_id',
  payload: [
    { name: 'txn_id', type: 'string', required: true, gen: (p, j) => `tx-${p.runId}-${j}` },
    {
      name: 'amount',
      type: 'decimal',
      required: true,
      // One in twenty is a refund (negative); amounts up to 100,000.00.
      gen: (p, j, s) => centsToDecimal(intBetween(p.seed, s, j, 1, 10_000_000) * (unit(p.seed, s + 1, j) < 0.05 ? -1 : 1)),
    },
    { name: 'currency', type: 'string', required: true, gen: (p, j, s) => pick(CURRENCIES, p.seed, s, j) },
    { name: 'merchant', type: 'string', required: false, gen: (p, j, s) => `m-${String(intBetween(p.seed, s, j, 0, 9999)).padStart(4, '0')}` },
    { name: 'method', type: 'string', required: false, gen: (p, j, s) => pick(PAYMENT_METHODS, p.seed, s, j) },
  ],
});
