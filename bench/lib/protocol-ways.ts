/**
 * The six ways into a node the protocols benchmark compares: where each
 * posts, with which content type, into which table, and which answer
 * counts as "every record of the batch written" (a fast 400, a 200 with
 * `errors: true` or an OTLP `partialSuccess` is a failure, not throughput).
 */
import { esTableDefinition } from '../../src/api/http/protocols/elasticsearch/index-table.ts';
import { lokiTableDefinition } from '../../src/api/http/protocols/loki/loki-table.ts';
import { otelLogsTableDefinition } from '../../src/api/http/protocols/otlp/otel-logs-table.ts';
import type { BenchLog } from './log-records.ts';
import { esBulkBody, lokiJsonBody, lokiProtobufBody, nativeBody, otlpJsonBody, otlpProtobufBody } from './protocol-bodies.ts';

/** The ways in, in the report's order (native first: the peer). */
export const PROTOCOLS = ['native', 'otlp-protobuf', 'otlp-json', 'es-bulk', 'loki-protobuf', 'loki-json'] as const;
/** One way in. */
export type Protocol = (typeof PROTOCOLS)[number];

/** How the benchmark drives one way in. */
export interface ProtocolWay {
  readonly protocol: Protocol;
  /** For the report. */
  readonly label: string;
  readonly path: string;
  readonly contentType: string;
  /** The table its records land in (Loki's two encodings share the node's one Loki table). */
  readonly table: string;
  /** The table's definition, created before the clock starts so no load pays for it. */
  readonly definition: { readonly name: string } & Record<string, unknown>;
  /** The body of one batch. */
  encode(logs: readonly BenchLog[]): Buffer;
  /** Undefined when the answer says all `records` were written; else what is wrong with it. */
  refusal(status: number, text: string, records: number): string | undefined;
}

const NATIVE_TABLE = 'bench_logs';
const OTLP_TABLE = 'otel_logs';
const OTLP_JSON_TABLE = 'otel_logs_json';
const ES_TABLE = 'es_bench_logs';
const LOKI_TABLE = 'loki_logs';

function expectStatus(status: number, want: number, text: string): string | undefined {
  return status === want ? undefined : `HTTP ${status}: ${text.slice(0, 300)}`;
}

/** The six ways, by protocol. */
export const WAYS: Readonly<Record<Protocol, ProtocolWay>> = {
  native: {
    protocol: 'native',
    label: 'native NDJSON (`POST /v1/tables/{t}/records`)',
    path: `/v1/tables/${NATIVE_TABLE}/records`,
    contentType: 'application/x-ndjson',
    table: NATIVE_TABLE,
    definition: otelLogsTableDefinition(NATIVE_TABLE),
    encode: nativeBody,
    refusal: (status, text, records) => expectStatus(status, 200, text) ?? (text.startsWith(`{"written":${records},`) && !text.includes('"rejected"') ? undefined : `not all written: ${text.slice(0, 300)}`),
  },
  'otlp-protobuf': {
    protocol: 'otlp-protobuf',
    label: 'OTLP/HTTP protobuf (`POST /v1/logs`)',
    path: '/v1/logs',
    contentType: 'application/x-protobuf',
    table: OTLP_TABLE,
    definition: otelLogsTableDefinition(OTLP_TABLE),
    encode: otlpProtobufBody,
    // An empty ExportLogsServiceResponse is zero bytes; a partialSuccess is not.
    refusal: (status, text) => expectStatus(status, 200, text) ?? (text.length === 0 ? undefined : `partial success: ${JSON.stringify(text.slice(0, 300))}`),
  },
  'otlp-json': {
    protocol: 'otlp-json',
    label: `OTLP/HTTP JSON (\`POST /otlp/${OTLP_JSON_TABLE}/v1/logs\`)`,
    path: `/otlp/${OTLP_JSON_TABLE}/v1/logs`,
    contentType: 'application/json',
    table: OTLP_JSON_TABLE,
    definition: otelLogsTableDefinition(OTLP_JSON_TABLE),
    encode: otlpJsonBody,
    refusal: (status, text) => expectStatus(status, 200, text) ?? (text.trim() === '{}' ? undefined : `partial success: ${text.slice(0, 300)}`),
  },
  'es-bulk': {
    protocol: 'es-bulk',
    label: 'Elasticsearch `_bulk`',
    path: '/_bulk',
    contentType: 'application/x-ndjson',
    table: ES_TABLE,
    definition: esTableDefinition(ES_TABLE),
    encode: esBulkBody,
    refusal: (status, text) => expectStatus(status, 200, text) ?? (text.includes('"errors":false,') ? undefined : `item errors: ${text.slice(0, 300)}`),
  },
  'loki-protobuf': {
    protocol: 'loki-protobuf',
    label: 'Loki push, protobuf + snappy',
    path: '/loki/api/v1/push',
    contentType: 'application/x-protobuf',
    table: LOKI_TABLE,
    definition: lokiTableDefinition(LOKI_TABLE),
    encode: lokiProtobufBody,
    refusal: (status, text) => expectStatus(status, 204, text),
  },
  'loki-json': {
    protocol: 'loki-json',
    label: 'Loki push, JSON',
    path: '/loki/api/v1/push',
    contentType: 'application/json',
    table: LOKI_TABLE,
    definition: lokiTableDefinition(LOKI_TABLE),
    encode: lokiJsonBody,
    refusal: (status, text) => expectStatus(status, 204, text),
  },
};

/** The order of the ways in run `run`: rotated by one per run, so no way always goes first (emptiest indexes, coolest machine). */
export function rotation(run: number, ways: readonly Protocol[] = PROTOCOLS): Protocol[] {
  const n = ways.length;
  return Array.from({ length: n }, (_, k) => ways[(run + k) % n] as Protocol);
}

/** The ways named in `list` (comma-separated), the native peer always among them; all when `list` is empty. */
export function parseWays(list: string): Protocol[] {
  if (list.trim() === '') return [...PROTOCOLS];
  const named = list.split(',').map((s) => s.trim());
  for (const w of named) if (!(PROTOCOLS as readonly string[]).includes(w)) throw new Error(`protocols bench: unknown way "${w}" (one of ${PROTOCOLS.join(', ')})`);
  return PROTOCOLS.filter((p) => p === 'native' || named.includes(p));
}
