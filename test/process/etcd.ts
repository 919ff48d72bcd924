/**
 * Test launcher for a real single-member etcd (Debian's etcd-server 3.4):
 * free loopback ports, its own data dir, killed by PID when the test ends.
 * With `tls`, clients talk HTTPS and (by default) must show a certificate
 * of its CA; health is then probed on a plain-HTTP metrics listener, which
 * serves /health and /metrics only.
 */
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { tempDir } from '../support/temp-dir.ts';
import { spawnOwned } from './owned-spawn.ts';

/** Path of the etcd binary (`npm test` installs etcd-server when it is missing). */
export const ETCD_BIN = process.env['SLUICE_ETCD_BIN'] ?? '/usr/bin/etcd';

/** Ports this process has handed out: the OS may offer a just-released port again at once. */
const handedOut = new Set<number>();

/**
 * A free TCP port on 127.0.0.1, never one this process handed out before
 * (it is released before return, so another process could still take it;
 * good enough for tests).
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await probePort();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

function probePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Files of etcd's client-facing TLS (PEM paths). */
export interface EtcdTlsFiles {
  /** The CA clients' certificates must chain to (`--trusted-ca-file`). */
  readonly ca: string;
  /** etcd's server certificate and key (`--cert-file`, `--key-file`). */
  readonly cert: string;
  readonly key: string;
  /** Require a client certificate (`--client-cert-auth`). @default true */
  readonly clientCertAuth?: boolean;
}

/** What a test can ask of its etcd. */
export interface EtcdOptions {
  /** Serve clients over HTTPS with these files (default: plain HTTP). */
  readonly tls?: EtcdTlsFiles;
}

/** One running etcd member. */
export class EtcdProcess {
  child: ChildProcess;
  readonly clientUrl: string;
  /** Where /health answers (the client URL, or the metrics listener under TLS). */
  private readonly healthUrl: string;
  private readonly args: readonly string[];
  stderr = '';

  private constructor(args: readonly string[], clientUrl: string, healthUrl: string = clientUrl) {
    this.args = args;
    this.clientUrl = clientUrl;
    this.healthUrl = healthUrl;
    this.child = this.spawn();
  }

  private spawn(): ChildProcess {
    const child = spawnOwned(ETCD_BIN, this.args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      // etcd logs to stderr; keep the tail for failure messages.
      this.stderr = (this.stderr + chunk).slice(-20_000);
    });
    return child;
  }

  /** Starts the same member again (same data dir and ports) after a kill, and waits until it serves. */
  async restart(): Promise<void> {
    await this.kill();
    this.child = this.spawn();
    await this.ready();
  }

  /** Starts etcd and waits until it serves; SIGKILLed when the owner ends. */
  static async start(owner: { after: (fn: () => Promise<void> | void) => void }, options: EtcdOptions = {}): Promise<EtcdProcess> {
    const dir = tempDir(owner, 'sluice-etcd-');
    const clientPort = await freePort();
    const peerPort = await freePort();
    const clientUrl = `${options.tls === undefined ? 'http' : 'https'}://127.0.0.1:${clientPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const metricsUrl = options.tls === undefined ? undefined : `http://127.0.0.1:${await freePort()}`;
    const etcd = new EtcdProcess(
      [
        '--name',
        'test',
        '--data-dir',
        path.join(dir, 'data'),
        '--listen-client-urls',
        clientUrl,
        '--advertise-client-urls',
        clientUrl,
        '--listen-peer-urls',
        peerUrl,
        '--initial-advertise-peer-urls',
        peerUrl,
        '--initial-cluster',
        `test=${peerUrl}`,
        '--log-level',
        'error',
        ...(options.tls === undefined || metricsUrl === undefined ? [] : tlsArgs(options.tls, metricsUrl)),
      ],
      clientUrl,
      metricsUrl,
    );
    owner.after(() => etcd.kill());
    await etcd.ready();
    return etcd;
  }

  /** Resolves once `/health` answers healthy. */
  async ready(timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`etcd exited ${this.child.exitCode}: ${this.stderr}`);
      try {
        const res = await fetch(`${this.healthUrl}/health`);
        if (res.ok && ((await res.json()) as { health?: string }).health === 'true') return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`etcd not healthy within ${timeoutMs} ms: ${this.stderr}`);
  }

  /** Sends a signal and waits for the exit (SIGKILL by default). */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill(signal);
    await exited;
  }
}

/** etcd's flags for HTTPS clients with `files`, and a plain-HTTP /health on `metricsUrl`. */
function tlsArgs(files: EtcdTlsFiles, metricsUrl: string): string[] {
  return [
    '--cert-file', files.cert,
    '--key-file', files.key,
    '--trusted-ca-file', files.ca,
    ...(files.clientCertAuth === false ? [] : ['--client-cert-auth']),
    '--listen-metrics-urls', metricsUrl,
  ];
}
