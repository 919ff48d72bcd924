/**
 * PostgreSQL as the bulk-ingest peer (issue 16): Debian's package, started
 * by the bench on loopback with its own data directory, fsync on and every
 * other setting at its default, as a new user would run it. The same
 * payment records go in as multi-row INSERTs of 1,000 rows over 4
 * connections, each statement its own transaction (committed, so fsync'd,
 * before the next), into either
 * - `indexed`: a bigserial primary key and an index on (account_id, ts),
 *   the lookups sluice serves (by key, by shard key and time), or
 * - `heap`: the same columns, no key, no index.
 *
 * PostgreSQL refuses to run as root: the server runs as the `postgres`
 * user the package creates, with a password (scram) even on loopback.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { aptInstall } from './debian-package.ts';
import { countOutputLines, type LineCount } from './line-count.ts';

/** What one pgbench run measured. */
export interface PgbenchResult {
  readonly tps: number;
  readonly latencyMs: number;
  /** CPU seconds of every server process during the run. */
  readonly serverCpuSeconds: number;
}

/** Which table the peer loads. */
export type PeerTable = 'indexed' | 'heap';

/** What one load into PostgreSQL took. */
export interface PeerLoad {
  readonly records: number;
  readonly seconds: number;
  /** CPU seconds of every server process (postmaster, backends, WAL writer, checkpointer) during the load. */
  readonly serverCpuSeconds: number;
}

/** One parsed payment record as the peer stores it. */
export interface PeerRecord {
  readonly account_id: string;
  readonly txn_id: string;
  readonly amount: string;
  readonly currency: string;
  readonly ts: number;
  readonly memo?: string;
}

const COLUMNS = ['account_id', 'txn_id', 'amount', 'currency', 'ts', 'memo'] as const;

/** The bin directory of the newest PostgreSQL Debian installed, installing the package when there is none; undefined when it cannot. */
export function ensurePostgres(): string | undefined {
  const found = postgresBinDir();
  if (found !== undefined) return found;
  aptInstall('postgresql');
  return postgresBinDir();
}

function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(path.join(root, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : path.join(root, versions[0], 'bin');
}

/** The uid and gid of the `postgres` user, or undefined when this process is not root (then it runs the server itself). */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid === 0) throw new Error('PostgreSQL cannot run as root and there is no postgres user: install the postgresql package');
  return { uid, gid };
}

/** A running PostgreSQL server of the bench's own. */
export class PostgresPeer {
  private readonly child: ChildProcess;
  readonly port: number;
  private readonly password: string;
  private readonly dir: string;
  private readonly binDir: string;

  private constructor(child: ChildProcess, port: number, password: string, dir: string, binDir: string) {
    this.child = child;
    this.port = port;
    this.password = password;
    this.dir = dir;
    this.binDir = binDir;
  }

  /**
   * initdb into a directory of its own under the system's temporary
   * directory (the postgres user must reach it, so not under a root-only
   * one) and start the server on 127.0.0.1:`port`; resolves once it takes
   * connections. stop() removes the directory.
   */
  static async start(binDir: string, port: number): Promise<PostgresPeer> {
    const user = serverUser();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-pg-'));
    const data = path.join(dir, 'data');
    const sockets = path.join(dir, 'sockets');
    mkdirSync(sockets, { recursive: true });
    const password = randomBytes(18).toString('base64url');
    const pwfile = path.join(dir, 'pwfile');
    writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    if (user !== undefined) for (const p of [dir, sockets, pwfile]) chownSync(p, user.uid, user.gid);
    const as = user === undefined ? {} : { uid: user.uid, gid: user.gid };
    const init = spawnSync(path.join(binDir, 'initdb'), ['-D', data, '-U', 'bench', '--pwfile', pwfile, '--auth', 'scram-sha-256', '--encoding', 'UTF8', '--locale', 'C'], { encoding: 'utf8', ...as });
    if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
    const args = ['-D', data, '-p', String(port), '-k', sockets, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=on', '-c', 'synchronous_commit=on'];
    const child = spawn(path.join(binDir, 'postgres'), args, { stdio: ['ignore', 'ignore', 'pipe'], ...as });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      stderr = (stderr + s).slice(-4000);
    });
    const peer = new PostgresPeer(child, port, password, dir, binDir);
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const c = peer.client();
        await c.connect();
        await c.end();
        return peer;
      } catch (err) {
        if (child.exitCode !== null || Date.now() > deadline) {
          child.kill('SIGKILL');
          rmSync(dir, { recursive: true, force: true });
          throw new Error(`PostgreSQL did not start: ${(err as Error).message}; ${stderr}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private client(): pg.Client {
    return new pg.Client({ host: '127.0.0.1', port: this.port, user: 'bench', password: this.password, database: 'postgres' });
  }

  /** Creates `table` afresh (dropping an earlier one). */
  async createTable(table: PeerTable): Promise<void> {
    const c = this.client();
    await c.connect();
    try {
      await c.query(`DROP TABLE IF EXISTS ${table}`);
      const key = table === 'indexed' ? 'id bigserial PRIMARY KEY, ' : '';
      await c.query(`CREATE TABLE ${table} (${key}account_id text NOT NULL, txn_id text NOT NULL, amount numeric NOT NULL, currency text NOT NULL, ts timestamptz NOT NULL, memo text)`);
      if (table === 'indexed') await c.query(`CREATE INDEX ${table}_account_ts ON ${table} (account_id, ts)`);
    } finally {
      await c.end();
    }
  }

  /** Inserts `records` into `table`, `perStatement` rows per INSERT, over `connections` connections; every statement commits. */
  async load(table: PeerTable, records: readonly PeerRecord[], perStatement: number, connections: number): Promise<PeerLoad> {
    const clients = Array.from({ length: connections }, () => this.client());
    await Promise.all(clients.map((c) => c.connect()));
    try {
      // Statements are prepared before the clock starts, as the sluice load's bodies are.
      const statements: { text: string; values: unknown[] }[] = [];
      for (let first = 0; first < records.length; first += perStatement) statements.push(insert(table, records.slice(first, first + perStatement)));
      let next = 0;
      const cpu0 = this.serverCpuSeconds();
      const started = performance.now();
      await Promise.all(
        clients.map(async (c) => {
          for (let s = next++; s < statements.length; s = next++) {
            const st = statements[s] as { text: string; values: unknown[] };
            await c.query(st.text, st.values);
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      return { records: records.length, seconds, serverCpuSeconds: this.serverCpuSeconds() - cpu0 };
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  }

  /** Rows in `table`. */
  async count(table: PeerTable): Promise<number> {
    const c = this.client();
    await c.connect();
    try {
      const res = await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
      return Number(res.rows[0]?.n);
    } finally {
      await c.end();
    }
  }

  /** VACUUM ANALYZE `table`, as after any bulk load: sets its hint bits and visibility map so reads do not write, and plans with statistics. */
  async vacuum(table: PeerTable): Promise<void> {
    const c = this.client();
    await c.connect();
    try {
      await c.query(`VACUUM ANALYZE ${table}`);
    } finally {
      await c.end();
    }
  }

  /**
   * Runs `script` (pgbench's format: `\set` lines, then one SQL statement)
   * as prepared statements over `connections` connections from one client
   * thread for `seconds` (pgbench is C, like the wrk that loads sluice).
   * Throws when a transaction failed.
   */
  async pgbench(script: string, connections: number, seconds: number): Promise<PgbenchResult> {
    const file = path.join(this.dir, 'pgbench.sql');
    writeFileSync(file, script);
    const args = ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'bench', '-n', '-M', 'prepared', '-c', String(connections), '-j', '1', '-T', String(seconds), '-f', file, 'postgres'];
    const cpu0 = this.serverCpuSeconds();
    const run = spawnSync(path.join(this.binDir, 'pgbench'), args, { encoding: 'utf8', env: { ...process.env, PGPASSWORD: this.password } });
    await this.backendsReaped();
    const serverCpuSeconds = this.serverCpuSeconds() - cpu0;
    const tps = Number(/tps = ([0-9.]+) \(without initial connection time\)/.exec(run.stdout)?.[1]);
    const failed = Number(/number of failed transactions: (\d+)/.exec(run.stdout)?.[1] ?? 0);
    if (run.status !== 0 || !Number.isFinite(tps) || failed > 0) throw new Error(`pgbench failed (${run.status}, ${failed} failed): ${run.stderr}${run.stdout}`);
    const latencyMs = Number(/latency average = ([0-9.]+) ms/.exec(run.stdout)?.[1]);
    return { tps, latencyMs, serverCpuSeconds };
  }

  /** Streams `table` out as one JSON object per row (`COPY (SELECT row_to_json …) TO STDOUT` through psql), with the server's CPU. */
  async exportJsonLines(table: PeerTable): Promise<LineCount & { serverCpuSeconds: number }> {
    const cpu0 = this.serverCpuSeconds();
    const sql = `COPY (SELECT row_to_json(t) FROM ${table} t) TO STDOUT`;
    const out = await countOutputLines(path.join(this.binDir, 'psql'), ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'bench', '-d', 'postgres', '-X', '-q', '-c', sql], { PGPASSWORD: this.password });
    await this.backendsReaped();
    return { ...out, serverCpuSeconds: this.serverCpuSeconds() - cpu0 };
  }

  /** Waits until the postmaster has no more children than its background processes: a client's backend counts in its CPU once reaped. */
  private async backendsReaped(): Promise<void> {
    const pid = this.child.pid;
    if (pid === undefined) return;
    const deadline = Date.now() + 5_000;
    while (childrenOf(pid).some((c) => isBackend(c)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  /** User + system CPU seconds of the postmaster and every process it started, living or exited (cutime/cstime). */
  serverCpuSeconds(): number {
    const pid = this.child.pid;
    if (pid === undefined) return 0;
    let ticks = procTicks(pid, true);
    for (const child of childrenOf(pid)) ticks += procTicks(child, false);
    return ticks / 100;
  }

  /** Stops the server (fast shutdown), waiting for it to exit, and removes its directory. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGINT');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One multi-row INSERT of `rows`, as parameters. */
function insert(table: PeerTable, rows: readonly PeerRecord[]): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  const tuples: string[] = [];
  for (const r of rows) {
    const at = values.length;
    values.push(r.account_id, r.txn_id, r.amount, r.currency, new Date(r.ts), r.memo ?? null);
    tuples.push(`(${COLUMNS.map((_, i) => `$${at + i + 1}`).join(',')})`);
  }
  return { text: `INSERT INTO ${table} (${COLUMNS.join(',')}) VALUES ${tuples.join(',')}`, values };
}

/** utime + stime of `pid`, plus its reaped children's when `withChildren` (clock ticks). */
function procTicks(pid: number, withChildren: boolean): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    const own = Number(f[11]) + Number(f[12]);
    return withChildren ? own + Number(f[13]) + Number(f[14]) : own;
  } catch {
    return 0;
  }
}

/** True when `pid` is a client's backend (its title names the user and database), not a background process. */
function isBackend(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('bench postgres');
  } catch {
    return false;
  }
}

/** Living children of `pid` (the backends and background workers). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((s) => s !== '').map(Number);
  } catch {
    return [];
  }
}
