/**
 * `sluice cluster status|repair|cleanup|decommission`: the cluster as one
 * node sees it (nodes, state, addresses, placement epoch, shards per node,
 * hints pending), Merkle anti-entropy on demand, dropping what a node no
 * longer replicates, and moving a node out of the ring.
 */
import { Command } from 'commander';
import type { CleanupReport } from '../cluster/repair/cleanup.ts';
import { CliError } from './cli-error.ts';
import { DEFAULT_URL, requestJson } from './http-client.ts';
import { requestJsonLong } from './long-request.ts';

interface StatusNode {
  id: string;
  state: string;
  registered: boolean;
  http?: string;
  grpc?: string;
  peer?: string;
  workerId?: number;
  shards: number;
  hintsPending: number;
}

interface Transactions {
  pending: number;
  pendingBytes: number;
  oldestPendingMs: number;
  running: number;
  undecided: { txId: string; state: string; ageMs: number; coordinator?: string; waitingFor?: string[] }[];
}

interface Status {
  mode: string;
  nodeId: string;
  leader: boolean;
  live: boolean;
  shardCount: number;
  placement: { epoch: number; nodes: string[]; target?: string[] };
  decommissioned?: string[];
  nodes: StatusNode[];
  hintsPending: number;
  transactions?: Transactions;
}

/** The cluster command group. */
export function clusterCommand(): Command {
  const cluster = new Command('cluster').description('cluster status, repair, cleanup and decommission');
  cluster
    .command('status')
    .description('nodes, their state, addresses, placement epoch, shards per node, hints pending, and atomic batches undecided for over a minute')
    .option('--url <url>', 'sluice node URL', DEFAULT_URL)
    .option('--json', 'print the raw JSON answer')
    .action(async (o: { url: string; json?: boolean }) => {
      const s = (await requestJson(`${o.url}/v1/cluster`)) as Status;
      if (o.json === true) {
        process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
        return;
      }
      process.stdout.write(`${s.mode} · seen from ${s.nodeId}${s.live ? '' : ' (lease NOT live: writes refused)'} · placement epoch ${s.placement.epoch} · ${s.shardCount} shards · hints pending ${s.hintsPending}\n`);
      if (s.placement.target !== undefined) process.stdout.write(`moving to ring [${s.placement.target.join(', ')}]: writes go to both rings, reads switch when the target's nodes have copied their shards\n`);
      if ((s.decommissioned ?? []).length > 0) process.stdout.write(`decommissioned: ${(s.decommissioned ?? []).join(', ')}\n`);
      const rows = [['NODE', 'STATE', 'HTTP', 'GRPC', 'PEER', 'WORKER', 'SHARDS', 'HINTS'], ...s.nodes.map((n) => [n.id, n.state, n.http ?? '-', n.grpc ?? '-', n.peer ?? '-', n.workerId === undefined ? '-' : String(n.workerId), String(n.shards), String(n.hintsPending)])];
      const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
      for (const r of rows) process.stdout.write(`${r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('  ').trimEnd()}\n`);
      printTransactions(s.transactions);
    });
  cluster
    .command('repair')
    .description('run Merkle anti-entropy now on the shards the node holds (or one shard)')
    .option('--url <url>', 'sluice node URL', DEFAULT_URL)
    .option('--shard <n>', 'repair only this shard')
    .action(async (o: { url: string; shard?: string }) => {
      if (o.shard !== undefined && !/^[0-9]+$/.test(o.shard)) throw new CliError(`--shard must be a shard number, got ${o.shard}`, 2);
      const query = o.shard === undefined ? '' : `?shard=${o.shard}`;
      // A repair runs as long as the shards take: the CLI waits for it without a time limit (Ctrl-C leaves it running).
      const r = (await requestJsonLong(`${o.url}/v1/cluster/repair${query}`, 'POST', 'repair')) as { shards: number; differing: number; pulled: number; pushed: number; skipped?: number };
      const skipped = (r.skipped ?? 0) > 0 ? `; ${r.skipped} replica pairs skipped (peer not alive)` : '';
      process.stdout.write(`repaired ${r.shards} shards: ${r.differing} replica pairs differed, ${r.pulled} records pulled, ${r.pushed} pushed${skipped}\n`);
    });
  cluster
    .command('cleanup')
    .description('drop the shards a node no longer replicates (after a join or decommission), once their replicas hold every record of them')
    .option('--url <url>', 'sluice node URL', DEFAULT_URL)
    .option('--all', 'clean up every registered node in turn, not just the one at --url')
    .action(async (o: { url: string; all?: boolean }) => {
      const urls = o.all === true ? ((await requestJson(`${o.url}/v1/cluster`)) as Status).nodes.flatMap((n) => (n.http === undefined ? [] : [n.http])) : [o.url];
      let incomplete = false;
      let failed = false;
      for (const url of urls) {
        let r: CleanupReport;
        try {
          // A cleanup hands shards off before it drops them, as long as that takes: no time limit on the answer.
          r = (await requestJsonLong(`${url}/v1/cluster/cleanup`, 'POST', 'cleanup')) as CleanupReport;
        } catch (err) {
          // With --all, one node down or refusing (NOT_READY) must not keep the nodes after it from being cleaned.
          if (urls.length === 1) throw err;
          process.stdout.write(`${url}: not cleaned: ${(err as Error).message}\n`);
          failed = true;
          continue;
        }
        process.stdout.write(`${url}: dropped ${r.ranges} table shards (${r.deleted} records) at placement epoch ${r.epoch}; ${r.pushed} records handed to replicas first\n`);
        for (const s of r.skipped) process.stdout.write(`  kept ${s.table} shard ${s.shard}: ${s.reason}\n`);
        if (r.skipped.length > 0) incomplete = true;
      }
      if (failed) throw new CliError('some nodes were not cleaned (see above); run cleanup again once they answer', 1);
      if (incomplete) throw new CliError('some shards were kept; run cleanup again once their replicas are back', 1);
    });
  cluster
    .command('decommission <node>')
    .description('move a node out of the ring: its shards are copied to the nodes that gain them, then reads switch (the node may be dead)')
    .option('--url <url>', 'sluice node URL', DEFAULT_URL)
    .option('--cancel', 'withdraw the request (lets the node rejoin)')
    .action(async (node: string, o: { url: string; cancel?: boolean }) => {
      await requestJson(`${o.url}/v1/cluster/nodes/${encodeURIComponent(node)}/decommission`, { method: o.cancel === true ? 'DELETE' : 'POST' });
      process.stdout.write(o.cancel === true ? `withdrew the decommission of ${node}\n` : `asked the placement leader to move ${node} out of the ring; follow it with \`sluice cluster status\`\n`);
    });
  return cluster;
}

/** Atomic batches pending on the node, and those undecided or unconcluded for over a minute. */
function printTransactions(tx: Transactions | undefined): void {
  if (tx === undefined) return;
  const oldest = tx.pending > 0 ? `, oldest ${Math.round(tx.oldestPendingMs / 1000)} s` : '';
  process.stdout.write(`atomic batches: ${tx.running} coordinated now, ${tx.pending} pending here (${tx.pendingBytes} bytes staged${oldest})\n`);
  if (tx.undecided.length === 0) return;
  process.stdout.write('undecided or unconcluded for over a minute:\n');
  for (const u of tx.undecided) {
    const who = u.coordinator === undefined ? '' : ` coordinator ${u.coordinator}`;
    const waiting = u.waitingFor === undefined || u.waitingFor.length === 0 ? '' : ` waiting for ${u.waitingFor.join(', ')}`;
    process.stdout.write(`  tx ${u.txId}  ${u.state}  ${Math.round(u.ageMs / 1000)} s${who}${waiting}\n`);
  }
}
