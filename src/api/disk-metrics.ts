/**
 * Disk space of the data directory's file system on /metrics, measured at
 * scrape time (a statfs per scrape, never per write), beside the floor under
 * which the WAL refuses writes with DISK_FULL (507): an operator sees the
 * refusals coming, where the WAL's own guard only says no once it is there.
 */
import { statfs } from 'node:fs/promises';
import { Gauge, type Registry } from 'prom-client';

/** Registers the data directory's disk gauges on `registry`. */
export function registerDiskMetrics(registry: Registry, dataDir: string, freeBytesMin: number): void {
  const registers = [registry];
  // A failed statfs (the directory gone) reads NaN, unknown: a 0 would look like a full disk.
  const measure = async (): Promise<{ free: number; size: number } | undefined> => {
    try {
      const s = await statfs(dataDir);
      return { free: s.bavail * s.bsize, size: s.blocks * s.bsize };
    } catch {
      return undefined;
    }
  };
  new Gauge({
    name: 'sluice_disk_free_bytes',
    help: 'Bytes available to sluice on the file system of the data directory',
    registers,
    async collect() {
      this.set((await measure())?.free ?? Number.NaN);
    },
  });
  new Gauge({
    name: 'sluice_disk_size_bytes',
    help: 'Size of the file system of the data directory, in bytes',
    registers,
    async collect() {
      this.set((await measure())?.size ?? Number.NaN);
    },
  });
  const floor = new Gauge({ name: 'sluice_disk_free_bytes_min', help: 'Free space under which the WAL refuses writes (DISK_FULL, 507); 0: no floor', registers });
  floor.set(freeBytesMin);
}
