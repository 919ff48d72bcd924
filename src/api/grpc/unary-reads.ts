/**
 * What unary Write calls hold outside admission, and the gate at their
 * headers that bounds it (decision 53).
 *
 * grpc-js reads a unary call's one message whole, into its decoder, before
 * the handler sees it and can ask admission for room; a message can be as
 * large as the client port's limit (2 × bodyBytesMax + 1 MiB). A call is
 * *reading* from its headers (the handler asks for the message once they
 * pass) until the handler settles it: admitted, or answered without
 * admission. Until its headers pass, nothing asks grpc-js for the message,
 * so a call held there has at most its HTTP/2 stream window unread.
 * When a call's headers arrive:
 *   - admission has no room now: refused (the handler would refuse it once read);
 *   - fewer than `readsMax` calls reading: it reads;
 *   - else fewer than `waitingMax` waiting: it waits, first come first read,
 *     and is checked against admission again when its turn comes;
 *   - else refused.
 * So reading ≤ readsMax and waiting ≤ waitingMax: the calls hold at most
 * readsMax × (message limit + window) + waitingMax × window. grpc-js
 * reports every call's end (status sent, deadline, cancelled) to the
 * interceptor, which takes it out of what it was counted in.
 *
 * A call reads for at most `readTimeoutMs` (decision 55): a client that
 * sends its message slowly, or stops without closing, would otherwise hold
 * its slot for ever, and readsMax of them starve every other Write. Past
 * it the call is ended with REQUEST_TIMEOUT and reset (refuseCall), its
 * slot goes to the next waiting call, and a message that completes after
 * that is dropped here, so the handler never sees it: nothing of it is written.
 */
import { ServerInterceptingCall, type Metadata, type ServerInterceptingCallInterface, type ServerInterceptor } from '@grpc/grpc-js';
import { SluiceError } from '../../core/errors.ts';
import { refuseCall } from './refuse-call.ts';

/** Options of UnaryReads. */
export interface UnaryReadsOptions {
  /** The method whose calls are gated and counted (`/sluice.v1.Ingest/Write`). */
  readonly path: string;
  /** Calls reading at once; one past it waits at its headers. */
  readonly readsMax: number;
  /** Calls waiting at once; one past it is refused at its headers with RESOURCE_EXHAUSTED (OVERLOADED). */
  readonly waitingMax: number;
  /** Longest a call may read (from taking its slot until its handler settles it), ms; past it REQUEST_TIMEOUT. */
  readonly readTimeoutMs: number;
  /** A call ended for reading past readTimeoutMs. */
  readonly onTimedOut: () => void;
  /** True if admission could take a request now (the handler asks again, with the message's size, once it is read). */
  readonly canAdmit: () => boolean;
  /** Every change of the count of calls reading. */
  readonly onReading: (delta: number) => void;
  /** Every change of the count of calls waiting. */
  readonly onWaiting: (delta: number) => void;
  /** A call refused at its headers, and why. */
  readonly onRefused: (reason: 'admission' | 'grpc_unary_reads') => void;
}

/** The node's unary Write calls past their headers and not yet settled, and those waiting to be. */
export class UnaryReads {
  readonly #calls = new WeakMap<Metadata, () => void>();
  readonly #options: UnaryReadsOptions;
  // A Set keeps insertion order (first come, first read) and drops a call that gave up in O(1).
  readonly #waiting = new Set<() => void>();
  #reading = 0;

  constructor(options: UnaryReadsOptions) {
    this.#options = options;
  }

  /** The call whose (request) metadata is `metadata` left the read: admitted, or answered without admission. Idempotent. */
  settled(metadata: Metadata): void {
    this.#calls.get(metadata)?.();
  }

  /** Gates the method's calls at their headers and counts them until they settle or end. */
  readonly interceptor: ServerInterceptor = (method, call) => {
    if (method.path !== this.#options.path) return new ServerInterceptingCall(call);
    let settle: (() => void) | undefined;
    let turn: (() => void) | undefined;
    let timedOut = false;
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            const read = (): void => {
              settle = this.#read(metadata, () => {
                timedOut = true;
                this.#timeOut(call);
              });
              pass(metadata);
            };
            turn = this.#arrive(call, read);
          },
          // After a time-out the call's status is out: a message or end that still arrives must not reach the handler.
          onReceiveMessage: (message, pass) => {
            if (!timedOut) pass(message);
          },
          onReceiveHalfClose: (pass) => {
            if (!timedOut) pass();
          },
          // grpc-js calls this once a call is over, whether its status was sent or it was cancelled.
          onCancel: () => {
            if (turn !== undefined && this.#waiting.delete(turn)) this.#options.onWaiting(-1);
            settle?.();
          },
        }),
    });
  };

  /** A call's headers arrived: it reads now (`read`), is refused, or waits; returns its turn if it waits. */
  #arrive(call: ServerInterceptingCallInterface, read: () => void): (() => void) | undefined {
    if (!this.#admissible(call)) return undefined;
    if (this.#reading < this.#options.readsMax) {
      read();
      return undefined;
    }
    if (this.#waiting.size >= this.#options.waitingMax) {
      this.#options.onRefused('grpc_unary_reads');
      const limits = `${this.#options.readsMax} read, ${this.#options.waitingMax} waiting`;
      refuseCall(call, new SluiceError('OVERLOADED', `${this.#reading} unary writes are being read and ${this.#waiting.size} wait (--grpc-unary-reads-max); retry later`, [{ path: 'grpc_unary_reads', message: `limits ${limits}` }]));
      return undefined;
    }
    // Its turn: room in admission is asked again, since what it waited for may have filled it.
    const turn = (): void => {
      if (this.#admissible(call)) read();
    };
    this.#waiting.add(turn);
    this.#options.onWaiting(1);
    return turn;
  }

  /** False, having refused the call, if admission has no room: with none, even a call under the cap would be read only to be refused. */
  #admissible(call: ServerInterceptingCallInterface): boolean {
    if (this.#options.canAdmit()) return true;
    this.#options.onRefused('admission');
    refuseCall(call, new SluiceError('OVERLOADED', 'too many writes in flight; retry later'));
    return false;
  }

  /**
   * Counts one more call reading, for at most readTimeoutMs (then `timeOut`); the returned
   * function takes it back once and lets the next waiting call take its turn.
   */
  #read(metadata: Metadata, timeOut: () => void): () => void {
    let counted = true;
    this.#reading++;
    this.#options.onReading(1);
    const timer = setTimeout(() => {
      timeOut();
      settle();
    }, this.#options.readTimeoutMs);
    // A node stopping does not wait for it: the call ends with the server.
    timer.unref();
    const settle = (): void => {
      if (!counted) return;
      counted = false;
      clearTimeout(timer);
      this.#reading--;
      this.#calls.delete(metadata);
      this.#options.onReading(-1);
      this.#next();
    };
    this.#calls.set(metadata, settle);
    return settle;
  }

  /** Ends a call that read past readTimeoutMs; its client is asked to stop sending the rest. */
  #timeOut(call: ServerInterceptingCallInterface): void {
    this.#options.onTimedOut();
    const ms = this.#options.readTimeoutMs;
    refuseCall(call, new SluiceError('REQUEST_TIMEOUT', `the Write's message did not arrive within ${ms} ms of its read starting (--grpc-unary-read-timeout-ms); nothing of it was written, send it again`, [{ path: 'grpc_unary_read_timeout_ms', message: `limit ${ms}` }]));
  }

  /** Waiting calls take their turns while there is room to read. */
  #next(): void {
    for (const turn of this.#waiting) {
      if (this.#reading >= this.#options.readsMax) return;
      this.#waiting.delete(turn);
      this.#options.onWaiting(-1);
      turn();
    }
  }
}
