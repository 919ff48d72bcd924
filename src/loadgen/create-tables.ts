/**
 * Creates the bench tables a run writes to, idempotently: a table that
 * already exists with the bench's definition is used as it is.
 */
import type { BenchTable } from './workload/tables.ts';
import { BenchRefused } from './bench-config.ts';

/** POSTs each table's definition to `baseUrl`; an answer other than created or TABLE_EXISTS throws. */
export async function createTables(baseUrl: string, token: string | undefined, tables: readonly BenchTable[]): Promise<void> {
  for (const t of tables) {
    let res: Response;
    try {
      res = await fetch(new URL('/v1/tables', baseUrl), {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
        body: JSON.stringify(t.definition),
      });
    } catch (err) {
      throw new BenchRefused(`cannot reach ${baseUrl}: ${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message}`);
    }
    const text = await res.text();
    if (res.ok || (res.status === 409 && text.includes('"TABLE_EXISTS"'))) continue;
    throw new BenchRefused(`creating table ${t.name}: HTTP ${res.status} ${text.slice(0, 300)}`);
  }
}
