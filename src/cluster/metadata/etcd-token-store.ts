/**
 * A cluster's tokens in etcd (`auth/tokens/<id>`, one JSON record each),
 * followed by a watch on every node, so a token made or revoked through
 * any node holds on all of them within a watch round trip. Write access to
 * these keys mints tokens: etcd itself must be locked down (client
 * certificates and RBAC, docs/operations.md).
 */
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { isTokenRecord, laterOf, type TokenRecord, type TokenStore } from '../../security/token-store.ts';
import type { EtcdKeys } from './etcd-keys.ts';

/** Tokens in etcd. */
export class EtcdTokenStore implements TokenStore {
  private readonly client: Etcd3;
  private readonly keys: EtcdKeys;
  private readonly log: Logger;
  private watcher: { cancel(): Promise<void> } | undefined;

  constructor(client: Etcd3, keys: EtcdKeys, log: Logger) {
    this.client = client;
    this.keys = keys;
    this.log = log;
  }

  async start(onPut: (record: TokenRecord) => void): Promise<readonly TokenRecord[]> {
    // Watch first, then read: a change between the two is seen twice (harmless), never missed.
    const watcher = await this.client.watch().prefix(this.keys.tokens).create();
    this.watcher = watcher;
    watcher.on('put', (kv) => {
      const record = this.parse(kv.value.toString('utf8'));
      if (record !== undefined) onPut(record);
    });
    watcher.on('error', (err) => this.log.warn({ event: 'watch_error', err: err.message }, 'token watch error'));
    const all = await this.client.getAll().prefix(this.keys.tokens).strings();
    return Object.values(all).flatMap((json) => this.parse(json) ?? []);
  }

  async create(record: TokenRecord): Promise<boolean> {
    const res = await this.client.if(this.keys.token(record.id), 'Create', '==', 0).then(this.client.put(this.keys.token(record.id)).value(JSON.stringify(record))).commit();
    return res.succeeded;
  }

  /** Merges `record` into the stored one under a compare-and-swap on its revision: another node's revocation in between holds. */
  async update(record: TokenRecord): Promise<void> {
    const key = this.keys.token(record.id);
    for (;;) {
      const res = await this.client.get(key).exec();
      const kv = res.kvs[0];
      const stored = kv === undefined ? undefined : this.parse(kv.value.toString('utf8'));
      const merged = JSON.stringify(laterOf(stored, record));
      const put = this.client.put(key).value(merged);
      const swapped = kv === undefined ? await this.client.if(key, 'Create', '==', 0).then(put).commit() : await this.client.if(key, 'Mod', '==', kv.mod_revision).then(put).commit();
      if (swapped.succeeded) return;
    }
  }

  async stop(): Promise<void> {
    await this.watcher?.cancel().catch(() => undefined);
  }

  /** True for the one node that makes a cluster's first admin token (create-if-absent of a marker). */
  async claimFirstAdmin(nodeId: string): Promise<boolean> {
    const res = await this.client.if(this.keys.firstAdmin, 'Create', '==', 0).then(this.client.put(this.keys.firstAdmin).value(nodeId)).commit();
    return res.succeeded;
  }

  private parse(json: string): TokenRecord | undefined {
    try {
      const value = JSON.parse(json) as unknown;
      if (isTokenRecord(value)) return value;
    } catch {
      // Reported below.
    }
    this.log.error({ event: 'token_record_malformed' }, 'a token record in etcd is malformed; ignored');
    return undefined;
  }
}
