// Throwaway driver (not committed): a 3-node cluster, traffic, a killed node, and a headless Chromium screenshot of n1's page.
import { spawnSync } from 'node:child_process';
import { TestCluster, waitUntil } from './cluster.ts';
import { http, sleep } from './harness.ts';

const cleanups: (() => Promise<void> | void)[] = [];
const owner = { after: (fn: () => Promise<void> | void) => void cleanups.push(fn) };
const OPS = 'http://127.0.0.1:18620';
try {
  const cluster = await TestCluster.start(owner, { size: 3, nodeArgs: (id) => (id === 'n1' ? ['--metrics-listen', '127.0.0.1:18620'] : []) });
  await cluster.createTable({ name: 'payments', shardKey: 'account_id', timeField: 'ts', fields: [{ name: 'account_id', type: 'string', required: true }, { name: 'amount', type: 'decimal', required: true }, { name: 'ts', type: 'timestamp', required: true }] });
  await fetch(`${OPS}/status`);
  const write = async (n: number): Promise<void> => {
    const lines = Array.from({ length: 200 }, (_, i) => JSON.stringify({ account_id: `acct-${(n * 200 + i) % 97}`, amount: '12.50', ts: Date.now() })).join('\n');
    await http(`${cluster.url(0)}/v1/tables/payments/records`, { method: 'POST', body: lines, headers: { 'content-type': 'application/x-ndjson' } });
    await http(`${cluster.url(0)}/v1/tables/payments/records?on_invalid=skip`, { method: 'POST', body: '{"account_id":"x","amount":"oops","ts":1}', headers: { 'content-type': 'application/json' } });
    await http(`${cluster.url(0)}/ingest`, { method: 'POST', body: '{"trace_id":"t","msg":"hello"}', headers: { 'content-type': 'application/json' } });
  };
  for (let i = 0; i < 20; i++) await write(i);
  await cluster.kill(2);
  await waitUntil(async () => ((await (await fetch(`${OPS}/status`, { headers: { accept: 'application/json' } })).json()) as { nodes: { id: string; state: string }[] }).nodes.find((n) => n.id === 'n3')?.state === 'dead', 20_000, 'n3 dead');
  for (let i = 0; i < 30; i++) await write(i);
  await sleep(1_200);
  const res = spawnSync('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--hide-scrollbars', `--screenshot=${process.argv[2]}`, '--window-size=1400,1000', `${OPS}/status`], { encoding: 'utf8', timeout: 60_000 });
  console.log(res.status, res.stderr.slice(-500));
} finally {
  for (const fn of cleanups.reverse()) await fn();
}
