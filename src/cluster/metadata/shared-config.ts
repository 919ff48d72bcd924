import type { Etcd3 } from 'etcd3';
import { SluiceError } from '../../core/errors.ts';
import type { EtcdKeys } from './etcd-keys.ts';

/** Settings every node must share; the first node to start writes them. */
export async function checkSharedConfig(client: Etcd3, keys: EtcdKeys, shards: number): Promise<void> {
  await client.if(keys.config, 'Create', '==', 0).then(client.put(keys.config).value(JSON.stringify({ shards }))).commit();
  const stored = JSON.parse((await client.get(keys.config).string()) ?? '{}') as { shards?: number };
  if (stored.shards !== shards) {
    throw new SluiceError('INVALID_ARGUMENT', `this cluster has ${stored.shards} shards per table; start the node with --shards ${stored.shards}`);
  }
}
