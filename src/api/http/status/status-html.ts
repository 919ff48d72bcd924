/**
 * The status page as server-rendered HTML: no scripts, no outside assets,
 * a meta refresh every STATUS_REFRESH_SECONDS; every value goes through
 * the escaping `html` template. States are shown as text and colour, so
 * the page reads the same without colour.
 */
import { STATUS_REFRESH_SECONDS } from '../../../config.ts';
import { html, type SafeHtml } from './html-template.ts';
import { PAGE_STYLE, STATE_COLOURS } from './page-style.ts';
import { formatBytes, formatCount, formatDuration, formatRate } from './status-format.ts';
import type { StatusNode, StatusSnapshot } from './status-snapshot.ts';

/** How the page is served: the links it offers, and whether a sign-out button belongs (a session on the main address). */
export interface StatusPageOptions {
  readonly links: readonly { readonly href: string; readonly label: string }[];
  readonly signOut: boolean;
}

/** The whole page. */
export function renderStatusPage(s: StatusSnapshot, o: StatusPageOptions): string {
  const page = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="${STATUS_REFRESH_SECONDS}">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>sluice ${s.header.nodeId} · status</title>
${PAGE_STYLE}</head>
<body><main>
${headerPart(s)}
${tilesPart(s)}
${nodesPart(s)}
${placementPart(s)}
${ingestPart(s)}
${storagePart(s)}
${linksPart(o)}
</main></body></html>
`;
  return page.text;
}

/** A state (alive/suspect/dead, fresh/late/overdue) as a coloured dot and its word. */
export function stateBadge(state: keyof typeof STATE_COLOURS): SafeHtml {
  const colour = STATE_COLOURS[state];
  return html`<span class="state" style="color:${colour}"><span class="dot" style="background:${colour}"></span>${state}</span>`;
}

function kv(label: string, value: SafeHtml | string | number): SafeHtml {
  return html`<div><dt>${label}</dt><dd>${value}</dd></div>`;
}

function headerPart(s: StatusSnapshot): SafeHtml {
  const h = s.header;
  return html`<h1>sluice · node ${h.nodeId}</h1>
<dl class="kv">${[
    kv('mode', h.mode),
    kv('phase', h.phase),
    kv('leader', h.mode === 'single' ? 'this node (single)' : h.leader ? 'this node' : 'another node'),
    kv('live (etcd lease)', h.live ? 'yes' : 'NO'),
    kv('placement epoch', h.placementEpoch),
    kv('target placement', h.placementTarget === undefined ? 'none (stable)' : `changing to ${h.placementTarget.join(', ')}`),
    kv('shards', h.shardCount),
    kv('version', h.version),
    kv('uptime', formatDuration(h.uptimeMs)),
    kv('now', h.now.replace('T', ' ').replace(/\.[0-9]+Z$/, ' UTC')),
  ]}</dl>`;
}

function tile(label: string, value: number, level: 'ok' | 'warn' | 'bad'): SafeHtml {
  return html`<div class="tile ${level === 'ok' ? '' : level}"><b>${formatCount(value)}</b><span>${label}</span></div>`;
}

function tilesPart(s: StatusSnapshot): SafeHtml {
  const t = s.tiles;
  const warnIf = (n: number): 'ok' | 'warn' => (n > 0 ? 'warn' : 'ok');
  const badIf = (n: number): 'ok' | 'bad' => (n > 0 ? 'bad' : 'ok');
  return html`<h2>Overview</h2><div class="tiles">${[
    tile('nodes alive', t.nodesAlive, 'ok'),
    tile('nodes suspect', t.nodesSuspect, warnIf(t.nodesSuspect)),
    tile('nodes dead', t.nodesDead, badIf(t.nodesDead)),
    tile('decommissioning', t.nodesDecommissioning, warnIf(t.nodesDecommissioning)),
    tile('hints pending', t.hintsPending, warnIf(t.hintsPending)),
    tile('hints dropped', t.hintsDropped, badIf(t.hintsDropped)),
    tile('under-replicated shards', t.underReplicatedShards, badIf(t.underReplicatedShards)),
    tile('WAL apply lag (frames)', t.applyLagFrames, warnIf(t.applyLagFrames)),
    tile('overloaded (429s)', t.overloaded, warnIf(t.overloaded)),
  ]}</div>`;
}

function nodesPart(s: StatusSnapshot): SafeHtml {
  const d = s.detector;
  const judged = d === undefined ? '' : `heartbeat age is judged against the failure detector: suspect after ${formatDuration(d.suspectAfterMs)} of silence, dead after ${formatDuration(d.deadAfterMs)} (checks every ${formatDuration(d.healthIntervalMs)})`;
  return html`<h2>Nodes</h2>
<table><thead><tr><th>node</th><th>state</th><th>HTTP</th><th>gRPC</th><th>peer</th><th>worker</th><th>registered</th><th>shards</th><th>owns</th><th>hints pending</th><th>heartbeat age</th><th>decommission</th><th>in target</th></tr></thead>
<tbody>${s.nodes.map(nodeRow)}</tbody></table>
<p class="muted">${judged}</p>`;
}

function nodeRow(n: StatusNode): SafeHtml {
  const heartbeat = n.self ? html`<span class="muted">this node</span>` : n.heartbeatAgeMs === undefined || n.heartbeat === undefined ? html`<span class="muted">never seen</span>` : html`${formatDuration(n.heartbeatAgeMs)} ${stateBadge(n.heartbeat)}`;
  const cls = n.lastKnown === true ? 'muted' : '';
  return html`<tr><td>${n.id}${n.self ? ' (this node)' : ''}</td><td>${stateBadge(n.state)}</td><td class="${cls}">${n.http ?? '—'}</td><td class="${cls}">${n.grpc ?? '—'}</td><td class="${cls}">${n.peer ?? '—'}</td>
<td class="num ${cls}">${n.workerId ?? '—'}</td><td>${n.registered ? 'yes' : n.lastKnown === true ? 'no (last seen)' : 'no'}</td><td class="num">${n.shards}</td><td class="num">${n.ownershipPct.toFixed(1)} %</td>
<td class="num">${formatCount(n.hintsPending)}</td><td>${heartbeat}</td><td>${n.decommissioning ? 'LEAVING' : '—'}</td><td>${n.inTarget ? 'yes' : 'no'}</td></tr>`;
}

function placementPart(s: StatusSnapshot): SafeHtml {
  const p = s.placement;
  const most = Math.max(1, ...s.nodes.map((n) => n.shards));
  const bars = s.nodes.map(
    (n) => html`<tr><td>${n.id}</td><td class="num">${n.shards}</td><td><div class="bar"><i style="width:${((n.shards / most) * 100).toFixed(1)}%"></i></div></td></tr>`,
  );
  const grid =
    p.shards.length === 0
      ? html`<p class="muted">A single node holds every shard.</p>`
      : html`<details><summary>show shards (${p.shards.length})</summary>
<table><thead><tr><th>shard</th><th>replicas (preferred first)</th><th>target replicas</th><th>replicated</th></tr></thead><tbody>${p.shards.map(
          (r) => html`<tr><td class="num">${r.shard}</td><td>${r.replicas.join(', ')}</td><td>${r.target?.join(', ') ?? '—'}</td><td>${r.underReplicated ? html`<span class="err">UNDER-REPLICATED</span>` : 'ok'}</td></tr>`,
        )}</tbody></table></details>`;
  return html`<h2>Placement</h2>
<p class="muted">replication factor ${p.replicationFactor}; ring: ${p.nodes.join(', ')}</p>
<table><thead><tr><th>node</th><th>shards</th><th></th></tr></thead><tbody>${bars}</tbody></table>
${grid}`;
}

function ingestPart(s: StatusSnapshot): SafeHtml {
  const i = s.ingest;
  const window = i.rateWindowMs === undefined ? 'rates appear from the next refresh on' : `rates over the last ${formatDuration(i.rateWindowMs)}`;
  const tables = i.tables.map(
    (t) => html`<tr><td>${t.table}</td><td class="num">${formatRate(t.writtenPerSec)}</td><td class="num">${formatRate(t.rejectedPerSec)}</td><td class="num">${formatCount(t.written)}</td><td class="num">${formatCount(t.rejected)}</td></tr>`,
  );
  const lag = i.kafkaLag.map((k) => html`<tr><td>${k.source}</td><td>${k.topic}</td><td class="num">${k.partition}</td><td class="num">${formatCount(k.lag)}</td></tr>`);
  const sources = i.sources.map(
    (x) => html`<tr><td>${x.name}</td><td>${x.kind}</td><td>${x.state === 'paused' ? html`<span class="err">paused</span>` : x.state}</td><td class="num">${formatCount(x.records)}</td><td class="num">${formatCount(x.rejected)}</td><td>${x.error ?? ''}</td></tr>`,
  );
  return html`<h2>Ingest</h2>
<p class="muted">${window}; written and refused by this node as coordinator</p>
<table><thead><tr><th>table</th><th>written/s</th><th>refused/s</th><th>written total</th><th>refused total</th></tr></thead>
<tbody>${tables.length === 0 ? html`<tr><td colspan="5" class="muted">nothing written since start</td></tr>` : tables}</tbody></table>
<h2>Sources</h2>
<p>${i.paused.length === 0 ? 'no source paused' : html`<span class="err">paused (backpressure): ${i.paused.join(', ')}</span>`}</p>
<table><thead><tr><th>source</th><th>kind</th><th>state</th><th>records</th><th>refused</th><th>error</th></tr></thead><tbody>${sources}</tbody></table>
${lag.length === 0 ? '' : html`<h2>Kafka lag</h2><table><thead><tr><th>source</th><th>topic</th><th>partition</th><th>lag (messages)</th></tr></thead><tbody>${lag}</tbody></table>`}`;
}

function storagePart(s: StatusSnapshot): SafeHtml {
  const st = s.storage;
  const p99 = st.fsyncP99Ms === undefined ? 'no fsync yet' : `≤ ${Number.isFinite(st.fsyncP99Ms) ? formatDuration(st.fsyncP99Ms) : 'over the largest bucket'} (${st.fsyncP99Scope === 'window' ? 'recent' : 'since start'})`;
  const disk = st.diskFreeBytes === undefined ? 'unknown' : `${formatBytes(st.diskFreeBytes)}${st.diskTotalBytes === undefined ? '' : ` of ${formatBytes(st.diskTotalBytes)}`}`;
  return html`<h2>Storage</h2>
<dl class="kv">${[
    kv('engine', st.engine ?? 'not open yet'),
    kv('applied LSN', st.appliedLsn ?? '—'),
    kv('last durable LSN', st.lastAckedLsn ?? '—'),
    kv('apply lag (frames)', formatCount(st.applyLagFrames)),
    kv('WAL fsync p99', p99),
    kv('disk free (data dir)', disk),
  ]}</dl>`;
}

function linksPart(o: StatusPageOptions): SafeHtml {
  const signOut = o.signOut ? html`<form class="inline" method="post" action="/status/sign-out"><button type="submit">sign out</button></form>` : '';
  return html`<h2>More</h2><nav>${o.links.map((l) => html`<a href="${l.href}">${l.label}</a>`)}${signOut}</nav>
<p class="muted">This page refreshes every ${STATUS_REFRESH_SECONDS} s. The same data as JSON: send <code>Accept: application/json</code>.</p>`;
}
