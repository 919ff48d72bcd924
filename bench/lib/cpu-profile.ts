/**
 * Summary of a V8 `.cpuprofile` (what a node's `GET /debug/profile`
 * answers): self time by function and by source file, as shares of the
 * samples, so two profiles can be printed side by side.
 */

/** The parts of a V8 CPU profile the summary reads. */
export interface CpuProfile {
  readonly nodes: readonly { readonly id: number; readonly hitCount?: number; readonly children?: readonly number[]; readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number } }[];
  readonly startTime: number;
  readonly endTime: number;
}

/** Self time of one function or file. */
export interface SelfTime {
  readonly name: string;
  /** Share of all samples, 0..1. */
  readonly share: number;
  readonly ms: number;
}

/** A profile's self time, the heaviest first. */
export interface ProfileSummary {
  readonly seconds: number;
  /** Share of the samples the thread was idle, 0..1. */
  readonly idle: number;
  readonly functions: SelfTime[];
  readonly files: SelfTime[];
}

/**
 * Self time by function (`name file:line`) and by file, from the samples'
 * hit counts. An unnamed frame without a script (native code V8 shows as
 * `(anonymous)`) is charged to its nearest caller that has one, marked
 * `[native]`, so the table says whose native work it is.
 */
export function summarizeProfile(p: CpuProfile): ProfileSummary {
  const totalHits = p.nodes.reduce((n, node) => n + (node.hitCount ?? 0), 0);
  const msPerHit = totalHits === 0 ? 0 : (p.endTime - p.startTime) / 1000 / totalHits;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let idle = 0;
  for (const node of p.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) continue;
    let frame = node.callFrame;
    let native = '';
    if (frame.url === '' && (frame.functionName === '' || frame.functionName === '(anonymous)')) {
      for (let id = parentOf.get(node.id); id !== undefined; id = parentOf.get(id)) {
        const caller = byId.get(id)?.callFrame;
        if (caller !== undefined && caller.url !== '') {
          frame = caller;
          native = ' [native]';
          break;
        }
      }
    }
    const { functionName, url, lineNumber } = frame;
    if (functionName === '(idle)') idle += hits;
    const file = shortUrl(url);
    const fn = (file === '' ? functionName || '(anonymous)' : `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`) + native;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + hits);
    const fileKey = file === '' ? functionName : file.replace(/:\d+$/, '');
    byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + hits);
  }
  const ranked = (m: Map<string, number>): SelfTime[] =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).map(([name, hits]) => ({ name, share: totalHits === 0 ? 0 : hits / totalHits, ms: hits * msPerHit }));
  return { seconds: (p.endTime - p.startTime) / 1e6, idle: totalHits === 0 ? 0 : idle / totalHits, functions: ranked(byFunction), files: ranked(byFile) };
}

/** A script URL shortened to what locates it: the path inside the repo or inside node_modules, or node's own module. */
function shortUrl(url: string): string {
  if (url === '') return '';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length);
  const src = url.search(/\/(src|bench|test)\//);
  if (src >= 0) return url.slice(src + 1);
  return url.replace(/^file:\/\//, '');
}
