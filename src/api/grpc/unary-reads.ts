/**
 * What unary Write calls hold outside admission.
 *
 * grpc-js reads a unary call's one message whole, into its decoder, before
 * the handler sees it and can ask admission for room; a message can be as
 * large as the client port's limit (2 × bodyBytesMax + 1 MiB). A call
 * counts as reading from its headers (the handler asks for the message
 * once they pass) until the handler settles it: admitted, or answered
 * without admission. grpc-js reports every call's end (status sent, or
 * cancelled) to the interceptor, which settles what is still counted.
 */
import { ServerInterceptingCall, type Metadata, type ServerInterceptor } from '@grpc/grpc-js';

/** Options of UnaryReads. */
export interface UnaryReadsOptions {
  /** The method whose calls are counted (`/sluice.v1.Ingest/Write`). */
  readonly path: string;
  /** Every change of the count of calls reading. */
  readonly onReading: (delta: number) => void;
}

/** The node's unary Write calls past their headers and not yet settled. */
export class UnaryReads {
  readonly #calls = new WeakMap<Metadata, () => void>();
  readonly #options: UnaryReadsOptions;

  constructor(options: UnaryReadsOptions) {
    this.#options = options;
  }

  /** The call whose (request) metadata is `metadata` left the read: admitted, or answered without admission. Idempotent. */
  settled(metadata: Metadata): void {
    this.#calls.get(metadata)?.();
  }

  /** Counts the method's calls from their headers until they settle or end. */
  readonly interceptor: ServerInterceptor = (method, call) => {
    if (method.path !== this.#options.path) return new ServerInterceptingCall(call);
    let settle: (() => void) | undefined;
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            settle = this.#reading(metadata);
            pass(metadata);
          },
          // grpc-js calls this once a call is over, whether its status was sent or it was cancelled.
          onCancel: () => settle?.(),
        }),
    });
  };

  /** Counts one more call reading; the returned function takes it back once. */
  #reading(metadata: Metadata): () => void {
    let counted = true;
    this.#options.onReading(1);
    const settle = (): void => {
      if (!counted) return;
      counted = false;
      this.#calls.delete(metadata);
      this.#options.onReading(-1);
    };
    this.#calls.set(metadata, settle);
    return settle;
  }
}
