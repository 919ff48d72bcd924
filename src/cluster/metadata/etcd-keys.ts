/**
 * Where the cluster keeps its metadata in etcd, all under one prefix so
 * several clusters (or test runs) can share one etcd.
 *
 *   nodes/<id>      → NodeInfo JSON, under the node's lease (membership)
 *   workers/<n>     → node id, under the node's lease (snowflake worker id)
 *   placement       → PlacementMap JSON, changed by CAS on its mod revision
 *   election/       → the placement leader's etcd election (its keys are
 *                     election/<prefix>election/, outside the prefix: etcd3's layout)
 *   tables/<name>   → TableEntry JSON (the cluster catalog)
 *   table-ids/<id>  → table name (makes a table id unique)
 *   loaded/<table>/<id> → {"id", "version"}: the version of the table node
 *                        <id> has loaded (schema agreement)
 *   config          → settings every node must share (shard count)
 *   decommission/<id> → an operator asked node <id> to leave the ring
 *   ready/<epoch>/<id> → node <id> has copied the shards it gains in the
 *                        transition of placement epoch <epoch>
 *   tx/<txid>       → the decision on an atomic batch (commit, or an abort
 *                     fence), until every participant has applied it
 *   auth/tokens/<id> → a token record (hash, scopes, expiry, revocation)
 *   auth/first-admin → the node that made the cluster's first admin token
 */

/** The etcd key names of one cluster. */
export class EtcdKeys {
  readonly prefix: string;

  constructor(prefix: string) {
    this.prefix = prefix.endsWith('/') ? prefix : `${prefix}/`;
  }

  get nodes(): string {
    return `${this.prefix}nodes/`;
  }
  node(id: string): string {
    return `${this.nodes}${id}`;
  }
  get workers(): string {
    return `${this.prefix}workers/`;
  }
  worker(n: number): string {
    return `${this.workers}${n}`;
  }
  get placement(): string {
    return `${this.prefix}placement`;
  }
  get election(): string {
    return `${this.prefix}election`;
  }
  /**
   * Where etcd3 keeps the election's keys: `election/<name>/`, outside the
   * prefix, so etcd RBAC must grant this prefix too (docs/operations.md).
   */
  get electionKeys(): string {
    return `election/${this.election}/`;
  }
  get tables(): string {
    return `${this.prefix}tables/`;
  }
  table(name: string): string {
    return `${this.tables}${name}`;
  }
  loadedTable(name: string): string {
    return `${this.prefix}loaded/${name}/`;
  }
  loaded(name: string, nodeId: string): string {
    return `${this.loadedTable(name)}${nodeId}`;
  }
  tableId(id: number): string {
    return `${this.prefix}table-ids/${id}`;
  }
  get config(): string {
    return `${this.prefix}config`;
  }
  get tokens(): string {
    return `${this.prefix}auth/tokens/`;
  }
  token(id: string): string {
    return `${this.tokens}${id}`;
  }
  get firstAdmin(): string {
    return `${this.prefix}auth/first-admin`;
  }
  get decommissions(): string {
    return `${this.prefix}decommission/`;
  }
  decommission(id: string): string {
    return `${this.decommissions}${id}`;
  }
  get readyAll(): string {
    return `${this.prefix}ready/`;
  }
  readyPrefix(epoch: number): string {
    return `${this.readyAll}${epoch}/`;
  }
  ready(epoch: number, id: string): string {
    return `${this.readyPrefix(epoch)}${id}`;
  }
  get txs(): string {
    return `${this.prefix}tx/`;
  }
  tx(txid: bigint): string {
    return `${this.txs}${txid}`;
  }
}
