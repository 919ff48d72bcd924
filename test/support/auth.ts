/**
 * The token every test and benchmark talks to sluice with. Nodes the
 * harness starts get it as `SLUICE_BOOTSTRAP_TOKEN` (their admin token),
 * CLI runs get it as `SLUICE_TOKEN`, and HTTP and gRPC requests send it as
 * `Authorization: Bearer <token>`.
 */

/** The bootstrap (admin) token of test nodes: ≥ 32 characters. */
export const TEST_TOKEN = 'sluice-test-admin-token-4f1c2a9e7b3d5a60c8e1';

/** The `authorization` header carrying `token`. */
export function authHeaders(token: string = TEST_TOKEN): { authorization: string } {
  return { authorization: `Bearer ${token}` };
}

/**
 * The environment of a sluice CLI child (`bin/sluice.js ingest|query|kafka …`):
 * ours with SLUICE_TOKEN=TEST_TOKEN, then `extra` (which may override it).
 */
export function cliProcessEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  return { ...process.env, SLUICE_TOKEN: TEST_TOKEN, ...extra };
}

/**
 * The environment of a `sluice serve` child: ours with
 * SLUICE_BOOTSTRAP_TOKEN=TEST_TOKEN, then `extra` (which may override it).
 */
export function serveProcessEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  return { ...process.env, SLUICE_BOOTSTRAP_TOKEN: TEST_TOKEN, ...extra };
}
