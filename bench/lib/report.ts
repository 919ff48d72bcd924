/** A benchmark report: lines printed as they come and kept for the returned Markdown, plus a scratch dir. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** What a suite writes its report and scratch files with. */
export interface Report {
  /** Scratch directory, removed by `close`. */
  readonly root: string;
  readonly lines: string[];
  /** Prints one line and keeps it. */
  log(line: string): void;
  /** Removes the scratch directory; returns the report. */
  close(): string;
}

/** Starts a report with a fresh scratch directory named `prefix…` under the OS temp dir. */
export function startReport(prefix: string): Report {
  const root = mkdtempSync(path.join(os.tmpdir(), prefix));
  const lines: string[] = [];
  return {
    root,
    lines,
    log: (line) => {
      lines.push(line);
      console.log(line);
    },
    close: () => {
      rmSync(root, { recursive: true, force: true });
      return lines.join('\n');
    },
  };
}
