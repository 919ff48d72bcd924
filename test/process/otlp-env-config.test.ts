/**
 * README's "Point your shippers at sluice", OpenTelemetry part, as a user
 * does it: the OTLP exporter configured by environment variables only
 * (`OTEL_EXPORTER_OTLP_LOGS_ENDPOINT` and a percent-encoded
 * `OTEL_EXPORTER_OTLP_HEADERS`), with a token that has only `write` on
 * `otel_logs` (and `read` to check), writes records that are read back; a
 * token without `write:otel_logs` is refused. One node for the file.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { sdkLogRecords } from '../api/http/protocols/otlp-sdk-records.ts';
import { NodeProcess, http, tempDir } from './harness.ts';

const ENV_KEYS = ['OTEL_EXPORTER_OTLP_LOGS_ENDPOINT', 'OTEL_EXPORTER_OTLP_HEADERS'] as const;

async function token(url: string, name: string, scopes: readonly string[]): Promise<string> {
  const res = await http(`${url}/v1/auth/tokens`, { method: 'POST', body: JSON.stringify({ name, scopes }), headers: { 'content-type': 'application/json' } });
  assert.equal(res.status, 201, res.text);
  return res.body.token as string;
}

/** An exporter built from the README's two variables alone (no constructor options), then the variables restored. */
function exporterFromEnv(endpoint: string, secret: string): OTLPLogExporter {
  const saved = ENV_KEYS.map((k) => process.env[k]);
  process.env['OTEL_EXPORTER_OTLP_LOGS_ENDPOINT'] = endpoint;
  process.env['OTEL_EXPORTER_OTLP_HEADERS'] = `authorization=Bearer%20${secret}`;
  try {
    return new OTLPLogExporter();
  } finally {
    ENV_KEYS.forEach((k, i) => {
      const v = saved[i];
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    });
  }
}

/** Emits `lines` from service `service` through `exporter`; the export's result. */
async function ship(exporter: OTLPLogExporter, service: string, lines: readonly string[]): Promise<ExportResult> {
  const records = await sdkLogRecords(service, (provider) => {
    for (const body of lines) provider.getLogger('readme').emit({ body, timestamp: Date.now() });
  });
  const result = await new Promise<ExportResult>((resolve) => exporter.export(records, resolve));
  await exporter.shutdown();
  return result;
}

test('the README OpenTelemetry configuration: endpoint and percent-encoded bearer header from the environment', async (t) => {
  const node = await NodeProcess.start(t, { dataDir: tempDir(t) });
  const writer = await token(node.url, 'otel-shipper', ['write:otel_logs', 'read:otel_logs']);
  const written = await ship(exporterFromEnv(`${node.url}/v1/logs`, writer), 'readme-svc', ['first line', 'second line']);
  assert.equal(written.code, ExportResultCode.SUCCESS, String(written.error));
  const back = await http(`${node.url}/v1/tables/otel_logs/records?key=readme-svc`, { token: writer });
  assert.equal(back.status, 200, back.text);
  assert.deepEqual((back.body.records as { body: string }[]).map((r) => r.body).sort(), ['first line', 'second line']);

  const other = await token(node.url, 'app-shipper', ['write:app_logs']);
  const refused = await ship(exporterFromEnv(`${node.url}/v1/logs`, other), 'readme-other', ['not mine']);
  assert.equal(refused.code, ExportResultCode.FAILED);
  assert.equal((refused.error as { code?: number } | undefined)?.code, 403, String(refused.error));
  const none = await http(`${node.url}/v1/tables/otel_logs/records?key=readme-other`);
  assert.deepEqual(none.body.records, [], 'nothing written with a token lacking write:otel_logs');
});
