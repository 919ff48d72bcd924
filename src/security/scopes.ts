/**
 * Scopes say what a token may do: `read:T`, `write:T`, `schema:T` on the
 * tables T names (a table, a prefix like `ledger_*`, or `*`), and the
 * global `ops`, `cluster` and `admin`. `admin` implies every other scope.
 * Matching is case-sensitive: `ledger*` does not grant `Ledger`.
 */
import { SluiceError } from '../core/errors.ts';

/** What a table scope allows. */
export type TableAction = 'read' | 'write' | 'schema';
/** Scopes that are not about a table. */
export type GlobalScope = 'ops' | 'cluster' | 'admin';

/** What one request needs: a global scope, or one of `actions` on `table`. */
export type Need = { readonly kind: 'global'; readonly scope: GlobalScope } | { readonly kind: 'table'; readonly actions: readonly TableAction[]; readonly table: string };

const SCOPE_RE = /^(?:(read|write|schema):(\*|[A-Za-z][A-Za-z0-9_]{0,62}\*?)|(ops|cluster|admin))$/;

/** Checks a scope string and returns it; INVALID_ARGUMENT naming the grammar otherwise. */
export function parseScope(scope: string): string {
  if (!SCOPE_RE.test(scope)) {
    throw new SluiceError('INVALID_ARGUMENT', `invalid scope ${JSON.stringify(scope)}: use read:T, write:T or schema:T (T a table, a prefix ending in *, or *), ops, cluster or admin`, [{ path: 'scopes', message: scope }]);
  }
  return scope;
}

/** True when `scopes` grant `need`. */
export function grants(scopes: readonly string[], need: Need): boolean {
  for (const scope of scopes) {
    if (scope === 'admin') return true;
    if (need.kind === 'global') {
      if (scope === need.scope) return true;
      continue;
    }
    const colon = scope.indexOf(':');
    if (colon < 0 || !need.actions.includes(scope.slice(0, colon) as TableAction)) continue;
    if (matchesTable(scope.slice(colon + 1), need.table)) return true;
  }
  return false;
}

/** True when `scopes` hold some `action` scope (on any table): a cheap first check before the table is known. */
export function grantsSomeTable(scopes: readonly string[], action: TableAction): boolean {
  return scopes.some((s) => s === 'admin' || s.startsWith(`${action}:`));
}

/** The scope a message names as missing: `write:payroll`, or `read:t, write:t or schema:t`. */
export function describeNeed(need: Need): string {
  if (need.kind === 'global') return need.scope;
  const names = need.actions.map((a) => `${a}:${need.table}`);
  return names.length === 1 ? (names[0] as string) : `${names.slice(0, -1).join(', ')} or ${names[names.length - 1] as string}`;
}

/** A table need. */
export function tableNeed(action: TableAction | readonly TableAction[], table: string): Need {
  return { kind: 'table', actions: typeof action === 'string' ? [action] : action, table };
}

/** A global need. */
export function globalNeed(scope: GlobalScope): Need {
  return { kind: 'global', scope };
}

function matchesTable(pattern: string, table: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return table.startsWith(pattern.slice(0, -1));
  return pattern === table;
}
