/**
 * Certificate hot reload. One reloader owns a pair and the listeners that
 * serve it: the public listeners' (HTTP and gRPC, server-pair.ts), or the
 * peer listener's and peer channels' (ca.crt, node.crt, node.key). It polls
 * the files' signatures (file-signature.ts) and reloads when they change,
 * or at once on `reload('signal')` (SIGHUP). A new pair is validated by its
 * source before any listener gets it; a bad one is reported and the last
 * good pair keeps serving. Each listener applies a good pair itself and its
 * outcome is reported per listener.
 */
import { TLS_EXPIRY_WARNING_MS, TLS_EXPIRY_WARNING_REPEAT_MS } from '../../config.ts';
import { fileSignature } from './file-signature.ts';
import { loadServerPair, type ServerPair, type ServerPairFiles } from './server-pair.ts';

/** What the reloader and its observer need of a pair: which certificate it is, and until when. */
export interface ServingCert {
  readonly subject: string;
  readonly serialNumber: string;
  /** SHA-256 of the leaf's DER, colon-separated hex. */
  readonly fingerprint256: string;
  readonly notAfter: Date;
}

/** Where a reloader's pairs come from. */
export interface PairSource<P extends ServingCert> {
  /** The files a poll watches: a change to any of them means a pair to load. */
  readonly files: readonly string[];
  /** Reads and validates the pair; a CertError when it must not serve. */
  load(): Promise<P>;
}

/** A listener serving the pair: `apply` puts a new pair in service (and throws if it cannot). */
export interface TlsListener<P extends ServingCert = ServerPair> {
  readonly name: string;
  apply(pair: P): void;
}

/** What started a reload. */
export type ReloadTrigger = 'poll' | 'signal';

/** One listener's outcome of one reload. */
export interface ReloadOutcome {
  readonly listener: string;
  readonly result: 'ok' | 'error';
  readonly trigger: ReloadTrigger;
  /** The pair now serving on the listener (the new one, or the one kept). */
  readonly pair: ServingCert;
  readonly error?: Error;
}

/** Hooks the node wires to metrics, the log and the audit log. */
export interface ReloadObserver {
  /** A pair went into service on a listener (at start, and after each successful reload). */
  onServing(listener: string, pair: ServingCert): void;
  /** One listener's outcome of a reload attempt. */
  onReload(outcome: ReloadOutcome): void;
  /** The serving pair expires within TLS_EXPIRY_WARNING_MS (repeated every TLS_EXPIRY_WARNING_REPEAT_MS); `listeners` serve it. */
  onExpiring(pair: ServingCert, msLeft: number, listeners: readonly string[]): void;
}

/** The pair a node starts with, where it came from, and the files' signature when it was read. */
export interface InitialPair<P extends ServingCert = ServerPair> {
  readonly source: PairSource<P>;
  readonly pair: P;
  readonly signature: string;
}

/** The source of a public listener's pair: its cert and key files, validated by loadServerPair. */
export function serverPairSource(files: ServerPairFiles): PairSource<ServerPair> {
  return { files: [files.cert, files.key], load: () => loadServerPair(files) };
}

/** Keeps the listeners' pair current. */
export class CertReloader<P extends ServingCert = ServerPair> {
  readonly source: PairSource<P>;
  private current: P;
  /** Signature of the files at the last attempt, good or bad: an unchanged bad file is not retried every poll. */
  private seen: string;
  private readonly listeners: TlsListener<P>[] = [];
  private readonly observer: ReloadObserver;
  /** Reloads run one after another; `queued` counts those started and not finished. */
  private chain: Promise<void> = Promise.resolve();
  private queued = 0;
  private timer: NodeJS.Timeout | undefined;
  private warnedAt = -Infinity;

  constructor(initial: InitialPair<P>, observer: ReloadObserver) {
    this.source = initial.source;
    this.current = initial.pair;
    this.seen = initial.signature;
    this.observer = observer;
  }

  /** Loads a public listener's first pair; a CertError (the node refuses to start) when it is not usable. */
  static load(files: ServerPairFiles): Promise<InitialPair<ServerPair>> {
    return CertReloader.open(serverPairSource(files));
  }

  /** Loads the first pair of `source`; a CertError (the node refuses to start) when it is not usable. */
  static async open<Q extends ServingCert>(source: PairSource<Q>): Promise<InitialPair<Q>> {
    // The signature first: a change while the pair is read shows at the first poll.
    const signature = await fileSignature(source.files);
    return { source, pair: await source.load(), signature };
  }

  /** The pair in service. */
  get pair(): P {
    return this.current;
  }

  /** Adds a listener already serving the current pair. */
  serve(listener: TlsListener<P>): void {
    this.listeners.push(listener);
    this.observer.onServing(listener.name, this.current);
  }

  /** Polls every `intervalMs` (the timer does not keep the process alive). */
  start(intervalMs: number): void {
    this.checkExpiry();
    this.timer = setInterval(() => void this.reload('poll'), intervalMs);
    this.timer.unref();
  }

  /** Stops polling. */
  stop(): void {
    clearInterval(this.timer);
  }

  /** Reloads if the files changed (`poll`), or in any case (`signal`); a bad pair is an outcome for the observer, not an error. */
  reload(trigger: ReloadTrigger): Promise<void> {
    // A slow poll is never overlapped by the next; a signal always runs after whatever is running, reading the files as they are then.
    if (trigger === 'poll' && this.queued > 0) return this.chain;
    this.queued++;
    const run = this.chain.then(() => this.attempt(trigger)).finally(() => this.queued--);
    // Only a programmer error (an observer throwing) rejects: the caller gets it, the next reload still runs.
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async attempt(trigger: ReloadTrigger): Promise<void> {
    const signature = await fileSignature(this.source.files);
    if (trigger === 'poll' && signature === this.seen) {
      this.checkExpiry();
      return;
    }
    this.seen = signature;
    let pair: P;
    try {
      pair = await this.source.load();
    } catch (err) {
      for (const l of this.listeners) this.observer.onReload({ listener: l.name, result: 'error', trigger, pair: this.current, error: err as Error });
      return;
    }
    const previous = this.current;
    this.current = pair;
    if (pair.serialNumber !== previous.serialNumber) this.warnedAt = -Infinity;
    for (const l of this.listeners) this.applyTo(l, pair, previous, trigger);
    this.checkExpiry();
  }

  private applyTo(listener: TlsListener<P>, pair: P, previous: P, trigger: ReloadTrigger): void {
    try {
      listener.apply(pair);
    } catch (err) {
      this.observer.onReload({ listener: listener.name, result: 'error', trigger, pair: previous, error: err as Error });
      return;
    }
    this.observer.onServing(listener.name, pair);
    this.observer.onReload({ listener: listener.name, result: 'ok', trigger, pair });
  }

  private checkExpiry(): void {
    const now = Date.now();
    const msLeft = this.current.notAfter.getTime() - now;
    if (msLeft >= TLS_EXPIRY_WARNING_MS || now - this.warnedAt < TLS_EXPIRY_WARNING_REPEAT_MS) return;
    this.warnedAt = now;
    this.observer.onExpiring(this.current, msLeft, this.listeners.map((l) => l.name));
  }
}
