/**
 * expect-continue.ts through a node's own HTTP server and curl: a request
 * that asks `Expect: 100-continue` gets its `100 Continue` only when a
 * route reads its body, so one refused first (no token, too large) is
 * answered before the client sends a byte of it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { resolveConfig } from '../../../src/config.ts';
import { SluiceNode } from '../../../src/sluice-node.ts';
import { tempDir } from '../../process/harness.ts';
import { TEST_TOKEN } from '../../support/auth.ts';
import { rawConnection } from '../../support/raw-connection.ts';

const run = promisify(execFile);
const BODY_BYTES_MAX = 4 * 1024 * 1024;
let node: SluiceNode | undefined;
let base = '';
after(async () => {
  await node?.stop();
});
const dir = tempDir({ after }, 'sluice-expect-');

before(async () => {
  const config = resolveConfig({ dataDir: path.join(dir, 'd'), httpPort: 0, bootstrapToken: TEST_TOKEN, diskFreeBytesMin: 0, auditLog: 'off', bodyBytesMax: BODY_BYTES_MAX, authFailuresPerMinuteMax: 100_000 });
  node = await SluiceNode.start(config, pino({ level: 'silent' }));
  base = node.url;
});

/** curl's own `Expect: 100-continue`: its answer's status, the bytes it uploaded, and whether it was told to continue. */
async function curlPost(url: string, file: string, contentType: string, token?: string): Promise<{ status: number; uploaded: number; continued: boolean }> {
  const args = ['-sS', '-v', '-o', '/dev/null', '-w', '%{http_code} %{size_upload}', '-H', 'Expect: 100-continue', '-H', `content-type: ${contentType}`, '--data-binary', `@${file}`, url];
  if (token !== undefined) args.unshift('-H', `authorization: Bearer ${token}`);
  const { stdout, stderr } = await run(process.env['SLUICE_CURL_BIN'] ?? 'curl', args);
  const [status, uploaded] = stdout.trim().split(' ').map(Number);
  return { status: status as number, uploaded: uploaded as number, continued: /^< HTTP\/1\.1 100 Continue/m.test(stderr) };
}

test('curl posting 2 MiB with Expect: 100-continue: refused requests are answered before the body is sent; accepted ones are told to continue', async () => {
  const line = JSON.stringify({ trace_id: 'expect', msg: 'x'.repeat(150) });
  const lines = Math.ceil((2 * 1024 * 1024) / (line.length + 1));
  const ndjson = path.join(dir, 'body.ndjson');
  writeFileSync(ndjson, `${line}\n`.repeat(lines));
  const csv = path.join(dir, 'body.csv');
  writeFileSync(csv, `trace_id,msg\n${'expect,hello\n'.repeat(150_000)}`);
  const big = path.join(dir, 'big.ndjson');
  writeFileSync(big, `${line}\n`.repeat(Math.ceil((BODY_BYTES_MAX + 1) / (line.length + 1))));

  const noToken = await curlPost(`${base}/ingest`, ndjson, 'application/x-ndjson');
  assert.deepEqual(noToken, { status: 401, uploaded: 0, continued: false }, 'no token: refused before the body');
  const tooLarge = await curlPost(`${base}/ingest`, big, 'application/x-ndjson', TEST_TOKEN);
  assert.deepEqual(tooLarge, { status: 413, uploaded: 0, continued: false }, 'past --body-bytes-max: refused before the body');

  const written = await curlPost(`${base}/ingest`, ndjson, 'application/x-ndjson', TEST_TOKEN);
  assert.deepEqual(written, { status: 200, uploaded: lines * (line.length + 1), continued: true }, 'a write route reads the body');
  const imported = await curlPost(`${base}/v1/tables/events/import`, csv, 'text/csv', TEST_TOKEN);
  assert.equal(imported.status, 200, 'an import spools the body');
  assert.equal(imported.continued, true);
});

test('a raw client waiting for 100 Continue gets the 401 instead, and gets 100 then 200 with a token', async () => {
  const head = (extra: string, length: number): string => `POST /ingest HTTP/1.1\r\nhost: ${new URL(base).host}\r\ncontent-type: application/x-ndjson\r\ncontent-length: ${length}\r\nexpect: 100-continue\r\n${extra}\r\n`;
  const refused = await rawConnection(Number(new URL(base).port));
  refused.socket.write(head('', 3 * 1024 * 1024));
  await refused.closed;
  assert.match(refused.received(), /^HTTP\/1\.1 401 /, refused.received().slice(0, 100));
  assert.doesNotMatch(refused.received(), /100 Continue/);

  const body = `${JSON.stringify({ trace_id: 'raw', msg: 'one' })}\n`;
  const accepted = await rawConnection(Number(new URL(base).port));
  accepted.socket.write(head(`authorization: Bearer ${TEST_TOKEN}\r\n`, Buffer.byteLength(body)));
  for (let i = 0; i < 500 && !accepted.received().includes('100 Continue'); i++) await new Promise((r) => setTimeout(r, 10));
  assert.match(accepted.received(), /^HTTP\/1\.1 100 Continue\r\n\r\n$/, 'the 100 first, nothing else yet');
  accepted.socket.write(body);
  for (let i = 0; i < 500 && !/HTTP\/1\.1 200 /.test(accepted.received()); i++) await new Promise((r) => setTimeout(r, 10));
  assert.match(accepted.received(), /HTTP\/1\.1 200 /);
  accepted.socket.destroy();
});
