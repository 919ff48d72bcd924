/** Workload parameters shared by the workload tests. */
import type { WorkloadParams } from '../../../src/loadgen/workload/params.ts';

/** A white-paper-like run: 57,870 rec/s, 5% skewed by −30 s … +5 s. */
export const PARAMS: WorkloadParams = {
  seed: 42,
  runId: 'run-2026.01.05_a',
  t0Ms: 1_780_000_000_000,
  recordsPerSecond: 57_870,
  outOfOrder: 0.05,
  skewMinMs: -30_000,
  skewMaxMs: 5_000,
  keysPerTable: 10_000,
};
