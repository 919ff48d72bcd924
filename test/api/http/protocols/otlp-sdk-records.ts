/**
 * Log records made by the real OpenTelemetry JS SDK (no exporter, no
 * network): what the unit tests feed the SDK's own OTLP serializers, so
 * the decoders are checked against the bytes real clients send.
 */
import { ROOT_CONTEXT, SeverityNumber, TraceFlags, trace } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor, type LogRecordProcessor, type ReadableLogRecord } from '@opentelemetry/sdk-logs';

/** The trace and span ids the records carry (upper case in, lower case stored). */
export const TRACE_ID = '5b8efff798038103d269b633813fc60c';
export const SPAN_ID = 'eee19b7ec3c1b174';
/** 2025-11-24T16:00:00.123456789Z, as the SDK's [seconds, nanoseconds]. */
export const EVENT_HRTIME: [number, number] = [1764000000, 123456789];
export const EVENT_NS = '1764000000123456789';
export const OBSERVED_HRTIME: [number, number] = [1764000001, 5];
export const OBSERVED_NS = '1764000001000000005';

/** Emits the three sample records through `provider`'s logger: attributes of every type, a structured body, a record in a span. */
export function emitSampleRecords(provider: LoggerProvider): void {
  const logger = provider.getLogger('payments-lib', '2.1.0');
  const inSpan = trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: TraceFlags.SAMPLED });
  logger.emit({
    timestamp: EVENT_HRTIME,
    observedTimestamp: OBSERVED_HRTIME,
    severityNumber: SeverityNumber.INFO,
    severityText: 'INFO',
    body: 'payment accepted',
    attributes: { 'order.id': 'o-1', amount_cents: 1999, ratio: 0.25, ok: true, tags: ['a', 'b'] },
    context: inSpan,
  });
  logger.emit({
    timestamp: EVENT_HRTIME,
    severityNumber: SeverityNumber.ERROR,
    severityText: 'ERROR',
    body: { reason: 'card declined', codes: [51, 5] },
    attributes: { nested: { level1: { level2: 'deep' } } },
    eventName: 'payment.failed',
  });
  logger.emit({ observedTimestamp: OBSERVED_HRTIME, body: 'no event time' });
}

/** A provider of service `service` (with `deployment.environment: test`) exporting through `processor`. */
export function sampleProvider(service: string, processor: LogRecordProcessor): LoggerProvider {
  return new LoggerProvider({ resource: resourceFromAttributes({ 'service.name': service, 'deployment.environment': 'test' }), processors: [processor] });
}

/** The sample records of `service`, as an exporter receives them. */
export async function sdkLogRecords(service = 'checkout', emit: (provider: LoggerProvider) => void = emitSampleRecords): Promise<ReadableLogRecord[]> {
  const exporter = new InMemoryLogRecordExporter();
  const provider = sampleProvider(service, new SimpleLogRecordProcessor({ exporter }));
  emit(provider);
  await provider.forceFlush();
  const records = [...exporter.getFinishedLogRecords()];
  await provider.shutdown();
  return records;
}
