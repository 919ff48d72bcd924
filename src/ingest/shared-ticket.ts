/**
 * One admission ticket shared by the writes one request splits into (an
 * Elasticsearch bulk writes one batch per target table): the request's
 * bytes are admitted once, and released when the last of its writes lets
 * go. Separate tickets per write would have to be admitted again while
 * the first still holds the body, which a body near the in-flight bound
 * could never get.
 */
import type { AdmissionTicket } from './admission.ts';

/** `parts` tickets standing for `ticket`: each released once (extra calls are no-ops); `ticket` is released with the last. */
export function shareTicket(ticket: AdmissionTicket, parts: number): AdmissionTicket[] {
  if (!Number.isInteger(parts) || parts < 1) throw new Error(`a ticket is shared by at least one part, got ${parts}`);
  let open = parts;
  return Array.from({ length: parts }, () => {
    let released = false;
    return {
      grow: (bytes: number): boolean => !released && ticket.grow(bytes),
      get bytes() {
        return ticket.bytes;
      },
      // The body is held for every part: one part's smaller working set frees nothing the others may not need.
      shrink: (): void => undefined,
      release: (): void => {
        if (released) return;
        released = true;
        if (--open === 0) ticket.release();
      },
    };
  });
}
