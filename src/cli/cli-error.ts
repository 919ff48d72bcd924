/** An error the CLI reports as one line and an exit code, without a stack. */
export class CliError extends Error {
  readonly exitCode: number;
  /** The node's error code, when the error is a node's answer. */
  readonly code: string | undefined;

  constructor(message: string, exitCode = 1, code?: string) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
    this.code = code;
  }
}
