/**
 * The messages of one Kafka write, packed as they arrive: values back to
 * back in one buffer, partitions and offsets in typed arrays, keys and
 * headers kept only as bytes for dead letters. The client makes a dozen
 * objects per message (the message, its headers Map, a bound commit, key
 * and value views, two BigInts); held in an array until the write was
 * durable, every one of them outlived two scavenges and was marked again
 * by each major GC: a fifth of the node's CPU under a Kafka load went to
 * V8's garbage collector. Packed on arrival, they die young.
 */
import type { Message } from '@platformatic/kafka';
import type { DedupeKeys } from '../../ingest/dedupe-keys.ts';
import type { PartitionOffsets } from './commit-order.ts';

/** A message as the client delivers it. */
export type KafkaMessage = Message<Buffer, Buffer, Buffer, Buffer>;

/** What a dead letter carries of its message. */
export interface LetterMessage {
  readonly key: Buffer | undefined;
  readonly value: Buffer | undefined;
  readonly headers: ReadonlyMap<Buffer, Buffer>;
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
}

/** The smallest first body buffer; it doubles as values arrive. */
const BODY_BYTES_FIRST_MIN = 64 * 1024;
const KEY_BYTES_FIRST = 4 * 1024;
/** Message slots a batch starts with. */
const MESSAGES_FIRST = 1024;
const NO_HEADERS: ReadonlyMap<Buffer, Buffer> = new Map();

/**
 * Kafka offsets are int64: 19 digits at most. Zero-padded, the keys of one
 * partition have one length and sort by offset in the index, which is what
 * lets the node fence them.
 */
export const OFFSET_DIGITS = 20;

/**
 * `kafka:<keyTopic>:<partition>:`, the dedupe key prefix of a partition's
 * offsets: `keyTopic` is the topic's name, or `<topic>@<topic id>` for an
 * incarnation of the topic other than the one that keeps plain keys (topic-id.ts).
 */
export function keyPrefix(keyTopic: string, partition: number): string {
  return `kafka:${keyTopic}:${partition}:`;
}

/** One write's messages: at least one, at most `recordsMax`, and past one message at most `bytesMax` value bytes. */
export class PackedBatch {
  readonly topic: string;
  /** The topic part of the batch's dedupe keys (`keyPrefix`). */
  readonly keyTopic: string;
  private readonly recordsMax: number;
  private readonly bytesMax: number;
  private body: Buffer;
  private frames: Uint32Array;
  private partitions: Int32Array;
  private prefixIndex: Uint16Array;
  /** Offsets as numbers: exact below 2^53 (checked in `dedupeKeys`), one float per message instead of a BigInt. */
  private offsets: Float64Array;
  private keys: Buffer;
  private keyEnds: Int32Array;
  /** Messages with no key (the client's `undefined`), with no value (a tombstone), or with headers: few or none. */
  private readonly keyless = new Set<number>();
  private readonly valueless = new Set<number>();
  private readonly headers = new Map<number, ReadonlyMap<Buffer, Buffer>>();
  private readonly prefixes: string[] = [];
  /** Partition → its prefix's index in `prefixes`. */
  private readonly prefixOf = new Map<number, number>();
  /** Per partition, its newest message: the offset to commit after this batch, and a dead-letter transaction's `through`. */
  readonly newest = new Map<number, KafkaMessage>();
  private beyondSafe: string | undefined;
  private valueStarts: Uint32Array | undefined;
  private keyBytes = 0;
  #count = 0;
  #bytes = 0;

  /**
   * `bodyBytesHint`: the body's expected size, such as the last batch's: a
   * body grown by doubling allocates twice its size, and V8 counts every
   * buffer allocated toward its next full collection. `keyTopic`: the
   * topic part of the dedupe keys, the topic's name unless its incarnation
   * names its id (topic-id.ts).
   */
  constructor(topic: string, recordsMax: number, bytesMax: number, bodyBytesHint = 0, keyTopic = topic) {
    this.topic = topic;
    this.keyTopic = keyTopic;
    this.recordsMax = recordsMax;
    this.bytesMax = bytesMax;
    this.body = Buffer.allocUnsafe(Math.min(Math.max(BODY_BYTES_FIRST_MIN, bodyBytesHint), bytesMax));
    // Sized for a few fetches, grown by doubling: a trickling topic makes a batch per fetch of a message or two.
    const slots = Math.min(recordsMax, MESSAGES_FIRST);
    this.frames = new Uint32Array(slots);
    this.partitions = new Int32Array(slots);
    this.prefixIndex = new Uint16Array(slots);
    this.offsets = new Float64Array(slots);
    this.keys = Buffer.allocUnsafe(KEY_BYTES_FIRST);
    this.keyEnds = new Int32Array(slots);
  }

  /** Messages packed. */
  get count(): number {
    return this.#count;
  }

  /** Value bytes packed (what the batch's admission ticket asks for). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Whether the batch holds its bound of records or bytes. */
  get full(): boolean {
    return this.count >= this.recordsMax || this.bytes >= this.bytesMax;
  }

  /** Whether `m` may join: an empty batch takes anything, a batch with messages only what keeps it in its bounds. */
  fits(m: KafkaMessage): boolean {
    return this.count === 0 || (this.count < this.recordsMax && this.bytes + (m.value?.length ?? 0) <= this.bytesMax);
  }

  /** Packs `m`; nothing of it but its bytes and numbers is kept (and the partition's newest message). */
  add(m: KafkaMessage): void {
    if (this.count === this.frames.length) this.growSlots();
    const i = this.#count++;
    const value = m.value;
    const size = value?.length ?? 0;
    if (value === undefined || value === null) this.valueless.add(i);
    else {
      if (this.bytes + size > this.body.length) this.body = grown(this.body, this.bytes, this.bytes + size);
      this.body.set(value, this.bytes);
    }
    this.frames[i] = size;
    this.#bytes += size;
    this.keyEnds[i] = this.packKey(i, m.key);
    // Copied: the client's header buffers are views of its whole fetch.
    if (m.headers.size > 0) this.headers.set(i, new Map([...m.headers].map(([k, v]) => [Buffer.from(k), Buffer.from(v)])));
    const partition = m.partition;
    this.partitions[i] = partition;
    let prefix = this.prefixOf.get(partition);
    if (prefix === undefined) {
      prefix = this.prefixes.push(keyPrefix(this.keyTopic, partition)) - 1;
      this.prefixOf.set(partition, prefix);
    }
    this.prefixIndex[i] = prefix;
    const n = Number(m.offset);
    // Past 2^53 the number rounds: refused when the batch is written, as before packing.
    if (n > Number.MAX_SAFE_INTEGER) this.beyondSafe ??= `offset ${m.offset} of partition ${partition} is past 2^53`;
    this.offsets[i] = n;
    const known = this.newest.get(partition);
    if (known === undefined || m.offset > known.offset) this.newest.set(partition, m);
  }

  private growSlots(): void {
    const n = Math.min(this.recordsMax, this.frames.length * 2);
    if (n <= this.frames.length) throw new RangeError(`a batch holds at most ${this.recordsMax} messages`);
    this.frames = widened(new Uint32Array(n), this.frames);
    this.partitions = widened(new Int32Array(n), this.partitions);
    this.prefixIndex = widened(new Uint16Array(n), this.prefixIndex);
    this.offsets = widened(new Float64Array(n), this.offsets);
    this.keyEnds = widened(new Int32Array(n), this.keyEnds);
  }

  private packKey(i: number, key: Buffer | undefined | null): number {
    if (key === undefined || key === null) {
      this.keyless.add(i);
      return this.keyBytes;
    }
    if (this.keyBytes + key.length > this.keys.length) this.keys = grown(this.keys, this.keyBytes, this.keyBytes + key.length);
    this.keys.set(key, this.keyBytes);
    this.keyBytes += key.length;
    return this.keyBytes;
  }

  /** The values back to back and their lengths, as the ingest door takes them. */
  frameBody(): { body: Buffer; frames: Uint32Array } {
    return { body: this.body.subarray(0, this.bytes), frames: this.frames.subarray(0, this.count) };
  }

  /** The messages' dedupe keys: `kafka:<keyTopic>:<partition>:` and the zero-padded offset. */
  dedupeKeys(): DedupeKeys {
    if (this.beyondSafe !== undefined) throw new Error(this.beyondSafe);
    return { prefixes: this.prefixes, prefixIndex: this.prefixIndex.subarray(0, this.count), numbers: this.offsets.subarray(0, this.count), digits: OFFSET_DIGITS };
  }

  /** The offset to commit per partition after this batch: one past its newest message there. */
  nextOffsets(): PartitionOffsets {
    const out: PartitionOffsets = new Map();
    for (const [partition, m] of this.newest) out.set(partition, { offset: m.offset + 1n, leaderEpoch: m.leaderEpoch });
    return out;
  }

  /** Message `i` as a dead letter needs it: views of the packed bytes (the batch is sealed by then). */
  letterMessage(i: number): LetterMessage {
    if (!(i >= 0 && i < this.count)) throw new RangeError(`no message ${i} in a batch of ${this.count}`);
    this.valueStarts ??= startsOf(this.frames.subarray(0, this.count));
    const valueStart = this.valueStarts[i] ?? 0;
    const keyStart = i === 0 ? 0 : (this.keyEnds[i - 1] ?? 0);
    return {
      key: this.keyless.has(i) ? undefined : this.keys.subarray(keyStart, this.keyEnds[i]),
      value: this.valueless.has(i) ? undefined : this.body.subarray(valueStart, valueStart + (this.frames[i] ?? 0)),
      headers: this.headers.get(i) ?? NO_HEADERS,
      topic: this.topic,
      partition: this.partitions[i] ?? -1,
      offset: BigInt(this.offsets[i] ?? -1),
    };
  }
}

/** `to` with `from`'s values at its start. */
function widened<T extends Uint32Array | Int32Array | Uint16Array | Float64Array>(to: T, from: T): T {
  to.set(from as never);
  return to;
}

/** Where each frame starts in the body. */
function startsOf(frames: Uint32Array): Uint32Array {
  const starts = new Uint32Array(frames.length);
  for (let i = 1; i < frames.length; i++) starts[i] = (starts[i - 1] ?? 0) + (frames[i - 1] ?? 0);
  return starts;
}

/** A copy of `buf`'s first `used` bytes in a buffer of at least `need` bytes (doubling). */
function grown(buf: Buffer, used: number, need: number): Buffer {
  const next = Buffer.allocUnsafe(Math.max(need, buf.length * 2));
  buf.copy(next, 0, 0, used);
  return next;
}
