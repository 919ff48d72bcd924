/**
 * What WriteStream calls hold outside admission, the gate that keeps it to
 * one batch per stream, and the cap on open streams (decision 51).
 *
 * grpc-js reads a server stream on demand: each `startRead()` takes one
 * message off the HTTP/2 stream (which stays paused in between, so the
 * client is held back by flow control once the stream's window is full),
 * deserializes it and hands it up. The handler's Node stream asks for
 * reads by itself, though, up to its objectMode highWaterMark (16 batches)
 * even while paused. So an interceptor under it lets a read through only
 * when the handler has allowed one: a stream reads its next batch once the
 * one before it is admitted. Invariants, per call:
 *   - reads let through ≤ allow() calls + 1 (the first read is free);
 *   - held (read, not yet settled) ≤ 1 while the handler allows a read only after settled();
 *   - open calls ≤ streamsMax: so all streams together hold at most
 *     streamsMax × (one batch + the HTTP/2 stream window) outside admission.
 */
import { ServerInterceptingCall, type Metadata, type ServerInterceptingCallInterface, type ServerInterceptor } from '@grpc/grpc-js';
import { SluiceError } from '../../core/errors.ts';
import { refuseCall } from './refuse-call.ts';

/** Options of StreamReads. */
export interface StreamReadsOptions {
  /** The method whose calls are gated and counted (`/sluice.v1.Ingest/WriteStream`). */
  readonly path: string;
  /** Calls of it open at once (streams); one past it is refused with RESOURCE_EXHAUSTED (OVERLOADED) when it opens. */
  readonly streamsMax: number;
  /** Every change of the count of batches read and not yet admitted. */
  readonly onWaiting: (delta: number) => void;
  /** A call refused at the cap. */
  readonly onRefused: () => void;
}

/** What the node's WriteStream calls hold, and what each call reports. */
export class StreamReads {
  readonly #calls = new WeakMap<Metadata, CallReads>();
  readonly #options: StreamReadsOptions;
  #open = 0;

  constructor(options: StreamReadsOptions) {
    this.#options = options;
  }

  /** The reads of the call whose (request) metadata is `metadata`: the handler's `call.metadata`. */
  of(metadata: Metadata): CallReads | undefined {
    return this.#calls.get(metadata);
  }

  /** Gates the reads of the method's calls and counts their messages as grpc-js deserializes and hands them up. */
  readonly interceptor: ServerInterceptor = (method, call) => {
    if (method.path !== this.#options.path) return new ServerInterceptingCall(call);
    let reads: CallReads | undefined;
    return new GatedCall(call, () => reads, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            // Refused before its handler exists, so before any of its messages is read.
            if (this.#open >= this.#options.streamsMax) {
              this.#options.onRefused();
              refuseCall(call, new SluiceError('OVERLOADED', `${this.#open} write streams are open (--grpc-streams-max); retry later`, [{ path: 'grpc_streams', message: `limit ${this.#options.streamsMax}` }]));
              return;
            }
            this.#open++;
            reads = new CallReads(this.#options.onWaiting, () => this.#open--);
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
}

/** A call whose reads pass its CallReads' gate (none before its metadata: grpc-js reads after it). */
class GatedCall extends ServerInterceptingCall {
  readonly #reads: () => CallReads | undefined;

  constructor(next: ServerInterceptingCallInterface, reads: () => CallReads | undefined, responder: ConstructorParameters<typeof ServerInterceptingCall>[1]) {
    super(next, responder);
    this.#reads = reads;
  }

  override startRead(): void {
    const reads = this.#reads();
    if (reads === undefined) super.startRead();
    else reads.read(() => super.startRead());
  }
}

/** One call's batches read and not yet admitted, and its read gate. */
export class CallReads {
  readonly #change: (delta: number) => void;
  readonly #onClosed: () => void;
  #held = 0;
  #closed = false;
  // The first read (a batch or the end of the stream) needs no allow().
  #credits = 1;
  #pending: (() => void) | undefined;

  constructor(change: (delta: number) => void, onClosed: () => void) {
    this.#change = change;
    this.#onClosed = onClosed;
  }

  /** The handler's stream asks for a message: read now if allowed, else once allow() is called. */
  read(start: () => void): void {
    if (this.#credits > 0) {
      this.#credits--;
      start();
    } else {
      this.#pending = start;
    }
  }

  /** One more message (or the end of the stream) may be read; a read already asked for starts on a later tick. */
  allow(): void {
    const start = this.#pending;
    if (start === undefined) {
      this.#credits++;
      return;
    }
    this.#pending = undefined;
    // grpc-js may hand the next message up at once: the handler would see it inside its own data event.
    queueMicrotask(start);
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
    this.#onClosed();
  }
}
