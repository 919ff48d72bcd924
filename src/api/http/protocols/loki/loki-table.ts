/**
 * The table a Loki push lands in (`--loki-table`, default `loki_logs`),
 * created on the first push with this definition (docs/protocols.md):
 *
 *   stream               string     the canonical label string `{app="capt", level="info"}`: the shard key,
 *                                   so one stream's entries live together, ordered by time
 *   labels               json       the same labels as an object
 *   ts                   timestamp  the entry time in epoch ms: the time field
 *   ts_ns                string     the entry time in nanoseconds, exact (a decimal string)
 *   line                 string     the log line
 *   structured_metadata  json       the entry's structured metadata, `{}` when none
 */

/** The definition of the Loki table named `name`, as `POST /v1/tables` takes it. */
export function lokiTableDefinition(name: string): { readonly name: string } & Record<string, unknown> {
  return {
    name,
    shardKey: 'stream',
    timeField: 'ts',
    fields: [
      { name: 'stream', type: 'string', required: true },
      { name: 'labels', type: 'json', required: true },
      { name: 'ts', type: 'timestamp', required: true },
      { name: 'ts_ns', type: 'string', required: true },
      { name: 'line', type: 'string', required: true },
      { name: 'structured_metadata', type: 'json', required: true },
    ],
  };
}

/** The names of the table's fields, for the record builder. */
export const LOKI_FIELDS = { stream: 'stream', labels: 'labels', ts: 'ts', tsNs: 'ts_ns', line: 'line', metadata: 'structured_metadata' } as const;
