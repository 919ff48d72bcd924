/**
 * The CLI's HTTP client: JSON requests to a node with sluice's error body
 * turned into one readable line.
 */
import { CliError } from './cli-error.ts';
import { authHeaders } from './client-auth.ts';

/** Default node URL: $SLUICE_URL or the local default. */
export const DEFAULT_URL = process.env['SLUICE_URL'] ?? 'http://127.0.0.1:8080';

/** A sluice error answer. */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly details?: readonly { index?: number; path?: string; message: string }[] };
}

/** Sends a request and returns the parsed JSON answer, or throws a CliError naming the code. */
export async function requestJson(url: string, init: RequestInit = {}): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, headers: { ...authHeaders(), ...(init.headers as Record<string, string> | undefined) } });
  } catch (err) {
    throw new CliError(`cannot reach ${new URL(url).origin}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`);
  }
  return answerOf(res.status, await res.text());
}

/** The parsed JSON of a 2xx answer; any other status throws a CliError naming the code. */
export function answerOf(status: number, text: string): unknown {
  const body = text.length > 0 ? parseAnswer(text) : undefined;
  const ok = status >= 200 && status <= 299;
  if (!ok) throw new CliError(describeError(status, body ?? text) + (status === 401 ? '\n  (give a token with --token-file, --token or $SLUICE_TOKEN)' : ''), 1, (body as ErrorBody | undefined)?.error?.code);
  return body;
}

/** One line for an error answer, with up to 5 details. */
export function describeError(status: number, body: unknown): string {
  const e = (body as ErrorBody | undefined)?.error;
  if (e === undefined) return `HTTP ${status}: ${String(body).slice(0, 200)}`;
  const details = (e.details ?? [])
    .slice(0, 5)
    .map((d) => `\n  ${d.index === undefined ? '' : `record ${d.index} `}${d.path ?? ''} ${d.message}`)
    .join('');
  return `${e.code} (HTTP ${status}): ${e.message}${details}`;
}

/** An answer body as JSON, or the raw text when it is not JSON. */
export function parseAnswer(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * Waits before retrying a busy node (429/503): its Retry-After in seconds
 * (capped at 5 s, a quarter of it on the first retry), jittered so that
 * clients retrying together spread out.
 */
export function retryPause(attempt: number, retryAfter: string | null): Promise<void> {
  const seconds = Number(retryAfter ?? '1');
  const s = Math.min(Number.isFinite(seconds) && seconds > 0 ? seconds : 1, 5) * (attempt === 0 ? 0.25 : 1);
  return new Promise((resolve) => setTimeout(resolve, s * 1000 * (0.5 + Math.random())));
}
