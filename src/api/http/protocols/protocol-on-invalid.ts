/**
 * What a shipper protocol's route does with records its table refuses. By
 * default the protocol's own partial-failure answer (OTLP `partialSuccess`
 * and `_bulk` per-item errors: the rest is stored; Loki: the push is
 * refused whole). With `?on_invalid=dead_letter` on the URL (a shipper's
 * endpoint setting can carry it), or a table whose definition defaults to
 * `dead_letter`, the refused records are also stored, with their bytes and
 * reason, in `<table>__dead_letters` before the answer.
 */
import type { FastifyRequest } from 'fastify';
import type { OnInvalid } from '../../../ingest/batch-encoder.ts';
import { currentDef, type TableEntry } from '../../../storage/catalog.ts';
import { oneOf, queryParams } from '../query-params.ts';

/** `dead_letter` when the request or the table asks for it, else the protocol's `fallback`. */
export function protocolOnInvalid(request: FastifyRequest, entry: TableEntry, fallback: 'skip' | 'reject'): OnInvalid {
  const asked = oneOf<OnInvalid>(queryParams(request), 'on_invalid', [fallback, 'dead_letter'], fallback);
  return asked === 'dead_letter' || currentDef(entry).onInvalid === 'dead_letter' ? 'dead_letter' : fallback;
}
