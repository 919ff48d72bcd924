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
 *   - a call waits on its client at most idleMs (decision 55): the clock runs
 *     while a read is let through to grpc-js and nothing of the call is
 *     unanswered (every batch received has had its reply), i.e. while only
 *     the client can move it on; past idleMs the call is ended with
 *     REQUEST_TIMEOUT and its slot freed. With a batch unanswered (waiting
 *     for admission or a rate, or being written) the node is the one
 *     waiting, and the clock is off; so no batch is cut half-written.
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
  /** Longest a call may wait on its client with nothing unanswered, ms; past it REQUEST_TIMEOUT. */
  readonly idleMs: number;
  /** A call ended for waiting on its client past idleMs. */
  readonly onTimedOut: () => void;
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
            reads = new CallReads(this.#options.onWaiting, () => this.#open--, { idleMs: this.#options.idleMs, onIdle: () => this.#timeOut(call) });
            this.#calls.set(metadata, reads);
            pass(metadata);
          },
          onReceiveMessage: (message, pass) => {
            reads?.received();
            pass(message);
          },
          onReceiveHalfClose: (pass) => {
            reads?.halfClosed();
            pass();
          },
          // grpc-js calls this once a call is over, whether its status was sent or it was cancelled.
          onCancel: () => reads?.closed(),
        }),
    });
  };

  /** Ends a call that kept the node waiting on its client past idleMs; its client is asked to stop sending. */
  #timeOut(call: ServerInterceptingCallInterface): void {
    this.#options.onTimedOut();
    const ms = this.#options.idleMs;
    refuseCall(call, new SluiceError('REQUEST_TIMEOUT', `the stream sent no whole batch for ${ms} ms with none unanswered (--grpc-stream-idle-timeout-ms); the batches answered are written, nothing of an unfinished one; open a new stream`, [{ path: 'grpc_stream_idle_timeout_ms', message: `limit ${ms}` }]));
  }
}

/** The idle clock of one call (see the invariants above). */
interface IdleClock {
  readonly idleMs: number;
  /** Ends the call: it waited on its client past idleMs. */
  readonly onIdle: () => void;
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
  readonly #clock: IdleClock | undefined;
  #held = 0;
  #closed = false;
  // The first read (a batch or the end of the stream) needs no allow().
  #credits = 1;
  #pending: (() => void) | undefined;
  // A read let through to grpc-js and not yet answered by a message or the end of the stream.
  #reading = false;
  // Batches received and not yet answered (the handler calls answered() once its reply is out).
  #unanswered = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(change: (delta: number) => void, onClosed: () => void, clock?: IdleClock) {
    this.#change = change;
    this.#onClosed = onClosed;
    this.#clock = clock;
  }

  /** The handler's stream asks for a message: read now if allowed, else once allow() is called. */
  read(start: () => void): void {
    const go = (): void => {
      if (this.#closed) return;
      this.#reading = true;
      this.#tick();
      start();
    };
    if (this.#credits > 0) {
      this.#credits--;
      go();
    } else {
      this.#pending = go;
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
    this.#reading = false;
    this.#unanswered++;
    this.#tick();
    this.#held++;
    this.#change(1);
  }

  /** The client ended its side: the node no longer waits on it. */
  halfClosed(): void {
    this.#reading = false;
    this.#tick();
  }

  /** A batch received has had its reply (or the call failed meanwhile). */
  answered(): void {
    if (this.#unanswered > 0) this.#unanswered--;
    this.#tick();
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
    this.#tick();
    if (this.#held > 0) this.#change(-this.#held);
    this.#held = 0;
    this.#onClosed();
  }

  /** Starts the idle clock when only the client can move the call on, stops it otherwise. */
  #tick(): void {
    const waitingOnClient = !this.#closed && this.#reading && this.#unanswered === 0;
    if (!waitingOnClient || this.#clock === undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      return;
    }
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(this.#clock.onIdle, this.#clock.idleMs);
    // A node stopping does not wait for it: the call ends with the server.
    this.#timer.unref();
  }
}
