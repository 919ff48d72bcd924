/**
 * body-spool.ts on its own: a spool whose first preparation failed (its
 * directory could not be made or emptied) tries again at the next body,
 * instead of failing every import until the process restarts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { BodySpool } from '../../../src/api/http/body-spool.ts';

function requestOf(body: Buffer): IncomingMessage {
  return Object.assign(Readable.from([body]), { headers: { 'content-length': String(body.length) } }) as unknown as IncomingMessage;
}

test('a spool whose directory could not be prepared tries again at the next body', async (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'sluice-spool-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const dir = path.join(root, 'import-spool');
  // Something in the way at the first import (as EMFILE or a leftover the process cannot remove would be).
  writeFileSync(dir, 'in the way');
  const spool = new BodySpool(dir);
  await assert.rejects(spool.write(requestOf(Buffer.from('a\nx\n')), 1024, '.csv'));
  rmSync(dir);
  const body = await spool.write(requestOf(Buffer.from('a\ny\n')), 1024, '.csv').catch((err: unknown) => err);
  assert.ok(!(body instanceof Error), `the spool stays broken after its first failure: ${String(body)}`);
  const spooled = body as { path: string; bytes: number };
  assert.equal(readFileSync(spooled.path, 'utf8'), 'a\ny\n');
  assert.equal(spooled.bytes, 4);
});
