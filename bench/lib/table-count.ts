/**
 * How many records a table holds, counted through sluice's own export
 * (`GET /v1/tables/{t}/export`, NDJSON, one record a line) as a stream, so
 * a bench can check that what it was told was written did land.
 */
import { request } from 'undici';
import { authHeaders } from '../../test/support/auth.ts';

const NEWLINE = 0x0a;

/** Records of `table` on the node at `url`; 0 when the table does not exist yet. */
export async function exportCount(url: string, table: string): Promise<number> {
  const res = await request(`${url}/v1/tables/${encodeURIComponent(table)}/export`, { headers: authHeaders() });
  if (res.statusCode === 404) {
    await res.body.dump();
    return 0;
  }
  if (res.statusCode !== 200) throw new Error(`export of ${table}: HTTP ${res.statusCode}: ${(await res.body.text()).slice(0, 300)}`);
  let lines = 0;
  for await (const chunk of res.body) {
    const bytes = chunk as Buffer;
    for (let at = bytes.indexOf(NEWLINE); at !== -1; at = bytes.indexOf(NEWLINE, at + 1)) lines++;
  }
  return lines;
}
