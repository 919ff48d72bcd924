/**
 * The open model's schedule: when request r is due and which records it
 * carries, fixed before the run whatever the server does (wrk2's constant
 * rate, k6's arrival-rate executors). Request r is due at r / reqPerSecond
 * (constant) or after seeded exponential gaps (Poisson); its batch size is
 * seeded by r, so records are numbered 0, 1, 2, … in request order and any
 * request can be rebuilt from the seed alone.
 */
import { unit } from './workload/prng.ts';

/** How requests arrive. */
export type Arrival = 'constant' | 'poisson';

/** The schedule's inputs. */
export interface ScheduleSpec {
  /** Records per second offered (> 0). */
  readonly recordsPerSecond: number;
  /** Records per request: uniform in [batchMin, batchMax]. */
  readonly batchMin: number;
  readonly batchMax: number;
  readonly arrival: Arrival;
  readonly seed: number;
  /** Requests due at or after this offset from the start are not sent, µs. */
  readonly durationUs: number;
}

/** One scheduled request. */
export interface ScheduledRequest {
  /** Request number, from 0. */
  readonly r: number;
  /** When it is due, µs after the start of the run. */
  readonly dueUs: number;
  /** Its first record number. */
  readonly firstJ: number;
  readonly count: number;
}

/** PRNG streams of the schedule (the workload uses others). */
const BATCH_STREAM = 0x5c4e_0001;
const GAP_STREAM = 0x5c4e_0002;

/** Mean records per request. */
export function meanBatch(spec: Pick<ScheduleSpec, 'batchMin' | 'batchMax'>): number {
  return (spec.batchMin + spec.batchMax) / 2;
}

/** Requests per second the schedule offers. */
export function requestsPerSecond(spec: ScheduleSpec): number {
  return spec.recordsPerSecond / meanBatch(spec);
}

/** Walks the schedule in order; `next()` is the next request or undefined past the duration. */
export class Schedule {
  private r = 0;
  private j = 0;
  private dueUs = 0;
  private readonly gapUs: number;

  private readonly spec: ScheduleSpec;

  constructor(spec: ScheduleSpec) {
    this.spec = spec;
    if (!(spec.recordsPerSecond > 0)) throw new Error('a schedule needs a rate above 0');
    if (!(spec.batchMin >= 1 && spec.batchMax >= spec.batchMin)) throw new Error('batch sizes must be 1 ≤ min ≤ max');
    this.gapUs = 1e6 / requestsPerSecond(spec);
  }

  /** Due time of the request `next()` would return, µs (Infinity past the end). */
  peekDueUs(): number {
    return this.dueUs < this.spec.durationUs ? this.dueUs : Infinity;
  }

  /** The next request, or undefined when the duration is over. */
  next(): ScheduledRequest | undefined {
    if (this.dueUs >= this.spec.durationUs) return undefined;
    const { batchMin, batchMax, seed } = this.spec;
    const count = batchMin + Math.floor(unit(seed, BATCH_STREAM, this.r) * (batchMax - batchMin + 1));
    const req: ScheduledRequest = { r: this.r, dueUs: this.dueUs, firstJ: this.j, count };
    this.r++;
    this.j += count;
    this.dueUs += this.spec.arrival === 'constant' ? this.gapUs : -Math.log(1 - unit(seed, GAP_STREAM, this.r)) * this.gapUs;
    return req;
  }
}
