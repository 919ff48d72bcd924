/**
 * The generator's connections: N keep-alive connections opened before the
 * clock starts, at a bounded connect rate, dealt round-robin over the
 * target URLs and the local source addresses (each address has its own
 * ephemeral port range, so 100,000 fit on loopback). Idle connections wait
 * in a FIFO; a request takes the head, so every connection sends in turn.
 * A connection the server closes (keep-alive timeout, restart) is opened
 * again with back-off, and connect failures are counted by kind.
 */
import { HttpConnection, type Target, type TransportError } from './http-connection.ts';
import { latencyHistogram, recordUs } from './latency.ts';
import { errorCode } from './error-code.ts';

/** How the pool connects. */
export interface PoolOptions {
  readonly targets: readonly Target[];
  /** Local addresses to bind, round-robin (empty: the system's choice). */
  readonly sourceIps: readonly string[];
  /** New connections per second, at most. */
  readonly connectPerSecond: number;
  readonly requestTimeoutMs: number;
}

/** Longest pause before reconnecting a connection that keeps failing, ms. */
const RECONNECT_DELAY_MS_MAX = 2_000;
/** First pause before reconnecting after a failure, ms. */
const RECONNECT_DELAY_MS_MIN = 50;

interface Slot {
  readonly index: number;
  conn: HttpConnection | undefined;
  failures: number;
  /** Its first connect has opened or failed (what `fill` waits for). */
  settled: boolean;
}

/** A pool of keep-alive connections; see the file comment. */
export class ConnectionPool {
  /** Connect errors by kind (ECONNREFUSED, EADDRNOTAVAIL, EMFILE, ETIMEDOUT, …). */
  readonly connectErrors = new Map<string, number>();
  /** Connect times, µs. */
  readonly connectTimes = latencyHistogram();
  /** Connections that were opened (first opens and reopens). */
  opened = 0;
  /** Connections the server or network closed. */
  closed = 0;
  private readonly idle: HttpConnection[] = [];
  private idleHead = 0;
  private openCount = 0;
  private readonly slots: Slot[] = [];
  private toConnect: Slot[] = [];
  private toConnectHead = 0;
  private connectTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly sourcesUsed = new Set<string>();
  /** Slots whose first connect has not settled yet, and what `fill` waits on. */
  private unsettled = 0;
  private allSettled: (() => void) | undefined;

  private readonly opts: PoolOptions;

  constructor(opts: PoolOptions) {
    this.opts = opts;
  }

  /** Connections open now. */
  get open(): number {
    return this.openCount;
  }

  /** Local addresses that carried at least one connection. */
  get sourceAddresses(): readonly string[] {
    return [...this.sourcesUsed].sort();
  }

  /** Opens `n` connections at the connect rate; resolves when each has opened or failed once. */
  async fill(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const slot: Slot = { index: this.slots.length, conn: undefined, failures: 0, settled: false };
      this.slots.push(slot);
      this.toConnect.push(slot);
    }
    this.unsettled += n;
    if (this.unsettled === 0) return;
    await new Promise<void>((resolve) => {
      this.allSettled = resolve;
      this.pump();
    });
  }

  /** The idle connection that has waited longest, or undefined when all are busy or closed. */
  take(): HttpConnection | undefined {
    while (this.idleHead < this.idle.length) {
      const conn = this.idle[this.idleHead++] as HttpConnection;
      if (this.idleHead > 4096 && this.idleHead * 2 > this.idle.length) {
        this.idle.splice(0, this.idleHead);
        this.idleHead = 0;
      }
      if (conn.open && !conn.busy) return conn;
    }
    return undefined;
  }

  /** Puts a connection back at the tail once its answer arrived. */
  give(conn: HttpConnection): void {
    if (conn.open && !this.stopped) this.idle.push(conn);
  }

  /** Closes every connection and stops reconnecting. */
  close(): void {
    this.stopped = true;
    clearTimeout(this.connectTimer);
    for (const slot of this.slots) slot.conn?.close();
  }

  /** Opens what is waiting, at most connectPerSecond per second, in ticks of 10 ms. */
  private pump(): void {
    if (this.stopped || this.connectTimer !== undefined) return;
    const perTick = Math.max(1, Math.round(this.opts.connectPerSecond / 100));
    const tick = (): void => {
      this.connectTimer = undefined;
      for (let i = 0; i < perTick && this.toConnectHead < this.toConnect.length; i++) this.connect(this.toConnect[this.toConnectHead++] as Slot);
      if (this.toConnectHead === this.toConnect.length) {
        this.toConnect = [];
        this.toConnectHead = 0;
      } else if (!this.stopped) {
        this.connectTimer = setTimeout(tick, 10);
      }
    };
    tick();
  }

  private connect(slot: Slot): void {
    const { targets, sourceIps, requestTimeoutMs } = this.opts;
    const target = targets[slot.index % targets.length] as Target;
    const local = sourceIps.length === 0 ? undefined : sourceIps[slot.index % sourceIps.length];
    const started = performance.now();
    const conn = new HttpConnection(target, local, requestTimeoutMs, (err) => this.onOpen(slot, conn, err, started), () => this.onGone(slot, conn));
    slot.conn = conn;
  }

  private onOpen(slot: Slot, conn: HttpConnection, err: TransportError | undefined, started: number): void {
    if (err !== undefined) {
      this.connectFailed(slot, err.kind);
    } else {
      recordUs(this.connectTimes, (performance.now() - started) * 1000);
      this.opened++;
      this.openCount++;
      if (conn.localAddress !== undefined) this.sourcesUsed.add(conn.localAddress);
      this.give(conn);
    }
    if (!slot.settled) {
      slot.settled = true;
      if (--this.unsettled === 0) this.allSettled?.();
    }
  }

  /** Counts a failed connect by kind; the slot's next attempt waits longer. */
  private connectFailed(slot: Slot, kind: string): void {
    this.connectErrors.set(kind, (this.connectErrors.get(kind) ?? 0) + 1);
    slot.failures++;
  }

  private onGone(slot: Slot, conn: HttpConnection): void {
    if (slot.conn !== conn) return;
    slot.conn = undefined;
    if (conn.everOpened) {
      this.openCount--;
      if (!this.stopped) this.closed++;
    }
    // A connection that served requests was good: reconnect at once. One refused after connecting (a node at
    // --connections-max answers 503 and closes) is a connect error, backed off like one.
    if (conn.answered > 0) slot.failures = 0;
    else if (conn.unsolicited !== undefined) this.connectFailed(slot, errorCode(conn.unsolicited.body) || `HTTP ${conn.unsolicited.status}`);
    if (this.stopped) return;
    const delay = slot.failures === 0 ? 0 : Math.min(RECONNECT_DELAY_MS_MAX, RECONNECT_DELAY_MS_MIN * 2 ** (slot.failures - 1));
    setTimeout(() => {
      this.toConnect.push(slot);
      this.pump();
    }, delay).unref();
  }
}
