/** A single node's store and local coordinator in process, over a temp data dir: closed and removed by `owner.after`. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { LocalCoordinator } from '../../src/cluster/coordinator/local-coordinator.ts';
import { resolveConfig, type NodeConfig } from '../../src/config.ts';
import { systemClock } from '../../src/core/clock.ts';
import { Hlc } from '../../src/core/hlc.ts';
import { SnowflakeGenerator } from '../../src/core/snowflake.ts';
import { openDataDir } from '../../src/storage/data-dir.ts';

type Owner = { after: (fn: () => Promise<void> | void) => void };

/** Opens a data dir of its own (`shards` shards, decoding inline) with a local coordinator over it. */
export async function localNode(owner: Owner, shards = 4, prefix = 'sluice-local-') {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  const config: NodeConfig = resolveConfig({ dataDir: dir, shards, decodeThreads: 0 });
  const { store, catalog } = await openDataDir(config, [], {}, pino({ level: 'silent' }));
  owner.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const coordinator = new LocalCoordinator(store, new SnowflakeGenerator({ workerId: 1, clock: systemClock }), new Hlc(systemClock), config);
  return { config, store, catalog, coordinator };
}
