/**
 * The one error type of the certificate code: a certs dir, key file or
 * certificate that cannot be used, with a message an operator can act on.
 * Bad arguments (names, lifetimes, hosts) are SluiceErrors with
 * INVALID_ARGUMENT instead, so the CLI can tell usage errors apart.
 */

/** A certificate, key or certs dir that cannot be used; `file` names the culprit when there is one. */
export class CertError extends Error {
  readonly file: string | undefined;

  constructor(message: string, file?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CertError';
    this.file = file;
  }
}
