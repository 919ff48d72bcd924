/**
 * Test launcher for a real Prometheus server (Debian's `prometheus` 2.42,
 * the package that also brings promtool) scraping sluice nodes every
 * second with a bearer token, as an operator's scrape config would: its own
 * data dir and a free loopback port, killed by PID when the test ends.
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from '../support/temp-dir.ts';
import { freePort } from './etcd.ts';
import { spawnOwned } from './owned-spawn.ts';
import { sleep } from './harness.ts';

/** Path of the prometheus binary (`npm test` installs the package when promtool is missing). */
export const PROMETHEUS_BIN = process.env['SLUICE_PROMETHEUS_BIN'] ?? '/usr/bin/prometheus';

/** What the scrape config names. */
export interface ScrapeTarget {
  readonly job: string;
  /** `host:port` of the nodes' HTTP listeners. */
  readonly targets: readonly string[];
  /** Bearer token sent on every scrape (GET /metrics needs `ops`). */
  readonly token: string;
}

/** One answer of the query API. */
export interface QueryAnswer {
  readonly status: string;
  readonly error?: string;
  readonly warnings?: readonly string[];
  readonly data?: { readonly resultType: string; readonly result: readonly { readonly metric: Record<string, string>; readonly value: [number, string] }[] };
}

/** A running Prometheus. */
export class PrometheusProcess {
  readonly url: string;
  readonly child: ChildProcess;
  stderr = '';

  private constructor(url: string, child: ChildProcess) {
    this.url = url;
    this.child = child;
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
  }

  /** Starts Prometheus scraping `scrape` every second; SIGKILLed when `owner` ends. */
  static async start(owner: { after: (fn: () => Promise<void> | void) => void }, scrape: ScrapeTarget): Promise<PrometheusProcess> {
    const dir = tempDir(owner, 'sluice-prometheus-');
    const tokenFile = path.join(dir, 'token');
    writeFileSync(tokenFile, scrape.token, { mode: 0o600 });
    const config = {
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      scrape_configs: [{ job_name: scrape.job, authorization: { credentials_file: tokenFile }, static_configs: [{ targets: scrape.targets }] }],
    };
    // JSON is YAML.
    writeFileSync(path.join(dir, 'prometheus.yml'), JSON.stringify(config));
    const listen = `127.0.0.1:${await freePort()}`;
    const args = [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=${listen}`, '--log.level=warn'];
    const child = spawnOwned(PROMETHEUS_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const prometheus = new PrometheusProcess(`http://${listen}`, child);
    owner.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    await prometheus.waitReady();
    return prometheus;
  }

  private async waitReady(timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`prometheus exited (${this.child.exitCode}): ${this.stderr}`);
      const ok = await fetch(`${this.url}/-/ready`).then((r) => r.ok, () => false);
      if (ok) return;
      await sleep(50);
    }
    throw new Error(`prometheus was not ready within ${timeoutMs} ms: ${this.stderr}`);
  }

  /** An instant query through the HTTP API. */
  async query(expr: string): Promise<QueryAnswer> {
    const res = await fetch(`${this.url}/api/v1/query`, { method: 'POST', body: new URLSearchParams({ query: expr }) });
    return (await res.json()) as QueryAnswer;
  }

  /** Waits until Prometheus has scraped `job` at or after `sinceMs` (epoch ms). */
  async waitScrapeAfter(job: string, sinceMs: number, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const answer = await this.query(`timestamp(up{job="${job}"})`);
      const times = answer.data?.result.map((r) => Number(r.value[1]) * 1000) ?? [];
      if (times.length > 0 && times.every((t) => t >= sinceMs)) return;
      await sleep(100);
    }
    throw new Error(`prometheus had not scraped job ${job} within ${timeoutMs} ms: ${this.stderr}`);
  }
}
