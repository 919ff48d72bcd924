/**
 * A real `sluice serve --etcd https://…` against a real etcd with client TLS
 * (`--client-cert-auth`) and RBAC on, set up as docs/operations.md says
 * (etcd-auth.ts): the right CA, client certificate, user and password file
 * start a node that serves; each wrong credential stops it at start with
 * exit 2 and what to fix; and without etcd credentials nobody writes the
 * cluster's token keys (design/security.md §8.12 and §9).
 */
import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { EtcdPermissionDeniedError } from 'etcd3';
import { FAST_CLUSTER_FLAGS, waitUntil, type ClusterView } from './cluster.ts';
import { EtcdProcess, freePort } from './etcd.ts';
import { addUser, etcdClient, makeEtcdCerts, startSecureEtcd, type EtcdAccess, type EtcdCerts } from './etcd-auth.ts';
import { NodeProcess, http, tempDir } from './harness.ts';
import { createTestCa, nodeCertsDir } from '../support/cluster-certs.ts';

const ACCESS: EtcdAccess = { rootPassword: 'root-pw-7d1f0c', user: 'sluice', password: 'sluice-etcd-pw-5b9e2a71c4', role: 'sluice', prefixes: ['sluice/', 'election/sluice/election/'] };
const PREFIX = 'sluice/';
const TABLE = {
  name: 'notes',
  shardKey: 'who',
  replicationFactor: 1,
  fields: [
    { name: 'who', type: 'string', required: true },
    { name: 'text', type: 'string', required: true },
  ],
};

// One secured etcd for the file, made at load: after() registered here runs when the file ends.
const fileOwner = { after };
const dir = tempDir(fileOwner, 'sluice-etcd-security-');
const certs: EtcdCerts = await makeEtcdCerts(dir);
const etcd: EtcdProcess = await startSecureEtcd(fileOwner, certs, ACCESS);
const passwordFile = await secretFile('password', `${ACCESS.password}\n`);
// The nodes' own peer certificates (a cluster node needs them; not under test here).
const peerCa = await createTestCa(path.join(dir, 'peer-ca'));

/** The peer listener flags of node `id`: a free port and its certificates. */
async function peerArgs(id: string): Promise<string[]> {
  return ['--grpc-peer', `127.0.0.1:${await freePort()}`, '--certs-dir', await nodeCertsDir(peerCa, id)];
}

async function secretFile(name: string, text: string, mode = 0o600): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, text, { mode });
  await chmod(file, mode);
  return file;
}

/** `sluice serve` flags of a one-node cluster on `etcdUrl` with `credentials`. */
async function nodeArgs(credentials: readonly string[], etcdUrl = etcd.clientUrl): Promise<string[]> {
  return ['--etcd', etcdUrl, '--node-id', 'n1', '--grpc', `127.0.0.1:${await freePort()}`, ...(await peerArgs('n1')), ...FAST_CLUSTER_FLAGS, ...credentials];
}

const TLS = (): string[] => ['--etcd-ca', certs.client.ca, '--etcd-cert', certs.client.cert, '--etcd-key', certs.client.key];
const USER = (file = passwordFile): string[] => ['--etcd-user', ACCESS.user, '--etcd-password-file', file];

/** Spawns a node expected to fail at start; returns its exit code and stderr. */
async function failedStart(t: { after: (fn: () => Promise<void> | void) => void }, credentials: readonly string[], etcdUrl?: string): Promise<{ code: number | null; stderr: string }> {
  const node = NodeProcess.spawn({ dataDir: tempDir(t), args: await nodeArgs(credentials, etcdUrl) });
  t.after(async () => {
    await node.kill('SIGKILL');
  });
  const { code } = await node.waitExit();
  return { code, stderr: node.stderr };
}

test('etcd with TLS and RBAC: the right CA, client certificate, user and password file start a node that serves', { timeout: 60_000 }, async (t) => {
  const node = await NodeProcess.start(t, { dataDir: tempDir(t), args: await nodeArgs([...TLS(), ...USER()]) });
  // The placement leader (elected through etcd) places the node: writes wait for that.
  await waitUntil(async () => ((await http(`${node.url}/v1/cluster`)).body as ClusterView).placement.nodes.includes('n1'), 20_000, 'n1 placed');
  const created = await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(TABLE) });
  assert.equal(created.status, 201, created.text);
  const written = await http(`${node.url}/v1/tables/notes/records`, { method: 'POST', body: JSON.stringify({ who: 'ada', text: 'over TLS' }) });
  assert.equal(written.status, 200, written.text);
  const id = (written.body.ids as string[])[0];
  const read = await http(`${node.url}/v1/tables/notes/records/${id}`);
  assert.equal(read.status, 200, read.text);
  assert.equal(read.body.text, 'over TLS');
  // A loopback https:// URL: no plaintext warning; the password is in no log line.
  assert.equal(node.events('etcd_plaintext').length, 0);
  assert.ok(!JSON.stringify(node.logs).includes(ACCESS.password) && !node.stderr.includes(ACCESS.password), 'the etcd password is never logged');
  // The node's keys are where the role allows, under the prefix.
  const root = await etcdClient(etcd, certs.client, { username: 'root', password: ACCESS.rootPassword });
  t.after(() => root.close());
  assert.ok((await root.getAll().prefix(`${PREFIX}nodes/`).keys()).includes(`${PREFIX}nodes/n1`));
});

test('etcd with RBAC: a wrong password stops the node at start with exit 2 and what to fix', { timeout: 60_000 }, async (t) => {
  const wrong = await secretFile('wrong-password', 'not-the-password\n');
  const { code, stderr } = await failedStart(t, [...TLS(), ...USER(wrong)]);
  assert.equal(code, 2, stderr);
  assert.match(stderr, /sluice: UNAUTHENTICATED: etcd rejected user sluice: authentication failed \(check --etcd-user and the password in --etcd-password-file\)/);
  assert.ok(!stderr.includes('not-the-password'));
});

test('etcd with --client-cert-auth: no client certificate, or one of another CA, stops the node at start', { timeout: 60_000 }, async (t) => {
  const none = await failedStart(t, ['--etcd-ca', certs.client.ca, ...USER()]);
  assert.equal(none.code, 2, none.stderr);
  assert.match(none.stderr, /UNAUTHENTICATED: etcd at https:\/\/127\.0\.0\.1:\d+ refused the TLS connection \(alert: [a-z ]+\): it requires a client certificate \(--client-cert-auth\); give --etcd-cert and --etcd-key/);

  const foreign = await failedStart(t, ['--etcd-ca', certs.client.ca, '--etcd-cert', certs.foreign.cert, '--etcd-key', certs.foreign.key, ...USER()]);
  assert.equal(foreign.code, 2, foreign.stderr);
  assert.match(foreign.stderr, /UNAUTHENTICATED: etcd at \S+ refused the client certificate --etcd-cert \S+foreign\.crt \(alert: [a-z ]+\): it must be issued by a CA in etcd's --trusted-ca-file/);
});

test('etcd over TLS: a CA that did not issue etcd\'s certificate, or an http:// URL, stops the node at start', { timeout: 60_000 }, async (t) => {
  const untrusted = await failedStart(t, ['--etcd-ca', certs.foreign.ca, '--etcd-cert', certs.client.cert, '--etcd-key', certs.client.key, ...USER()]);
  assert.equal(untrusted.code, 2, untrusted.stderr);
  assert.match(untrusted.stderr, /UNAUTHENTICATED: etcd's server certificate at \S+ is not trusted \(.+\): --etcd-ca must hold the CA that issued etcd's --cert-file/);

  const plaintext = await failedStart(t, USER(), etcd.clientUrl.replace('https://', 'http://'));
  assert.equal(plaintext.code, 2, plaintext.stderr);
  assert.match(plaintext.stderr, /INVALID_ARGUMENT: etcd at http:\S+ (serves TLS|closed a plaintext connection at once: if it serves TLS), use an https:\/\/ URL and give --etcd-ca/);
});

test('secret files open to group or others are refused, and credentials need their partners', { timeout: 60_000 }, async (t) => {
  const shared = await secretFile('shared-password', `${ACCESS.password}\n`, 0o644);
  const open = await failedStart(t, [...TLS(), ...USER(shared)]);
  assert.equal(open.code, 2, open.stderr);
  assert.match(open.stderr, /--etcd-password-file \S+ is readable by group or others \(mode 0644\); it holds a secret, so only its owner may read it: chmod 600 /);

  const noPassword = await failedStart(t, [...TLS(), '--etcd-user', ACCESS.user]);
  assert.equal(noPassword.code, 2, noPassword.stderr);
  assert.match(noPassword.stderr, /etcdUser \(--etcd-user\) and etcdPasswordFile \(--etcd-password-file\) go together/);
});

test('etcd with RBAC: a role without the election\'s keys stops the node at start, naming both prefixes', { timeout: 60_000 }, async (t) => {
  const root = await etcdClient(etcd, certs.client, { username: 'root', password: ACCESS.rootPassword });
  t.after(() => root.close());
  await addUser(root, 'half', ACCESS.password, 'half', [PREFIX]);
  const { code, stderr } = await failedStart(t, [...TLS(), '--etcd-user', 'half', '--etcd-password-file', passwordFile]);
  assert.equal(code, 2, stderr);
  assert.match(stderr, /PERMISSION_DENIED: etcd at \S+ refused to let user half read and write election\/sluice\/election\/: grant the role of user half readwrite on the prefixes sluice\/ and election\/sluice\/election\//);
});

test('without etcd credentials nobody writes the cluster\'s token keys; the sluice role does', { timeout: 60_000 }, async (t) => {
  const key = `${PREFIX}auth/tokens/x`;
  // A client certificate alone: etcd takes its CN ("client sluice") for a user name, which has no role.
  const certOnly = await etcdClient(etcd, certs.client);
  t.after(() => certOnly.close());
  await assert.rejects(certOnly.put(key).value('{"scopes":["admin"]}').exec(), EtcdPermissionDeniedError);
  const sluice = await etcdClient(etcd, certs.client, { username: ACCESS.user, password: ACCESS.password });
  t.after(() => sluice.close());
  await assert.rejects(sluice.put('other/x').value('1').exec(), EtcdPermissionDeniedError, 'the role stops at its prefix');
  const root = await etcdClient(etcd, certs.client, { username: 'root', password: ACCESS.rootPassword });
  t.after(() => root.close());
  assert.equal(await root.get(key).string(), null, 'nothing was written');
});

test('a plaintext etcd with RBAC off: a user, or an https:// URL, stops the node at start with what to fix', { timeout: 60_000 }, async (t) => {
  const plain = await EtcdProcess.start(t);
  const { code, stderr } = await failedStart(t, USER(), plain.clientUrl);
  assert.equal(code, 2, stderr);
  assert.match(stderr, /INVALID_ARGUMENT: etcd at http:\S+ has authentication off, so it takes no user: enable etcd's RBAC \(docs\/operations\.md\), or drop --etcd-user and --etcd-password-file/);
  const tlsToPlain = await failedStart(t, ['--etcd-ca', certs.client.ca], plain.clientUrl.replace('http://', 'https://'));
  assert.equal(tlsToPlain.code, 2, tlsToPlain.stderr);
  assert.match(tlsToPlain.stderr, /INVALID_ARGUMENT: etcd at https:\S+ does not speak TLS \(.+\): use an http:\/\/ URL, or start etcd with --cert-file and --key-file/);
});

test('etcd restarts, forgetting every login: nodes with a user log in again and keep following tokens and tables', { timeout: 120_000 }, async (t) => {
  const own = await startSecureEtcd(t, certs, ACCESS);
  const nodes: NodeProcess[] = [];
  for (const id of ['n1', 'n2']) {
    const args = ['--etcd', own.clientUrl, '--node-id', id, '--grpc', `127.0.0.1:${await freePort()}`, ...(await peerArgs(id)), ...FAST_CLUSTER_FLAGS, ...TLS(), ...USER()];
    nodes.push(await NodeProcess.start(t, { dataDir: tempDir(t), args }));
  }
  const [a, b] = nodes as [NodeProcess, NodeProcess];
  const bothAlive = async (): Promise<boolean> => {
    for (const node of nodes) {
      const view = (await http(`${node.url}/v1/cluster`)).body as ClusterView;
      if (view.placement.nodes.length !== 2 || view.nodes.some((n) => n.state !== 'alive')) return false;
    }
    return true;
  };
  await waitUntil(bothAlive, 30_000, 'both nodes placed and alive');
  const made = await http(`${a.url}/v1/auth/tokens`, { method: 'POST', body: JSON.stringify({ name: 'bot', scopes: ['read:*'] }) });
  assert.equal(made.status, 201, made.text);
  const bot = made.body as { id: string; token: string };
  await waitUntil(async () => (await http(`${b.url}/v1/tables`, { token: bot.token })).status === 200, 5_000, 'the token known on n2');

  // etcd keeps simple tokens in memory: after this, every token the nodes hold is invalid.
  await own.restart();
  await waitUntil(bothAlive, 30_000, 'both nodes alive after the restart');
  const revoked = await http(`${a.url}/v1/auth/tokens/${bot.id}`, { method: 'DELETE' });
  assert.equal(revoked.status, 200, revoked.text);
  await waitUntil(async () => (await http(`${b.url}/v1/tables`, { token: bot.token })).status === 401, 10_000, 'the revocation reached n2 through its token watch');
  assert.equal((await http(`${a.url}/v1/tables`, { method: 'POST', body: JSON.stringify({ ...TABLE, name: 'after_restart' }) })).status, 201);
  await waitUntil(async () => (await http(`${b.url}/v1/tables/after_restart`)).status === 200, 10_000, 'n2 sees the table through its table watch');
  for (const node of nodes) assert.deepEqual(node.events('watch_error'), [], 'no watch was dropped');
});
