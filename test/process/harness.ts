/**
 * Test launcher for real `sluice serve` processes: random port, its own
 * data dir, stdout captured for log assertions, killed by PID on cleanup
 * even when the test fails (nats.js's launcher, minus its leaks).
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnOwned } from './owned-spawn.ts';
import { TEST_TOKEN, cliProcessEnv, serveProcessEnv } from '../support/auth.ts';
import { stopBeforeRemoval } from '../support/temp-dir.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(ROOT, 'bin', 'sluice.js');

export { tempDir } from '../support/temp-dir.ts';
export { TEST_TOKEN, authHeaders, cliProcessEnv, serveProcessEnv } from '../support/auth.ts';

/** Options of one node process. */
export interface NodeProcessOptions {
  readonly dataDir: string;
  /** Extra `sluice serve` flags. */
  readonly args?: readonly string[];
  /** Port to listen on (0: any free one). */
  readonly port?: number;
  /** Extra environment variables (e.g. SLUICE_FAILPOINT); may override SLUICE_BOOTSTRAP_TOKEN. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * The node's SLUICE_BOOTSTRAP_TOKEN (its admin token). @default TEST_TOKEN
   * (unless `env` gives one); null: the variable is not set at all.
   */
  readonly bootstrapToken?: string | null;
}

/** The environment of a `sluice serve` child: ours, the bootstrap token, then `options.env`. */
export function nodeProcessEnv(options: Pick<NodeProcessOptions, 'env' | 'bootstrapToken'> = {}): NodeJS.ProcessEnv {
  const env = serveProcessEnv(options.env);
  if (options.bootstrapToken === null) delete env['SLUICE_BOOTSTRAP_TOKEN'];
  else if (options.bootstrapToken !== undefined) env['SLUICE_BOOTSTRAP_TOKEN'] = options.bootstrapToken;
  return env;
}

/** One running `sluice serve` process. */
export class NodeProcess {
  readonly child: ChildProcess;
  readonly logs: Record<string, unknown>[] = [];
  stderr = '';
  url = '';
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(child: ChildProcess) {
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    let buffered = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        try {
          this.logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          this.logs.push({ raw: line });
        }
      }
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
  }

  /** Starts a node and waits until it is ready; it is SIGKILLed when the test ends if still running. */
  static async start(t: { after: (fn: () => Promise<void> | void) => void }, options: NodeProcessOptions): Promise<NodeProcess> {
    const node = NodeProcess.spawn(options);
    t.after(async () => {
      await node.kill('SIGKILL');
    });
    await node.ready();
    return node;
  }

  /** Spawns without waiting (for tests of start-up failures); killed before a tempDir holding its data dir is removed. */
  static spawn(options: NodeProcessOptions): NodeProcess {
    const args = [BIN, 'serve', '--data-dir', options.dataDir, '--http', `127.0.0.1:${options.port ?? 0}`, ...(options.args ?? [])];
    const env = nodeProcessEnv(options);
    const child = spawnOwned(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
    const node = new NodeProcess(child);
    // Its data dir is usually a tempDir made before this hook-registering call: killed before that dir goes.
    const unregister = stopBeforeRemoval(options.dataDir, () => node.kill('SIGKILL'));
    child.once('exit', unregister);
    return node;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Resolves once the node logs `ready`; rejects if it exits first or takes over `timeoutMs`. */
  async ready(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const listening = this.logs.find((l) => l['event'] === 'listening');
      if (listening !== undefined) this.url = String(listening['url']);
      if (this.logs.some((l) => l['event'] === 'ready')) return;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`sluice exited before ready (code ${this.child.exitCode}): ${this.stderr}\n${JSON.stringify(this.logs.slice(-5))}`);
      }
      await sleep(20);
    }
    throw new Error(`sluice was not ready within ${timeoutMs} ms: ${this.stderr}`);
  }

  /** Waits for the process to exit. */
  waitExit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.exited;
  }

  /** Sends a signal (if still running) and waits for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }

  /** Log lines with `event` equal to `name`. */
  events(name: string): Record<string, unknown>[] {
    return this.logs.filter((l) => l['event'] === name);
  }
}

/** Sleeps `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Request headers with `authorization: Bearer <token>` added (TEST_TOKEN by
 * default), unless `headers` already has an authorization header or `token`
 * is null (an unauthenticated request).
 */
export function withAuth(headers: Readonly<Record<string, string>> = {}, token: string | null = TEST_TOKEN): Record<string, string> {
  if (token === null || Object.keys(headers).some((h) => h.toLowerCase() === 'authorization')) return { ...headers };
  return { authorization: `Bearer ${token}`, ...headers };
}

/**
 * A JSON request to a node: status, parsed body, headers. Sends
 * `authorization: Bearer TEST_TOKEN` unless `headers` has its own
 * authorization header; `token` sends another one, null none.
 */
export async function http(
  url: string,
  init: { method?: string; body?: string | Uint8Array; headers?: Record<string, string>; token?: string | null } = {},
): Promise<{ status: number; body: any; text: string; headers: Headers }> {
  const headers = withAuth(init.headers, init.token === undefined ? TEST_TOKEN : init.token);
  const res = await fetch(url, { method: init.method ?? 'GET', ...(init.body === undefined ? {} : { body: init.body }), headers });
  const text = await res.text();
  let body: unknown;
  try {
    body = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text, headers: res.headers };
}

/**
 * Runs the `sluice` CLI to completion (120 s at most) and returns its exit
 * code and output. It runs with SLUICE_TOKEN=TEST_TOKEN (and `serve` with
 * SLUICE_BOOTSTRAP_TOKEN=TEST_TOKEN); `env` is added last and may override them.
 */
export function runCli(args: readonly string[], input?: string, env: Readonly<Record<string, string>> = {}): { code: number | null; stdout: string; stderr: string } {
  const childEnv = args[0] === 'serve' ? serveProcessEnv(env) : cliProcessEnv(env);
  const res = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: childEnv, ...(input === undefined ? {} : { input }) });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}
