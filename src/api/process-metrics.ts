/**
 * The process and Node.js runtime metrics of a node: prom-client's default
 * collectors, named `sluice_process_*` (CPU, memory, file descriptors) and
 * `sluice_nodejs_*` (heap, event loop, GC, handles).
 *
 * The prefix is `sluice_` because the collectors' own names already start
 * with `process_` or `nodejs_` (the former prefix `sluice_process_` gave
 * `sluice_process_process_cpu_seconds_total`).
 *
 * Three default gauges are dropped: `nodejs_active_{handles,requests,resources}_total`.
 * A gauge named `_total` breaks Prometheus's naming rules (`promtool check
 * metrics`: "non-counter metrics should not have _total suffix"), and each
 * is only the sum of its per-type gauge, `sum(sluice_nodejs_active_handles)`
 * (prom-client's maintainers would delete them too: prometheus/client_js#283).
 */
import { collectDefaultMetrics, type Registry } from 'prom-client';

/** Prefix of every default collector's metric name. */
export const PROCESS_METRICS_PREFIX = 'sluice_';

/** Default gauges left out of the registry (names without the prefix): each sums its per-type gauge under a counter's suffix. */
export const DROPPED_DEFAULT_METRICS: readonly string[] = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** Registers the process and runtime metrics on `registry`, minus the dropped ones. */
export function collectProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry, prefix: PROCESS_METRICS_PREFIX });
  for (const name of DROPPED_DEFAULT_METRICS) registry.removeSingleMetric(PROCESS_METRICS_PREFIX + name);
}
