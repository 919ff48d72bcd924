/**
 * Metric names in PromQL expressions and Grafana dashboards, and the metric
 * families of a Prometheus text exposition, for the dashboard test.
 *
 * A small identifier scan, not a PromQL parser (promtool parses them, see
 * grafana-dashboard.test.ts): it drops string literals (label values,
 * regexes), label matchers `{…}`, ranges and subqueries `[…]`, the label
 * lists of `by`/`without`/`on`/`ignoring`/`group_left`/`group_right`, and
 * numbers; of the identifiers left, those followed by `(` are functions or
 * aggregations and the rest are keywords or metric names.
 */

/** PromQL words that are not metric names where they stand without a `(` after them. */
const KEYWORDS: ReadonlySet<string> = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'atan2', 'inf', 'nan']);

/** Keywords followed by a parenthesised list of label names. */
const LABEL_LIST = /\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)/g;

/** Metric names an expression reads, in order of first use (Grafana variables allowed anywhere). */
export function promqlMetricNames(expr: string): string[] {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\{[^{}]*\}/g, ' ')
    .replace(/\[[^\][]*\]/g, ' ')
    .replace(LABEL_LIST, ' ')
    // `offset 5m`, `offset $__interval`: a duration is not a name.
    .replace(/\boffset\s+-?(\$\{?\w+\}?|[0-9][0-9a-z]*)/g, ' ')
    // Numbers, including 1e3, 0x1f and durations in odd places.
    .replace(/(^|[^\w:$])[0-9][\w.]*/g, '$1 ')
    // Grafana variables left outside strings ($__rate_interval, ${job}).
    .replace(/\$\{?\w+\}?/g, ' ');
  const names: string[] = [];
  for (const m of s.matchAll(/[A-Za-z_:][\w:]*/g)) {
    const word = m[0];
    const after = s.slice((m.index ?? 0) + word.length).trimStart();
    if (after.startsWith('(') || KEYWORDS.has(word.toLowerCase())) continue;
    if (!names.includes(word)) names.push(word);
  }
  return names;
}

/** One query of a dashboard: where it is (panel title, or variable name) and its PromQL. */
export interface DashboardQuery {
  readonly where: string;
  readonly expr: string;
}

interface PanelLike {
  readonly title?: unknown;
  readonly targets?: readonly { readonly expr?: unknown }[];
  readonly panels?: readonly PanelLike[];
}

/** Every PromQL query of a dashboard: panel targets (rows' nested panels too) and query variables. */
export function dashboardQueries(dashboard: { readonly panels?: readonly PanelLike[]; readonly templating?: { readonly list?: readonly Record<string, unknown>[] } }): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  const walk = (panels: readonly PanelLike[] | undefined): void => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) if (typeof t.expr === 'string') out.push({ where: String(p.title), expr: t.expr });
      walk(p.panels);
    }
  };
  walk(dashboard.panels);
  for (const v of dashboard.templating?.list ?? []) {
    if (v['type'] !== 'query') continue;
    const query = typeof v['query'] === 'string' ? v['query'] : (v['query'] as { query?: unknown } | undefined)?.query;
    if (typeof query !== 'string') continue;
    // Grafana's label_values(selector, label): only the selector is PromQL.
    const lv = /^\s*label_values\(\s*(.*?)\s*,\s*\w+\s*\)\s*$/s.exec(query);
    out.push({ where: `variable ${String(v['name'])}`, expr: lv === null ? query : (lv[1] ?? '') });
  }
  return out;
}

/** Metric families of Prometheus text (from `# TYPE` lines, so a family without samples yet counts), with their types. */
export function exposedFamilies(text: string): Map<string, string> {
  const families = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) families.set(m[1] as string, m[2] as string);
  return families;
}

/** Whether a metric name is a family or a histogram's/summary's `_bucket`, `_sum` or `_count` series. */
export function isExposed(name: string, families: ReadonlyMap<string, string>): boolean {
  if (families.has(name)) return true;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (m === null) return false;
  const type = families.get(m[1] as string);
  return type === 'histogram' || (type === 'summary' && m[2] !== 'bucket');
}

/** The metric names the queries use that `families` lacks, each with the first place using it; `synthetic` names (Prometheus's own `up`) are skipped. */
export function missingMetrics(queries: readonly DashboardQuery[], families: ReadonlyMap<string, string>, synthetic: ReadonlySet<string> = new Set()): string[] {
  const missing = new Map<string, string>();
  for (const q of queries) {
    for (const name of promqlMetricNames(q.expr)) {
      if (!synthetic.has(name) && !isExposed(name, families) && !missing.has(name)) missing.set(name, q.where);
    }
  }
  return [...missing].map(([name, where]) => `${name} (${where})`);
}
