/**
 * The `logs` group: application logs with nested `attrs`, HTTP access logs,
 * and audit events with a `diff` json holding arrays.
 */
import type { JsonValue } from '../../../core/schema/table-def.ts';
import type { WorkloadParams } from '../params.ts';
import { intBetween, pick, u32, unit } from '../prng.ts';
import { benchTable, type BenchTable } from '../bench-table.ts';

const LEVELS = ['debug', 'info', 'info', 'info', 'info', 'info', 'info', 'info', 'warn', 'error'] as const;
const SERVICES = ['checkout', 'cart', 'search', 'auth', 'billing', 'inventory', 'shipping', 'notifier'] as const;
const VERBS = ['handled', 'retried', 'queued', 'rejected', 'cached', 'loaded', 'flushed', 'expired'] as const;
const OBJECTS = ['request', 'order', 'session', 'token', 'batch', 'invoice', 'profile', 'cart'] as const;
const METHODS = ['GET', 'GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD'] as const;
const ROUTES = ['/api/v1/orders', '/api/v1/users', '/api/v1/carts', '/api/v1/search', '/static/app.js', '/health', '/login', '/api/v2/items'] as const;
const STATUSES = [200, 200, 200, 200, 200, 200, 200, 200, 201, 204, 301, 304, 400, 401, 403, 404, 404, 429, 500, 503] as const;
const AGENTS = [
  'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
  'curl/8.8.0',
  'okhttp/4.12.0',
  'Go-http-client/2.0',
] as const;
const ROLES = ['viewer', 'editor', 'admin', 'billing', 'support', 'ops', 'auditor', 'owner'] as const;
const ACTIONS = ['create', 'update', 'delete', 'grant', 'revoke', 'login', 'logout', 'export'] as const;
const RESOURCE_KINDS = ['project', 'table', 'token', 'user', 'dashboard', 'invoice'] as const;
const ZONES = ['eu-west-1a', 'eu-west-1b', 'us-east-1a', 'us-east-1c'] as const;

/** Two hex digits per byte value: `toString(16)` of a uint32 above 2^31 takes ~250 ns (a double's radix path). */
const HEX_BYTE = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/** A uint32 as 8 hex digits. */
function hex8(w: number): string {
  return (HEX_BYTE[w >>> 24] as string) + (HEX_BYTE[(w >>> 16) & 255] as string) + (HEX_BYTE[(w >>> 8) & 255] as string) + (HEX_BYTE[w & 255] as string);
}

/** 32 hex digits from four draws. */
function traceId(p: WorkloadParams, j: number, s: number): string {
  return hex8(u32(p.seed, s, j)) + hex8(u32(p.seed, s + 1, j)) + hex8(u32(p.seed, s + 2, j)) + hex8(u32(p.seed, s + 3, j));
}

/** The roles whose bits are set in the low 8 bits of `mask`, in ROLES order. */
function rolesOf(mask: number): string[] {
  const roles: string[] = [];
  for (let i = 0; i < ROLES.length; i++) if ((mask >>> i) & 1) roles.push(ROLES[i] as string);
  return roles;
}

/** `attrs` of an app log: two levels, three when a k8s block is drawn. */
function appAttrs(p: WorkloadParams, j: number, s: number): JsonValue {
  const w = u32(p.seed, s, j);
  const attrs: { [k: string]: JsonValue } = {
    http: { method: METHODS[w & 7] as string, route: ROUTES[(w >>> 3) & 7] as string, status: STATUSES[(w >>> 6) % STATUSES.length] as number },
    user: { id: `u-${(w >>> 11) & 0x1fff}`, roles: rolesOf(w >>> 24) },
  };
  if (unit(p.seed, s + 1, j) < 0.5) {
    attrs.k8s = { ns: pick(SERVICES, p.seed, s + 2, j), node: { name: `node-${intBetween(p.seed, s + 3, j, 1, 64)}`, zone: pick(ZONES, p.seed, s + 4, j) } };
  }
  return attrs;
}

/** `diff` of an audit event: before and after states with role arrays, and the changed keys. */
function auditDiff(p: WorkloadParams, j: number, s: number): JsonValue {
  const w = u32(p.seed, s, j);
  const before = { roles: rolesOf(w & 0xff), quota: intBetween(p.seed, s + 1, j, 0, 100) * 10 };
  const after = { roles: rolesOf((w >>> 8) & 0xff), quota: (w >>> 16) & 1 ? before.quota : intBetween(p.seed, s + 2, j, 0, 100) * 10 };
  const changed: string[] = [];
  if (before.roles.join() !== after.roles.join()) changed.push('roles');
  if (before.quota !== after.quota) changed.push('quota');
  return { before, after, changed };
}

/** `logs.app`: level, service, message, trace id, nested `attrs`. */
export const LOGS_APP: BenchTable = benchTable({
  group: 'logs',
  kind: 'app',
  shardKey: 'pod',
  keyPrefix: 'pod-',
  payload: [
    { name: 'level', type: 'string', required: true, gen: (p, j, s) => pick(LEVELS, p.seed, s, j) },
    { name: 'service', type: 'string', required: true, gen: (p, j, s) => pick(SERVICES, p.seed, s, j) },
    {
      name: 'message',
      type: 'string',
      required: true,
      gen: (p, j, s) => `${pick(VERBS, p.seed, s, j)} ${pick(OBJECTS, p.seed, s + 1, j)} ${intBetween(p.seed, s + 2, j, 1, 999_999)} in ${intBetween(p.seed, s + 3, j, 0, 5000)} ms`,
    },
    { name: 'trace_id', type: 'string', required: false, gen: traceId },
    { name: 'attrs', type: 'json', required: false, gen: appAttrs },
  ],
});

/** `logs.access`: an HTTP access log line, as fields. */
export const LOGS_ACCESS: BenchTable = benchTable({
  group: 'logs',
  kind: 'access',
  shardKey: 'server',
  keyPrefix: 'edge-',
  payload: [
    { name: 'method', type: 'string', required: true, gen: (p, j, s) => pick(METHODS, p.seed, s, j) },
    { name: 'path', type: 'string', required: true, gen: (p, j, s) => `${pick(ROUTES, p.seed, s, j)}/${intBetween(p.seed, s + 1, j, 1, 99_999)}` },
    { name: 'status', type: 'int', required: true, gen: (p, j, s) => pick(STATUSES, p.seed, s, j) },
    { name: 'bytes', type: 'int', required: true, gen: (p, j, s) => intBetween(p.seed, s, j, 0, 2_000_000) },
    { name: 'duration_ms', type: 'float', required: true, gen: (p, j, s) => intBetween(p.seed, s, j, 1, 3_000_000) / 1000 },
    {
      name: 'client_ip',
      type: 'string',
      required: true,
      gen: (p, j, s) => {
        const w = u32(p.seed, s, j);
        return `${(w >>> 24) & 255}.${(w >>> 16) & 255}.${(w >>> 8) & 255}.${w & 255}`;
      },
    },
    { name: 'user_agent', type: 'string', required: false, gen: (p, j, s) => pick(AGENTS, p.seed, s, j) },
  ],
});

/** `logs.audit`: who did what to which resource, with a `diff` json of arrays. */
export const LOGS_AUDIT: BenchTable = benchTable({
  group: 'logs',
  kind: 'audit',
  shardKey: 'actor',
  keyPrefix: 'user-',
  payload: [
    { name: 'action', type: 'string', required: true, gen: (p, j, s) => pick(ACTIONS, p.seed, s, j) },
    { name: 'resource', type: 'string', required: true, gen: (p, j, s) => `${pick(RESOURCE_KINDS, p.seed, s, j)}/${intBetween(p.seed, s + 1, j, 1, 99_999)}` },
    { name: 'success', type: 'bool', required: true, gen: (p, j, s) => unit(p.seed, s, j) < 0.97 },
    { name: 'diff', type: 'json', required: false, gen: auditDiff },
  ],
});
