/** A request and a reply of every replica-v1 method, for the transport tests. */
import type { ReplicaMethod, ReplicaMethods } from '../../../src/cluster/transport/replica-messages.ts';

export const key = Buffer.from('R-record-key');
export const value = Buffer.from('stored value');

/** A request and a reply of every method, optional fields both present and absent. */
export const SAMPLES: { [M in ReplicaMethod]: { requests: ReplicaMethods[M][0][]; replies: ReplicaMethods[M][1][] } } = {
  Write: { requests: [{ batch: Buffer.from([0x53, 1, 0, 0]) }, { batch: Buffer.alloc(0), epoch: 7 }], replies: [{ lsn: '18446744073709551615' }] },
  Get: { requests: [{ tableId: 3, id: '1234567890123' }, { tableId: 3, id: '1', lsn: '42', asOf: '123456789' }], replies: [{}, { record: [key, value] }] },
  Scan: {
    requests: [
      { tableId: 1, shard: 2, key: Buffer.from('acc-1'), limit: 100 },
      { tableId: 1, shard: 2, key: Buffer.from('acc-1'), fromMs: -5, toMs: 1.5e12, after: key, limit: 1, lsn: '9', asOf: '77' },
    ],
    replies: [{ records: [] }, { records: [[key, value], [Buffer.from('k2'), Buffer.alloc(0)]] }],
  },
  ScanShard: { requests: [{ tableId: 1, shard: 0, limit: 2000 }, { tableId: 1, shard: 4095, after: key, limit: 1, asOf: '18446744073709551615' }], replies: [{ records: [[key, value]] }] },
  LookupPks: { requests: [{ tableId: 1, shard: 3, pks: ['t-1', 'ü'] }, { tableId: 1, shard: 3, pks: [], epoch: 7 }], replies: [{ entries: [['5', '6'], null] }, { entries: [] }] },
  Merkle: { requests: [{ shard: 1 }, { shard: 1, tableId: 2, minEpoch: 3 }, { shard: 1, tableId: 2, summary: 2 }], replies: [{ tree: Buffer.from([1, 2, 3]) }, { tree: Buffer.from([1]), summary: 2, keys: Buffer.from([4]) }] },
  LeafEntries: {
    requests: [{ shard: 1, leaves: [0, 255] }, { shard: 1, tableId: 2, leaves: [] }, { shard: 1, tableId: 2, leaves: [7], paged: true, after: key }, { shard: 1, tableId: 2, leaves: [7], paged: true, summary: 2, keys: true }],
    replies: [{ entries: [[key, '77']] }, { entries: [[key, '77']], next: key }, { entries: [[key, '77', key]], next: key }],
  },
  Fetch: {
    requests: [{ keys: [key, Buffer.from('other')] }, { keys: [key], withDedupeKeys: true }],
    replies: [{ records: [[key, value]] }, { records: [[key, value], [key, value]], dedupeKeys: [Buffer.from('kafka:t:0:00000000000000000007'), null] }],
  },
  Prepare: {
    requests: [
      { txid: '99', epoch: 3, deadlineMs: 1.7e12, coordinator: 'n1', shards: [1, 5], batch: Buffer.from([0x53, 1]) },
      { txid: '100', epoch: 3, deadlineMs: 1.7e12, coordinator: 'n1', shards: [2], batch: Buffer.from([0x53, 1]), requestId: 'req-7' },
    ],
    replies: [{ lsn: '10', pt: '123456789012345' }],
  },
  Commit: { requests: [{ txid: '99', cv: '1000' }], replies: [{ lsn: '11' }] },
  Abort: { requests: [{ txid: '99' }], replies: [{ lsn: '12' }] },
  TxStatus: {
    requests: [{ txids: ['99', '100'] }, { txids: [] }],
    replies: [{ states: [{ txid: '99', state: 'committed', cv: '1000' }, { txid: '100', state: 'unknown' }] }, { states: [] }],
  },
};
