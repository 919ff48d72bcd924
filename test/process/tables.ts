/** Table definitions shared by the process tests. */

/** The payments table of DESIGN §1. */
export const PAYMENTS = {
  name: 'payments',
  shardKey: 'account_id',
  timeField: 'ts',
  primaryKey: 'txn_id',
  fields: [
    { name: 'account_id', type: 'string', required: true },
    { name: 'txn_id', type: 'string', required: true },
    { name: 'amount', type: 'decimal', required: true },
    { name: 'ts', type: 'timestamp', required: true },
    { name: 'memo', type: 'string' },
  ],
};
