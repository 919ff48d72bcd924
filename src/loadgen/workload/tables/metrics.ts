/**
 * The `metrics` group: one sample per record, with a `labels` json map of
 * two to five entries (as Prometheus series carry).
 */
import type { JsonValue } from '../../../core/schema/table-def.ts';
import type { WorkloadParams } from '../params.ts';
import { intBetween, pick, u32 } from '../prng.ts';
import { benchTable, type BenchTable } from '../bench-table.ts';

const METRIC_NAMES = ['cpu_usage_ratio', 'memory_rss_bytes', 'http_requests_total', 'disk_read_bytes_total', 'gc_pause_seconds', 'queue_depth', 'temperature_celsius', 'open_fds'] as const;
const REGIONS = ['eu-west-1', 'eu-central-1', 'us-east-1', 'us-west-2', 'ap-south-1'] as const;
const ENVS = ['prod', 'staging', 'dev'] as const;
const JOBS = ['node', 'api', 'worker', 'db', 'cache'] as const;

/** `labels`: job and region always; env, instance and shard when their bits are drawn. */
function labels(p: WorkloadParams, j: number, s: number): JsonValue {
  const w = u32(p.seed, s, j);
  const m: { [k: string]: JsonValue } = { job: JOBS[w % JOBS.length] as string, region: REGIONS[(w >>> 3) % REGIONS.length] as string };
  if ((w >>> 8) & 1) m.env = ENVS[(w >>> 9) % ENVS.length] as string;
  if ((w >>> 12) & 1) m.instance = `10.0.${(w >>> 13) & 255}.${(w >>> 21) & 255}:9100`;
  if ((w >>> 29) & 1) m.shard = String((w >>> 30) & 3);
  return m;
}

/** `metrics.sample`: a named float with labels. */
export const METRICS_SAMPLE: BenchTable = benchTable({
  group: 'metrics',
  kind: 'sample',
  shardKey: 'host',
  keyPrefix: 'host-',
  payload: [
    { name: 'name', type: 'string', required: true, gen: (p, j, s) => pick(METRIC_NAMES, p.seed, s, j) },
    { name: 'value', type: 'float', required: true, gen: (p, j, s) => intBetween(p.seed, s, j, -1_000_000, 1_000_000_000) / 1000 },
    { name: 'labels', type: 'json', required: true, gen: labels },
  ],
});
