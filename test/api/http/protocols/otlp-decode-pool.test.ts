/**
 * The OTLP decode pool: a body decoded in a worker thread gives the same
 * records JSON, positions and refusals as inline, and a malformed body's
 * coded error crosses the thread as the same SluiceError.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JsonLogsSerializer, ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import { isSluiceError } from '../../../../src/core/errors.ts';
import { OtlpDecodePool } from '../../../../src/api/http/protocols/otlp/otlp-decode-pool.ts';
import { sdkLogRecords } from './otlp-sdk-records.ts';

const NOW_MS = 1_800_000_000_000;

test('worker and inline decoding agree; errors keep their code', async (t) => {
  const inWorker = new OtlpDecodePool({ threads: 1, workerBodyBytesMin: 0, workerHeapMbMax: 64, idleTimeoutMs: 1000 });
  const inline = new OtlpDecodePool({ threads: 0, workerBodyBytesMin: 0, workerHeapMbMax: 64, idleTimeoutMs: 1000 });
  t.after(() => inWorker.close());
  const sdk = await sdkLogRecords();
  const bad = JSON.parse(new TextDecoder().decode(JsonLogsSerializer.serializeRequest(sdk) as Uint8Array));
  bad.resourceLogs[0].scopeLogs[0].logRecords[1].traceId = 'not-hex';
  const bodies = [
    { encoding: 'protobuf' as const, bytes: () => Buffer.from(ProtobufLogsSerializer.serializeRequest(sdk) as Uint8Array) },
    { encoding: 'json' as const, bytes: () => Buffer.from(JSON.stringify(bad)) },
  ];
  for (const { encoding, bytes } of bodies) {
    const a = await inWorker.decode({ body: bytes(), encoding, depthMax: 32, nowMs: NOW_MS });
    const b = await inline.decode({ body: bytes(), encoding, depthMax: 32, nowMs: NOW_MS });
    assert.deepEqual(JSON.parse(Buffer.from(a.json).toString()), JSON.parse(Buffer.from(b.json).toString()));
    assert.deepEqual([...a.positions], [...b.positions]);
    assert.deepEqual(a.rejected, b.rejected);
    assert.equal(a.total, 3);
  }
  const refused = await inWorker.decode({ body: Buffer.from('not protobuf at all'), encoding: 'protobuf', depthMax: 32, nowMs: NOW_MS }).then(
    () => undefined,
    (err: unknown) => err,
  );
  assert.ok(isSluiceError(refused, 'INVALID_PROTOBUF') && refused.status === 400, String(refused));
  await inWorker.close();
  await inWorker.close();
});
