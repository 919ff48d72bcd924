/**
 * The built-in bench tables and their groups (DESIGN bench §3.4). A group
 * name in `--mix` spreads its weight equally over its tables.
 */
import type { BenchTable } from './bench-table.ts';
import { IOT_EVENT, IOT_READING, IOT_STATUS } from './tables/iot.ts';
import { LOGS_ACCESS, LOGS_APP, LOGS_AUDIT } from './tables/logs.ts';
import { METRICS_SAMPLE } from './tables/metrics.ts';
import { PAYMENTS } from './tables/payments.ts';

export type { BenchTable } from './bench-table.ts';

/** Every built-in table, in a fixed order (the default mix and reports use it). */
export const BENCH_TABLES: readonly BenchTable[] = Object.freeze([IOT_READING, IOT_EVENT, IOT_STATUS, LOGS_APP, LOGS_ACCESS, LOGS_AUDIT, METRICS_SAMPLE, PAYMENTS]);

/** The groups, each with its tables in BENCH_TABLES order. */
export const BENCH_GROUPS: ReadonlyMap<string, readonly BenchTable[]> = new Map(
  [...new Set(BENCH_TABLES.map((t) => t.group))].map((g) => [g, BENCH_TABLES.filter((t) => t.group === g)]),
);

/** The table called `name` (sluice name `bench_iot_reading` or mix name `iot.reading`), or undefined. */
export function benchTableNamed(name: string): BenchTable | undefined {
  return BENCH_TABLES.find((t) => t.name === name || t.shortName === name);
}
