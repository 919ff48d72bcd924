/**
 * Runs a command that writes records one per line to its stdout (curl
 * fetching an NDJSON export, psql running a COPY) and counts the lines as
 * they come, so an export is timed from its start to its last byte by a
 * client written in C on both sides, and a short answer is seen.
 */
import { spawn } from 'node:child_process';

/** What one streamed answer held and took. */
export interface LineCount {
  readonly lines: number;
  readonly bytes: number;
  readonly seconds: number;
}

/** Runs `command` with `args` (and `env` added), counting its stdout's newlines; rejects when it exits non-zero. */
export function countOutputLines(command: string, args: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<LineCount> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let lines = 0;
    let bytes = 0;
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      for (let at = chunk.indexOf(0x0a); at !== -1; at = chunk.indexOf(0x0a, at + 1)) lines++;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr = (stderr + s).slice(-2000);
    });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) reject(new Error(`${command} exited ${code}: ${stderr}`));
      else resolve({ lines, bytes, seconds: (performance.now() - started) / 1000 });
    });
  });
}
