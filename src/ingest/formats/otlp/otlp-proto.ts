/**
 * The OTLP logs messages sluice reads and writes, from the hand-written
 * subset in `proto/opentelemetry/logs-subset.proto`, loaded once with
 * protobufjs reflection (no generated code). Field names are camelCase
 * (protobufjs's default), as in OTLP/JSON.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const PROTO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../proto/opentelemetry/logs-subset.proto');
const PACKAGE = 'opentelemetry.proto.logs.v1';

/** The message types of the subset. */
export interface OtlpTypes {
  readonly request: protobuf.Type;
  readonly response: protobuf.Type;
  readonly status: protobuf.Type;
  readonly errorInfo: protobuf.Type;
}

let loaded: OtlpTypes | undefined;

/** The OTLP message types, parsed on first use. */
export function otlpTypes(): OtlpTypes {
  if (loaded !== undefined) return loaded;
  const root = protobuf.parse(readFileSync(PROTO, 'utf8')).root;
  root.resolveAll();
  const type = (name: string): protobuf.Type => root.lookupType(`${PACKAGE}.${name}`);
  loaded = { request: type('ExportLogsServiceRequest'), response: type('ExportLogsServiceResponse'), status: type('Status'), errorInfo: type('ErrorInfo') };
  return loaded;
}
