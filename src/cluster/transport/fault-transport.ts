/**
 * A fault-injecting replica transport for tests: it decorates the
 * transport of one node (`from`) and consults rules shared by every node
 * of an in-process cluster (`NetworkFaults`). What it can do to a call
 * from `from` to `to`:
 *
 * - partition: a one-way cut a→b loses what a sends to b. A call a→b never
 *   arrives; a call b→a arrives and is applied, and its reply is lost. Both
 *   directions cut is a two-way partition.
 * - drop the request (the replica never sees it) or drop the reply (the
 *   replica applied it; the caller cannot know), for the next `times` calls;
 * - delay a call by `delayMs` before it is delivered (a slow peer: past the
 *   caller's deadline the caller gives up, and the request still applies
 *   when it lands, as over a real network).
 *
 * A lost request or reply leaves the caller waiting for its deadline, then
 * NO_QUORUM, exactly what the gRPC transport answers for an unreachable
 * peer. Health checks obey the partitions and the slow-peer delay.
 */
import { SluiceError } from '../../core/errors.ts';
import type { ReplicaMethod, ReplicaMethods } from './replica-messages.ts';
import type { ReplicaTransport } from './replica-transport.ts';

/** What happens to a matching call. */
export type FaultAction = 'drop-request' | 'drop-reply' | 'delay';

/** One fault rule; unset fields match anything. */
export interface FaultRule {
  readonly action: FaultAction;
  readonly from?: string;
  readonly to?: string;
  readonly methods?: readonly ReplicaMethod[];
  /** How long `delay` holds the call before delivering it. */
  readonly delayMs?: number;
  /** Calls it applies to before it expires (default: until removed). */
  times?: number;
}

/** The faults of one in-process network, shared by every node's FaultTransport. */
export class NetworkFaults {
  private readonly cuts = new Set<string>();
  private rules: FaultRule[] = [];

  /** Cuts `a → b` (and `b → a` unless `oneWay`). */
  partition(a: string, b: string, options: { oneWay?: boolean } = {}): void {
    this.cuts.add(`${a}>${b}`);
    if (options.oneWay !== true) this.cuts.add(`${b}>${a}`);
  }

  /** Cuts `node` from every node in `others`, both ways. */
  isolate(node: string, others: readonly string[]): void {
    for (const o of others) if (o !== node) this.partition(node, o);
  }

  /** Adds a rule; returns it (its `times` counts down as it fires). */
  add(rule: FaultRule): FaultRule {
    this.rules.push(rule);
    return rule;
  }

  /** Removes every partition and rule. */
  heal(): void {
    this.cuts.clear();
    this.rules = [];
  }

  /** True when what `a` sends to `b` is lost. */
  isCut(a: string, b: string): boolean {
    return this.cuts.has(`${a}>${b}`);
  }

  /** The first live rule matching a call, counted as fired. */
  take(from: string, to: string, method: ReplicaMethod | 'Check'): FaultRule | undefined {
    const rule = this.rules.find(
      (r) => (r.from === undefined || r.from === from) && (r.to === undefined || r.to === to) && (r.methods === undefined || (method !== 'Check' && r.methods.includes(method))),
    );
    if (rule === undefined) return undefined;
    if (rule.times !== undefined && --rule.times <= 0) this.rules = this.rules.filter((r) => r !== rule);
    return rule;
  }
}

/** `inner` as seen from node `from` through `faults`. */
export class FaultTransport implements ReplicaTransport {
  private readonly from: string;
  private readonly inner: ReplicaTransport;
  private readonly faults: NetworkFaults;

  constructor(from: string, inner: ReplicaTransport, faults: NetworkFaults) {
    this.from = from;
    this.inner = inner;
    this.faults = faults;
  }

  async call<M extends ReplicaMethod>(node: string, method: M, request: ReplicaMethods[M][0], timeoutMs: number): Promise<ReplicaMethods[M][1]> {
    const deadline = Date.now() + timeoutMs;
    const lost = (): Promise<never> => untilDeadline(deadline, node, method);
    if (this.faults.isCut(this.from, node)) return lost();
    const rule = this.faults.take(this.from, node, method);
    if (rule?.action === 'drop-request') return lost();
    const delivered = (async () => {
      if (rule?.action === 'delay') await sleep(rule.delayMs ?? 0);
      // Past its deadline the caller has given up, but a delayed request still lands and applies.
      return this.inner.call(node, method, request, Math.max(1, deadline - Date.now()) + (rule?.delayMs ?? 0));
    })();
    const replyLost = rule?.action === 'drop-reply' || this.faults.isCut(node, this.from);
    if (replyLost) {
      delivered.catch(() => undefined);
      return lost();
    }
    return withDeadline(delivered, deadline, node, method);
  }

  async check(node: string, timeoutMs: number): Promise<boolean> {
    if (this.faults.isCut(this.from, node) || this.faults.isCut(node, this.from)) {
      await sleep(timeoutMs);
      return false;
    }
    const rule = this.faults.take(this.from, node, 'Check');
    if (rule?.action === 'drop-request' || rule?.action === 'drop-reply') {
      await sleep(timeoutMs);
      return false;
    }
    if (rule?.action === 'delay') {
      if ((rule.delayMs ?? 0) >= timeoutMs) {
        await sleep(timeoutMs);
        return false;
      }
      await sleep(rule.delayMs ?? 0);
    }
    return this.inner.check(node, timeoutMs);
  }
}

/** Rejects at `deadline` as the gRPC transport does for a peer that did not answer. */
function untilDeadline(deadline: number, node: string, method: string): Promise<never> {
  return new Promise((_, reject) => {
    setTimeout(() => reject(deadlineError(node, method)), Math.max(0, deadline - Date.now()));
  });
}

/** `promise`, or NO_QUORUM at `deadline` if it has not settled by then. */
function withDeadline<T>(promise: Promise<T>, deadline: number, node: string, method: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(deadlineError(node, method)), Math.max(0, deadline - Date.now()));
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

function deadlineError(node: string, method: string): SluiceError {
  return new SluiceError('NO_QUORUM', `replica ${node}: ${method} deadline exceeded`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
