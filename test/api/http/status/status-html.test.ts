/**
 * The status page's rendering: every value escaped (a hostile table name,
 * node id, source error), states as text and colour, heartbeats judged
 * against the failure detector's timeouts, no scripts and no outside
 * assets, and the sign-in form.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeHtml, html } from '../../../../src/api/http/status/html-template.ts';
import { judgeHeartbeat } from '../../../../src/api/http/status/heartbeat.ts';
import { STATE_COLOURS } from '../../../../src/api/http/status/page-style.ts';
import { renderStatusPage, stateBadge } from '../../../../src/api/http/status/status-html.ts';
import { renderSignIn } from '../../../../src/api/http/status/sign-in-html.ts';
import type { StatusNode, StatusSnapshot } from '../../../../src/api/http/status/status-snapshot.ts';
import { formatDuration } from '../../../../src/api/http/status/status-format.ts';

const EVIL = `<script>alert("x")</script>&'"`;
const EVIL_ESCAPED = '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;&quot;';

function node(id: string, over: Partial<StatusNode> = {}): StatusNode {
  const heartbeat = over.self === true ? {} : { heartbeatAgeMs: 120, heartbeat: 'fresh' as const };
  return { id, self: false, state: 'alive', registered: true, http: `http://${id}:8080`, shards: 8, ownershipPct: 50, hintsPending: 0, ...heartbeat, decommissioning: false, inRing: true, inTarget: true, ...over };
}

function snapshot(over: Partial<StatusSnapshot> = {}): StatusSnapshot {
  return {
    header: { nodeId: 'n1', mode: 'cluster', phase: 'ready', leader: true, live: true, placementEpoch: 7, shardCount: 16, version: '0.1.0', startedAt: '2026-12-05T08:00:00.000Z', uptimeMs: 65_000, now: '2026-12-05T08:01:05.000Z' },
    tiles: { nodesAlive: 2, nodesSuspect: 1, nodesDead: 1, nodesDecommissioning: 0, hintsPending: 12, hintsDropped: 0, underReplicatedShards: 3, applyLagFrames: 0, overloaded: 0 },
    detector: { healthIntervalMs: 1_000, suspectAfterMs: 3_000, deadAfterMs: 30_000 },
    nodes: [node('n1', { self: true }), node('n2', { state: 'suspect', heartbeatAgeMs: 4_000, heartbeat: 'late', hintsPending: 12 }), node('n3', { state: 'dead', heartbeatAgeMs: 40_000, heartbeat: 'overdue' })],
    placement: { replicationFactor: 2, nodes: ['n1', 'n2', 'n3'], shards: [{ shard: 0, replicas: ['n1', 'n2'], underReplicated: true }, { shard: 1, replicas: ['n1', 'n3'], target: ['n1', 'n2'], underReplicated: false }] },
    ingest: { rateWindowMs: 10_000, tables: [{ table: 'payments', writtenPerSec: 1234.5, rejectedPerSec: 0.5, written: 100_000, rejected: 5 }], kafkaLag: [{ source: 'kafka:t', topic: 't', partition: 0, lag: 42 }], sources: [{ name: 'http', kind: 'http', state: 'running', records: 1, rejected: 0 }], paused: [] },
    storage: { engine: 'lmdb', appliedLsn: '18446744073709551615', lastAckedLsn: '18446744073709551615', applyLagFrames: 0, fsyncP99Ms: 2.5, fsyncP99Scope: 'window', diskFreeBytes: 5 * 2 ** 30, diskTotalBytes: 10 * 2 ** 30 },
    ...over,
  };
}

const OPTIONS = { links: [{ href: '/metrics', label: '/metrics' }], signOut: true };

test('the html template escapes every interpolated value and passes only its own markup', () => {
  assert.equal(escapeHtml(EVIL), EVIL_ESCAPED);
  assert.equal(html`<b>${EVIL}</b>`.text, `<b>${EVIL_ESCAPED}</b>`);
  assert.equal(html`<i>${html`<b>${'<'}</b>`}</i>`.text, '<i><b>&lt;</b></i>');
  assert.equal(html`${[EVIL, 1, undefined, null, html`<br>`]}`.text, `${EVIL_ESCAPED}1<br>`);
});

test('a hostile node id, table name, topic, source and error are rendered as text, never markup', () => {
  const page = renderStatusPage(
    snapshot({
      header: { ...snapshot().header, nodeId: EVIL },
      nodes: [node(EVIL, { http: `http://x/"><script>1</script>` })],
      ingest: { tables: [{ table: EVIL, writtenPerSec: 1, rejectedPerSec: 0, written: 1, rejected: 0 }], kafkaLag: [{ source: EVIL, topic: EVIL, partition: 1, lag: 1 }], sources: [{ name: EVIL, kind: 'kafka', state: 'failed', records: 0, rejected: 0, error: EVIL }], paused: [EVIL] },
      placement: { replicationFactor: 1, nodes: [EVIL], shards: [{ shard: 0, replicas: [EVIL], underReplicated: false }] },
    }),
    OPTIONS,
  );
  assert.ok(!page.includes('<script'), 'no script element anywhere');
  assert.ok(!page.includes('"><script'), 'an attribute cannot be closed by data');
  assert.ok(page.includes(EVIL_ESCAPED));
  assert.ok(page.split(EVIL_ESCAPED).length - 1 >= 9, 'every place the value appears is escaped');
});

test('the page refreshes itself, has no scripts and loads nothing from anywhere', () => {
  const page = renderStatusPage(snapshot(), OPTIONS);
  assert.match(page, /^<!doctype html>/);
  assert.match(page, /<meta http-equiv="refresh" content="5">/);
  assert.doesNotMatch(page, /<script|<link|<img|<iframe|@import|url\(/i);
  for (const m of page.matchAll(/(?:href|src|action)="([^"]*)"/g)) assert.match(m[1] as string, /^\//, `a same-origin path: ${m[1]}`);
  assert.match(page, /<details><summary>show shards \(2\)<\/summary>/, 'the shard grid is behind a no-script toggle');
  assert.match(page, /<form class="inline" method="post" action="\/status\/sign-out">/);
  assert.doesNotMatch(renderStatusPage(snapshot(), { links: [], signOut: false }), /sign-out/);
});

test('every state is shown as text and as its colour', () => {
  for (const state of ['alive', 'suspect', 'dead', 'fresh', 'late', 'overdue'] as const) {
    const badge = stateBadge(state).text;
    assert.ok(badge.includes(`>${state}</span>`), `${state} as text`);
    assert.ok(badge.includes(STATE_COLOURS[state]), `${state} in its colour`);
  }
  assert.notEqual(STATE_COLOURS.alive, STATE_COLOURS.suspect);
  assert.notEqual(STATE_COLOURS.suspect, STATE_COLOURS.dead);
  const page = renderStatusPage(snapshot(), OPTIONS);
  const row = (id: string): string => page.slice(page.indexOf(`<tr><td>${id}`), page.indexOf('</tr>', page.indexOf(`<tr><td>${id}`)));
  assert.match(row('n2'), new RegExp(`color:${STATE_COLOURS.suspect}.*suspect`));
  assert.match(row('n2'), /4\.0 s .*late/, 'heartbeat age with its verdict');
  assert.match(row('n3'), new RegExp(`color:${STATE_COLOURS.dead}.*dead`));
  assert.match(row('n1'), /\(this node\)/);
  const gone = renderStatusPage(snapshot({ nodes: [node('n9', { state: 'dead', registered: false, lastKnown: true, http: 'http://10.0.0.9:8080' })] }), OPTIONS);
  assert.match(gone, /<td class="muted">http:\/\/10\.0\.0\.9:8080<\/td>.*no \(last seen\)/s, 'a gone node at its last known address, greyed');
  assert.match(page, /suspect after 3\.0 s of silence, dead after 30\.0 s \(checks every 1\.0 s\)/);
});

test('a heartbeat is judged against the failure detector timeouts, not the check period', () => {
  const timeouts = { suspectAfterMs: 3_000, deadAfterMs: 30_000 };
  // Two check periods (1 s each) of silence is jitter, not a problem (mimir#1917).
  assert.equal(judgeHeartbeat(2_000, timeouts), 'fresh');
  assert.equal(judgeHeartbeat(2_999, timeouts), 'fresh');
  assert.equal(judgeHeartbeat(3_000, timeouts), 'late');
  assert.equal(judgeHeartbeat(29_999, timeouts), 'late');
  assert.equal(judgeHeartbeat(30_000, timeouts), 'overdue');
});

test('tiles, rates and storage figures are on the page', () => {
  const page = renderStatusPage(snapshot(), OPTIONS);
  assert.match(page, /<div class="tile bad"><b>1<\/b><span>nodes dead<\/span>/);
  assert.match(page, /<div class="tile warn"><b>1<\/b><span>nodes suspect<\/span>/);
  assert.match(page, /<div class="tile bad"><b>3<\/b><span>under-replicated shards<\/span>/);
  assert.match(page, /<td>payments<\/td><td class="num">1,235<\/td><td class="num">0\.5<\/td>/);
  assert.match(page, /<td>t<\/td><td class="num">0<\/td><td class="num">42<\/td>/, 'Kafka lag per partition');
  assert.match(page, /18446744073709551615/, 'a 64-bit LSN exactly');
  assert.match(page, /≤ 2\.5 ms \(recent\)/);
  assert.match(page, /5\.0 GiB of 10\.0 GiB/);
  assert.match(page, /changing to|none \(stable\)/);
});

test('durations read as people write them', () => {
  assert.equal(formatDuration(0.25), '0.25 ms');
  assert.equal(formatDuration(850), '850 ms');
  assert.equal(formatDuration(4_200), '4.2 s');
  assert.equal(formatDuration(187_000), '3 m 07 s');
  assert.equal(formatDuration(5 * 3_600_000 + 120_000), '5 h 02 m');
  assert.equal(formatDuration(2 * 86_400_000 + 4 * 3_600_000), '2 d 04 h');
});

test('the sign-in form posts the token in the body, with the refusal escaped above it', () => {
  const page = renderSignIn({ nodeId: EVIL, sessionTtlMs: 8 * 3_600_000, error: { code: 'PERMISSION_DENIED', message: EVIL } });
  assert.ok(!page.includes('<script'));
  assert.match(page, /<form method="post" action="\/status\/sign-in">/);
  assert.match(page, /<input id="token" name="token" type="password" autocomplete="off"/);
  assert.match(page, /role="alert">&lt;script&gt;.*\(PERMISSION_DENIED\)/);
  assert.match(page, /at most 8 h 00 m/);
});
