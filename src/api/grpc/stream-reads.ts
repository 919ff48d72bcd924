/**
 * What WriteStream calls hold outside admission: batches read (deserialized
 * by grpc-js) and not yet admitted. An interceptor under the handler's
 * stream sees each message as grpc-js hands it up; the handler says when
 * the batch has left the wait (admitted, or answered without admission).
 */
import { ServerInterceptingCall, type Metadata, type ServerInterceptor } from '@grpc/grpc-js';

/** What the node's WriteStream calls hold, and what each call reports. */
export class StreamReads {
  readonly #calls = new WeakMap<Metadata, CallReads>();
  readonly #path: string;
  readonly #onWaiting: (delta: number) => void;
  #waiting = 0;

  /** Tracks calls of the method `path`; `onWaiting` gets every change of the waiting count. */
  constructor(path: string, onWaiting: (delta: number) => void) {
    this.#path = path;
    this.#onWaiting = onWaiting;
  }

  /** Batches of all streams read and not yet admitted. */
  get waiting(): number {
    return this.#waiting;
  }

  /** The reads of the call whose (request) metadata is `metadata`: the handler's `call.metadata`. */
  of(metadata: Metadata): CallReads | undefined {
    return this.#calls.get(metadata);
  }

  /** Counts the messages of the method's calls as grpc-js deserializes and hands them up. */
  readonly interceptor: ServerInterceptor = (method, call) => {
    if (method.path !== this.#path) return new ServerInterceptingCall(call);
    let reads: CallReads | undefined;
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            reads = new CallReads((delta) => this.#change(delta));
            this.#calls.set(metadata, reads);
            pass(metadata);
          },
          onReceiveMessage: (message, pass) => {
            reads?.received();
            pass(message);
          },
          // grpc-js calls this once a call is over, whether its status was sent or it was cancelled.
          onCancel: () => reads?.closed(),
        }),
    });
  };

  #change(delta: number): void {
    this.#waiting += delta;
    this.#onWaiting(delta);
  }
}

/** One call's batches read and not yet admitted. */
export class CallReads {
  readonly #change: (delta: number) => void;
  #held = 0;
  #closed = false;

  constructor(change: (delta: number) => void) {
    this.#change = change;
  }

  /** Batches of this call read and not yet admitted. */
  get held(): number {
    return this.#held;
  }

  /** A message was deserialized. */
  received(): void {
    if (this.#closed) return;
    this.#held++;
    this.#change(1);
  }

  /** A batch left the wait: admitted, or answered without admission. */
  settled(): void {
    if (this.#closed || this.#held === 0) return;
    this.#held--;
    this.#change(-1);
  }

  /** The call is over: what it held unread by the handler goes with it. */
  closed(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#held > 0) this.#change(-this.#held);
    this.#held = 0;
  }
}
