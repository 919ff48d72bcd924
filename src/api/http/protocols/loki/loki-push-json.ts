/**
 * Loki's JSON push body (`Content-Type: application/json`, gzip undone by
 * the body reader):
 *
 *   {"streams": [{"stream": {"app": "capt"},
 *                 "values": [["<ns since epoch, a string>", "<line>", {<structured metadata>}?], …]}, …]}
 *
 * Every shape problem is refused with the JSON pointer of the offending
 * value: Loki answers 400 for the whole push, and so do we.
 */
import { isUtf8 } from 'node:buffer';
import { SluiceError } from '../../../../core/errors.ts';
import { pointerToken } from '../../../../core/schema/violation.ts';
import { JSON_BYTES_PER_CONTAINER_MIN, checkJsonContainers } from '../../../../ingest/formats/json-containers.ts';
import { labelsFromObject } from './loki-labels.ts';
import { NO_METADATA, badPush, timeFromNsString, type LokiEntry, type LokiStream } from './loki-push.ts';

/** Decodes a JSON push of at most `bytesMax` bytes (the body limit; PAYLOAD_TOO_LARGE for one opening too many objects and arrays for it). */
export function decodeJsonPush(body: Uint8Array, bytesMax = Number.POSITIVE_INFINITY): LokiStream[] {
  if (!isUtf8(body)) throw new SluiceError('INVALID_ENCODING', 'the push body is not valid UTF-8');
  checkJsonContainers(body, Math.floor(bytesMax / JSON_BYTES_PER_CONTAINER_MIN));
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch (err) {
    throw new SluiceError('INVALID_JSON', `the push body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!isObject(doc) || !Array.isArray(doc['streams'])) throw badPush('', 'a JSON push is an object {"streams": [...]}');
  return doc['streams'].map((s: unknown, i: number) => streamOf(s, `/streams/${i}`));
}

function streamOf(s: unknown, path: string): LokiStream {
  if (!isObject(s)) throw badPush(path, 'a stream is an object {"stream": {labels}, "values": [...]}');
  const labels = labelsFromObject(s['stream'], `${path}/stream`);
  const values = s['values'];
  if (!Array.isArray(values)) throw badPush(`${path}/values`, 'values is an array of [timestamp, line] or [timestamp, line, {metadata}]');
  return { labels, entries: values.map((v: unknown, j: number) => entryOf(v, `${path}/values/${j}`)) };
}

function entryOf(v: unknown, path: string): LokiEntry {
  if (!Array.isArray(v) || v.length < 2 || v.length > 3) throw badPush(path, 'an entry is [timestamp, line] or [timestamp, line, {metadata}]');
  const line: unknown = v[1];
  if (typeof line !== 'string') throw badPush(`${path}/1`, 'the log line is a string');
  const { tsNs, tsMs } = timeFromNsString(v[0], `${path}/0`);
  return { tsNs, tsMs, line, metadata: metadataOf(v[2], `${path}/2`) };
}

function metadataOf(m: unknown, path: string): Readonly<Record<string, string>> {
  if (m === undefined) return NO_METADATA;
  if (!isObject(m)) throw badPush(path, 'structured metadata is an object of names to string values');
  for (const [name, value] of Object.entries(m)) {
    if (typeof value !== 'string') throw badPush(`${path}/${pointerToken(name)}`, 'structured metadata values are strings');
  }
  return m as Record<string, string>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
