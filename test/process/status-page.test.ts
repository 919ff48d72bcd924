/**
 * The status page on a real three-node cluster: on the --metrics-listen
 * operations address without a token (HTML and JSON: node ids and
 * states); a SIGKILLed node turns suspect, then dead, on the page; and on
 * the main address the sign-in flow (a wrong token and a token without
 * `ops` refused, a cross-site form refused, the cookie's flags, the page
 * served with the cookie and not without, the session ending with its
 * token and at sign-out), with the audit lines it leaves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { TestCluster, waitUntil } from './cluster.ts';
import { TEST_TOKEN, http } from './harness.ts';

/** The operations (--metrics-listen) address of node n1; from this helper's port range. */
const OPS_PORT = 18610;
const OPS = `http://127.0.0.1:${OPS_PORT}`;
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

interface PageNode {
  readonly id: string;
  readonly state: string;
  readonly heartbeat?: string;
  readonly shards: number;
  readonly registered: boolean;
  readonly http?: string;
  readonly lastKnown?: boolean;
}
interface PageJson {
  readonly header: { readonly nodeId: string; readonly mode: string; readonly placementEpoch: number; readonly shardCount: number };
  readonly tiles: { readonly nodesAlive: number; readonly nodesSuspect: number; readonly nodesDead: number; readonly underReplicatedShards: number };
  readonly nodes: readonly PageNode[];
  readonly placement: { readonly shards: readonly { readonly replicas: readonly string[] }[] };
  readonly ingest: { readonly tables: readonly { readonly table: string; readonly written: number }[] };
  readonly storage: { readonly engine?: string; readonly appliedLsn?: string };
}

async function opsJson(): Promise<PageJson> {
  const res = await fetch(`${OPS}/status`, { headers: { accept: 'application/json' } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return (await res.json()) as PageJson;
}

/** A request to the main address as a browser makes it: no bearer header, redirects not followed. */
async function browser(url: string, init: { method?: string; cookie?: string; origin?: string; form?: Record<string, string> } = {}): Promise<Response> {
  const headers: Record<string, string> = { accept: BROWSER_ACCEPT };
  if (init.cookie !== undefined) headers['cookie'] = init.cookie;
  if (init.origin !== undefined) headers['origin'] = init.origin;
  if (init.form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
  return fetch(url, { method: init.method ?? 'GET', headers, redirect: 'manual', ...(init.form === undefined ? {} : { body: new URLSearchParams(init.form).toString() }) });
}

test('status page: ops address without a token, a killed node turns suspect then dead, sign-in on the main address', async (t) => {
  const cluster = await TestCluster.start(t, { size: 3, nodeArgs: (id) => (id === 'n1' ? ['--metrics-listen', `127.0.0.1:${OPS_PORT}`] : []) });
  const main = cluster.url(0);
  const ingest = await http(`${main}/ingest`, { method: 'POST', body: '{"trace_id":"t1","n":1}\n{"trace_id":"t2","n":2}\n', headers: { 'content-type': 'application/x-ndjson' } });
  assert.ok(ingest.status === 200 || ingest.status === 201, ingest.text);

  // The operations address: JSON and HTML without any credential.
  const before = await opsJson();
  assert.equal(before.header.nodeId, 'n1');
  assert.equal(before.header.mode, 'cluster');
  assert.deepEqual(before.nodes.map((n) => [n.id, n.state]), [['n1', 'alive'], ['n2', 'alive'], ['n3', 'alive']]);
  assert.equal(before.tiles.nodesAlive, 3);
  assert.equal(before.tiles.underReplicatedShards, 0);
  assert.equal(before.placement.shards.length, before.header.shardCount);
  assert.ok(before.nodes.every((n) => n.shards > 0));
  assert.ok(before.nodes.filter((n) => n.id !== 'n1').every((n) => n.heartbeat === 'fresh'), JSON.stringify(before.nodes));
  assert.equal(before.ingest.tables.find((x) => x.table === 'events')?.written, 2, 'the two records written through n1');
  assert.ok(before.storage.engine !== undefined && before.storage.appliedLsn !== undefined);
  const page = await fetch(`${OPS}/status`, { headers: { accept: BROWSER_ACCEPT } });
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/);
  const text = await page.text();
  assert.match(text, /<meta http-equiv="refresh" content="5">/);
  assert.doesNotMatch(text, /<script/i);
  for (const id of ['n1', 'n2', 'n3']) assert.match(text, new RegExp(`<tr><td>${id}`));

  // SIGKILL n3: suspect within the suspect window, then dead after --dead-after-ms (5 s in FAST_CLUSTER_FLAGS).
  await cluster.kill(2);
  await waitUntil(async () => (await opsJson()).nodes.find((n) => n.id === 'n3')?.state === 'suspect', 5_000, 'n3 suspect on the page');
  const suspect = await opsJson();
  assert.equal(suspect.tiles.nodesSuspect, 1);
  assert.ok(suspect.tiles.underReplicatedShards > 0, 'shards with a replica on n3 are under-replicated');

  await signInFlow(main);

  await waitUntil(async () => (await opsJson()).nodes.find((n) => n.id === 'n3')?.state === 'dead', 15_000, 'n3 dead on the page');
  const dead = await opsJson();
  assert.equal(dead.tiles.nodesDead, 1);
  assert.equal(dead.nodes.find((n) => n.id === 'n3')?.heartbeat, 'overdue', 'judged against the dead timeout');
  // Its etcd lease (6 s in FAST_CLUSTER_FLAGS) runs out about now: the page keeps where it was.
  await waitUntil(async () => (await opsJson()).nodes.find((n) => n.id === 'n3')?.registered === false, 10_000, 'n3 lease gone');
  const n3 = (await opsJson()).nodes.find((n) => n.id === 'n3');
  assert.deepEqual([n3?.state, n3?.http, n3?.lastKnown], ['dead', cluster.url(2), true], 'dead, at its last known address');
  const deadPage = await (await fetch(`${OPS}/`, { headers: { accept: BROWSER_ACCEPT } })).text();
  const row = deadPage.slice(deadPage.indexOf('<tr><td>n3'), deadPage.indexOf('</tr>', deadPage.indexOf('<tr><td>n3')));
  assert.match(row, /color:#cf222e.*>dead<\/span>/, 'dead as text and colour');

  const audit = (await readFile(path.join(cluster.dataDir(0), 'audit.log'), 'utf8')).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  const onPage = audit.filter((e) => e['route'] === '/status/sign-in');
  assert.ok(onPage.some((e) => e['event'] === 'authentication_failed'), 'the wrong token is audited');
  assert.ok(onPage.some((e) => e['event'] === 'access_denied' && e['scope'] === 'ops'), 'the token without ops is audited');
  assert.ok(onPage.some((e) => e['event'] === 'session_created' && e['principal'] === 'viewer'));
  assert.ok(audit.some((e) => e['event'] === 'session_ended' && e['route'] === '/status/sign-out'));
  assert.ok(!JSON.stringify(audit).includes(TEST_TOKEN), 'no token in the audit log');
});

/** The sign-in flow on the main address of node 0. */
async function signInFlow(main: string): Promise<void> {
  const origin = main;
  const unauthenticated = await browser(`${main}/status`);
  assert.equal(unauthenticated.status, 303);
  assert.equal(unauthenticated.headers.get('location'), '/status/sign-in');
  assert.equal((await fetch(`${main}/status`, { headers: { accept: 'application/json' } })).status, 401, 'a program without a token gets 401');
  assert.match(await (await browser(`${main}/status/sign-in`)).text(), /<form method="post" action="\/status\/sign-in">/);

  const wrong = await browser(`${main}/status/sign-in`, { method: 'POST', origin, form: { token: 'slc_not_a_real_token' } });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.headers.get('set-cookie'), null);
  const readOnly = await makeToken(main, 'reader', ['read:*']);
  const noOps = await browser(`${main}/status/sign-in`, { method: 'POST', origin, form: { token: readOnly.token } });
  assert.equal(noOps.status, 403);
  assert.match(await noOps.text(), /lacks ops/);
  assert.equal(noOps.headers.get('set-cookie'), null);
  const viewer = await makeToken(main, 'viewer', ['ops']);
  const crossSite = await browser(`${main}/status/sign-in`, { method: 'POST', origin: 'http://evil.example', form: { token: viewer.token } });
  assert.equal(crossSite.status, 403, 'a form posted from another site');
  assert.equal(crossSite.headers.get('set-cookie'), null);

  const signedIn = await browser(`${main}/status/sign-in`, { method: 'POST', origin, form: { token: viewer.token } });
  assert.equal(signedIn.status, 303);
  assert.equal(signedIn.headers.get('location'), '/status');
  const setCookie = signedIn.headers.get('set-cookie') ?? '';
  assert.match(setCookie, /^sluice_status=[A-Za-z0-9_-]{43}; /);
  for (const flag of ['HttpOnly', 'SameSite=Strict', 'Path=/', 'Max-Age=']) assert.ok(setCookie.includes(flag), `${flag} in ${setCookie}`);
  assert.ok(!setCookie.includes('Secure'), 'not Secure on a plain-HTTP listener');
  assert.ok(!setCookie.includes(viewer.token), 'the cookie holds a session id, never the token');
  const cookie = setCookie.split(';')[0] as string;

  const withCookie = await browser(`${main}/status`, { cookie });
  assert.equal(withCookie.status, 200);
  assert.match(await withCookie.text(), /sluice · node n1/);
  assert.equal((await browser(`${main}/`, { cookie })).status, 200, 'GET / serves the page to a browser');
  assert.equal((await browser(`${main}/status`, { cookie: 'sluice_status=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' })).status, 303, 'an unknown session');
  const json = await fetch(`${main}/status`, { headers: { accept: 'application/json', cookie } });
  assert.equal(json.status, 200);
  assert.equal(((await json.json()) as PageJson).header.nodeId, 'n1');

  // The session dies with its token.
  assert.equal((await http(`${main}/v1/auth/tokens/${viewer.id}`, { method: 'DELETE' })).status, 200);
  assert.equal((await browser(`${main}/status`, { cookie })).status, 303, 'revoked token: signed out');

  // Sign-out ends the session (only from this node's own page).
  const admin = await browser(`${main}/status/sign-in`, { method: 'POST', origin, form: { token: TEST_TOKEN } });
  const adminCookie = (admin.headers.get('set-cookie') ?? '').split(';')[0] as string;
  assert.equal((await browser(`${main}/status`, { cookie: adminCookie })).status, 200);
  assert.equal((await browser(`${main}/status/sign-out`, { method: 'POST', cookie: adminCookie, origin: 'http://evil.example' })).status, 403);
  const out = await browser(`${main}/status/sign-out`, { method: 'POST', cookie: adminCookie, origin });
  assert.equal(out.status, 303);
  assert.match(out.headers.get('set-cookie') ?? '', /^sluice_status=; .*Max-Age=0/);
  assert.equal((await browser(`${main}/status`, { cookie: adminCookie })).status, 303, 'signed out');
}

async function makeToken(main: string, name: string, scopes: readonly string[]): Promise<{ id: string; token: string }> {
  const res = await http(`${main}/v1/auth/tokens`, { method: 'POST', body: JSON.stringify({ name, scopes }), headers: { 'content-type': 'application/json' } });
  assert.equal(res.status, 201, res.text);
  return res.body as { id: string; token: string };
}
