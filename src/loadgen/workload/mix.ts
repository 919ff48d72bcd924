/**
 * `--mix`: which table each request writes to. `iot:0.6,logs:0.4` names
 * groups (a group's weight is split equally over its tables), tables
 * (`iot.reading:0.5` or `bench_iot_reading:0.5`), or both; a name without
 * `:weight` weighs 1. Weights are relative: they need not sum to 1. A table
 * reached twice (its group and itself) gets the sum.
 *
 * Request r's table is a seeded draw on r (`tableOfRequest`), so the
 * verifier can tell, from the seed alone, which table request r went to.
 */
import { unit } from './prng.ts';
import { STREAM } from './streams.ts';
import { BENCH_GROUPS, BENCH_TABLES, benchTableNamed, type BenchTable } from './tables.ts';

/** A parsed mix: tables with weights > 0, normalized to sum to 1. */
export interface Mix {
  readonly tables: readonly BenchTable[];
  /** Same order as `tables`; sums to 1. */
  readonly weights: readonly number[];
  /** Running sums of `weights`, the last forced to exactly 1. */
  readonly cumulative: readonly number[];
}

/** The names `--mix` accepts, for error messages. */
function knownNames(): string {
  return [...BENCH_GROUPS.keys(), ...BENCH_TABLES.filter((t) => t.shortName !== t.group).map((t) => t.shortName)].join(', ');
}

/** The weight text of one entry as a number; throws on anything but a finite number ≥ 0. */
function weightOf(text: string, entry: string): number {
  const w = Number(text);
  if (text.trim() === '' || !Number.isFinite(w) || w < 0) throw new Error(`--mix: bad weight in ${JSON.stringify(entry)}: a weight is a number ≥ 0, like iot:0.6`);
  return w;
}

/** The tables `name` (a group or a table) stands for, or throws. */
function tablesNamed(name: string, entry: string): readonly BenchTable[] {
  const group = BENCH_GROUPS.get(name);
  if (group !== undefined) return group;
  const table = benchTableNamed(name);
  if (table !== undefined) return [table];
  throw new Error(`--mix: unknown group or table ${JSON.stringify(name)} in ${JSON.stringify(entry)}; known: ${knownNames()}`);
}

/** Builds a Mix from raw weights per table (BENCH_TABLES order, zeros dropped). */
function mixOf(weightByTable: ReadonlyMap<BenchTable, number>): Mix {
  const tables = BENCH_TABLES.filter((t) => (weightByTable.get(t) ?? 0) > 0);
  const total = tables.reduce((sum, t) => sum + (weightByTable.get(t) as number), 0);
  if (tables.length === 0 || !(total > 0) || !Number.isFinite(total)) throw new Error('--mix: the weights sum to 0; give at least one table a weight > 0');
  const weights = tables.map((t) => (weightByTable.get(t) as number) / total);
  let sum = 0;
  const cumulative = weights.map((w) => (sum += w));
  // Rounding may leave the last sum at 0.9999…; a draw in that gap must still land on a table.
  cumulative[cumulative.length - 1] = 1;
  return { tables, weights, cumulative };
}

/** Parses `--mix` (see the file comment); undefined gives every table the same weight. Throws an Error naming the bad entry. */
export function parseMix(spec: string | undefined): Mix {
  if (spec === undefined) return mixOf(new Map(BENCH_TABLES.map((t) => [t, 1])));
  if (spec.trim() === '') throw new Error(`--mix is empty: give groups or tables with weights, like iot:0.6,logs:0.4 (known: ${knownNames()})`);
  const weights = new Map<BenchTable, number>();
  const seen = new Set<string>();
  for (const raw of spec.split(',')) {
    const entry = raw.trim();
    if (entry === '') throw new Error(`--mix: empty entry in ${JSON.stringify(spec)}`);
    const colon = entry.lastIndexOf(':');
    const name = (colon < 0 ? entry : entry.slice(0, colon)).trim();
    if (seen.has(name)) throw new Error(`--mix: ${JSON.stringify(name)} is given twice`);
    seen.add(name);
    const w = colon < 0 ? 1 : weightOf(entry.slice(colon + 1), entry);
    const tables = tablesNamed(name, entry);
    for (const t of tables) weights.set(t, (weights.get(t) ?? 0) + w / tables.length);
  }
  return mixOf(weights);
}

/** The table request r writes to: a seeded draw, so it regenerates from (seed, r). */
export function tableOfRequest(mix: Mix, seed: number, r: number): BenchTable {
  const u = unit(seed, STREAM.mix, r);
  const cumulative = mix.cumulative;
  // Linear: at most eight tables.
  for (let i = 0; i < cumulative.length; i++) if (u < (cumulative[i] as number)) return mix.tables[i] as BenchTable;
  return mix.tables[mix.tables.length - 1] as BenchTable;
}

/** The mix as `--mix` text of tables with normalized weights, for reports. */
export function formatMix(mix: Mix): string {
  return mix.tables.map((t, i) => `${t.shortName}:${Number((mix.weights[i] as number).toFixed(6))}`).join(',');
}
