/** The generator's HTTP/1.1 answer parser: whole and partial answers, chunked bodies, Retry-After, Connection: close, garbage. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseReply } from '../../src/loadgen/http-connection.ts';

const b = (s: string): Buffer => Buffer.from(s, 'utf8');

test('a Content-Length answer parses once every byte is there', () => {
  const whole = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{"written":1}';
  for (let cut = 0; cut < whole.length; cut++) assert.equal(parseReply(b(whole.slice(0, cut))), undefined, `cut at ${cut}`);
  assert.deepEqual(parseReply(b(whole)), { status: 200, retryAfterS: undefined, close: false, body: '{"written":1}' });
});

test('a 429 carries Retry-After, and Connection: close is seen whatever the case', () => {
  const r = parseReply(b('HTTP/1.1 429 Too Many Requests\r\nretry-after: 2\r\nCONNECTION: close\r\ncontent-length: 2\r\n\r\n{}'));
  assert.deepEqual(r, { status: 429, retryAfterS: 2, close: true, body: '{}' });
});

test('a chunked body is joined, and waited for until its last chunk', () => {
  const head = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
  assert.equal(parseReply(b(`${head}5\r\nhello\r\n`)), undefined);
  assert.equal(parseReply(b(`${head}5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`))?.body, 'hello world');
});

test('a body in UTF-8 is counted in bytes', () => {
  const body = '{"m":"é"}';
  const r = parseReply(b(`HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`));
  assert.equal(r?.body, body);
});

test('bytes that are not HTTP are null, not waited on forever', () => {
  assert.equal(parseReply(b('SSH-2.0-OpenSSH\r\n\r\n')), null);
  assert.equal(parseReply(Buffer.alloc(70 * 1024, 'x')), null, 'no header end within 64 KiB');
});
