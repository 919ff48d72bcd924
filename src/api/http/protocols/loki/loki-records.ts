/**
 * A decoded push as the JSON array of records the shared pipeline takes
 * (the same body `POST /v1/tables/{t}/records` would get), so the records
 * go through the same validation, routing and WAL as every other write.
 *
 * A stream's labels are repeated in each of its records (as the shard key
 * and as an object), so a small push of many entries under long labels
 * can expand many times over: the body is bounded by `bytesMax` while it
 * is built, and past it the push is refused (413) before it takes memory.
 */
import { SluiceError } from '../../../../core/errors.ts';
import { canonicalLabels, labelsObject } from './loki-labels.ts';
import { NO_METADATA, type LokiStream } from './loki-push.ts';
import { LOKI_FIELDS as F } from './loki-table.ts';

/** The records of `streams` as a JSON array body, and how many there are (0: nothing to write). */
export function lokiRecordsBody(streams: readonly LokiStream[], bytesMax: number): { body: Buffer; records: number } {
  const parts: string[] = ['['];
  let chars = 1;
  let records = 0;
  for (const stream of streams) {
    if (stream.entries.length === 0) continue;
    // Once per stream: the labels in both forms.
    const head = `{"${F.stream}":${JSON.stringify(canonicalLabels(stream.labels))},"${F.labels}":${JSON.stringify(labelsObject(stream.labels))},"${F.ts}":`;
    for (const e of stream.entries) {
      const metadata = e.metadata === NO_METADATA ? '{}' : JSON.stringify(e.metadata);
      const part = `${records === 0 ? '' : ','}${head}${e.tsMs},"${F.tsNs}":"${e.tsNs}","${F.line}":${JSON.stringify(e.line)},"${F.metadata}":${metadata}}`;
      chars += part.length;
      // UTF-16 length never exceeds UTF-8 bytes, so this stops early; the exact check follows.
      if (chars > bytesMax) throw tooLarge(bytesMax);
      parts.push(part);
      records++;
    }
  }
  parts.push(']');
  const body = Buffer.from(parts.join(''), 'utf8');
  if (body.length > bytesMax) throw tooLarge(bytesMax);
  return { body, records };
}

function tooLarge(bytesMax: number): SluiceError {
  return new SluiceError('PAYLOAD_TOO_LARGE', `the push expands to more than ${bytesMax} bytes of records (each entry repeats its stream's labels): send smaller batches`);
}
