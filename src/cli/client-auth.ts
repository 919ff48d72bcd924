/**
 * The bearer token the CLI sends: `--token`, `--token-file`, `$SLUICE_TOKEN`
 * or `$SLUICE_TOKEN_FILE`, in that order; against the default local node,
 * `./sluice-data/admin.token` (the token its first start wrote) when none
 * is given. Resolved once before a command runs.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_CONFIG } from '../config.ts';
import { CliError } from './cli-error.ts';

/** The options every client command accepts (set on the program). */
export interface TokenOptions {
  readonly token?: string;
  readonly tokenFile?: string;
}

let current: string | undefined;

/** Resolves the token for a command talking to `url` (see the file comment). */
export function resolveClientToken(o: TokenOptions, url: string | undefined, defaultUrl: string): void {
  current = o.token ?? readTokenFile(o.tokenFile, '--token-file') ?? nonEmpty(process.env['SLUICE_TOKEN']) ?? readTokenFile(nonEmpty(process.env['SLUICE_TOKEN_FILE']), '$SLUICE_TOKEN_FILE');
  if (current === undefined && (url === undefined || url === defaultUrl)) {
    const local = path.join(DEFAULT_CONFIG.dataDir, 'admin.token');
    if (existsSync(local)) current = readTokenFile(local, local);
  }
}

/** The resolved token, if one is known (for clients that write their own headers). */
export function clientToken(): string | undefined {
  return current;
}

/** The Authorization header to send, if a token is known. */
export function authHeaders(): Record<string, string> {
  return current === undefined ? {} : { authorization: `Bearer ${current}` };
}

function readTokenFile(file: string | undefined, what: string): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new CliError(`cannot read the token from ${what} (${file}): ${(err as Error).message}`, 2);
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
