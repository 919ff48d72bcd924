/**
 * A Kafka topic consumed into a table, exactly once:
 * - the consumer group spreads partitions over members; offsets are
 *   committed by hand, per partition, only once every batch up to them is
 *   durable at the table's W there (CommitOrder);
 * - a crash between write and commit re-delivers from the last commit, and
 *   each record carries the dedupe key `kafka:<topic>:<partition>:<offset>`,
 *   so a re-delivered message keeps the id it was stored with (the offset is
 *   zero-padded, so the node's dedupe fence writes messages past the highest
 *   stored offset without looking their keys up: decision 13); a topic
 *   deleted and created again names its topic id in its keys instead
 *   (`kafka:<topic>@<id>:...`, decision 49), so its offsets from 0 are new
 *   records, not re-deliveries of the old topic's;
 * - when the node is full the source stops reading: the consumer stream
 *   fills to its bound and stops fetching, lag grows in Kafka, not in our
 *   memory;
 * - a message the table refuses (not JSON, schema violation) goes to the
 *   dead-letter topic with its error, in a Kafka transaction that commits
 *   its offset too, so a crash in between leaves no second letter visible
 *   to read_committed readers (dead-letter.ts);
 * - when the client gives up (the broker gone longer than its retries), the
 *   source reports `failed` and reconnects with back-off (1 s to 30 s): its
 *   writes in flight finish, nothing past the last commit is trusted, and
 *   the group re-delivers from there.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterMetadata, Consumer, MessagesStream } from '@platformatic/kafka';
import type { Logger } from 'pino';
import { SluiceError, isSluiceError } from '../../core/errors.ts';
import type { SourceDoor } from '../../ingest/ingest-door.ts';
import { newProgress, type Ingestor, type IngestorProgress, type IngestorState, type IngestorStatus } from '../../ingest/ingestor.ts';
import type { WriteResult } from '../../ingest/pipeline.ts';
import { CommitOrder } from './commit-order.ts';
import { DeadLetterQueue, deadLetterTopic, lettersOf, type DeadLetter } from './dead-letter.ts';
import { ensureTopic } from './ensure-topic.ts';
import { PackedBatch, type KafkaMessage } from './packed-batch.ts';
import { untilAborted } from './until-aborted.ts';
import type { KafkaSourceConfig } from './kafka-source-config.ts';
import { RATE_LIMITED_PAUSE_MS_MAX } from '../../config.ts';
import { describeKafkaError, kafkaConnectionOptions } from './kafka-security.ts';
import { kafkaClient } from './kafka-client.ts';
import { currentIncarnation, type Incarnation } from './topic-incarnations.ts';
import { newerIncarnation } from './topic-id.ts';

/** Hooks for metrics. */
export interface KafkaSourceObserver {
  /** Lag of a partition this member owns; `undefined` once another member owns it. */
  readonly onLag?: (topic: string, partition: number, lag: number | undefined) => void;
  readonly onDeadLettered?: (n: number) => void;
  readonly onCommitted?: (partitions: number) => void;
}

/** What the source needs from the node. */
export interface KafkaSourceDeps {
  readonly door: SourceDoor;
  /** True when the table has a primary key: batches are then written one at a time to keep per-key order. */
  readonly hasPrimaryKey: (table: string) => boolean;
  /** Names the source in logs and status (default `kafka:<topic>`). */
  readonly name?: string;
  readonly log: Logger;
  readonly observer?: KafkaSourceObserver;
}

/** Back-off after a failed write, doubling up to the max: the batch is retried, never skipped. */
const RETRY_DELAY_MS_MIN = 50;
const RETRY_DELAY_MS_MAX = 5_000;
/** Back-off between reconnections after the client failed. */
const RECONNECT_DELAY_MS_MIN = 1_000;
const RECONNECT_DELAY_MS_MAX = 30_000;

/** One Kafka topic → one table. */
export class KafkaSource implements Ingestor {
  readonly name: string;
  readonly kind = 'kafka' as const;
  private readonly config: KafkaSourceConfig;
  private readonly deps: KafkaSourceDeps;
  private readonly progress: IngestorProgress = newProgress();
  /** Offsets of the current connection's batches (a reconnection starts afresh from the group's commits). */
  private commits = new CommitOrder();
  /** Aborted by stop(): nothing is read, retried or reconnected after it. */
  private readonly abort = new AbortController();
  /** Aborted when the current connection ends (stop or failure). */
  private session = new AbortController();
  private reconnectDelayMs = RECONNECT_DELAY_MS_MIN;
  private restarting: Promise<void> | undefined;
  /** The first connection, while start() makes it: stop() waits for it, or a client made after stop() would stay open. */
  private starting: Promise<void> | undefined;
  private state: IngestorState = 'starting';
  private lastError: string | undefined;
  private consumer: Consumer<Buffer, Buffer, Buffer, Buffer> | undefined;
  private stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  private dlq: DeadLetterQueue | undefined;
  /** The incarnation of the topic the current connection reads: its keys, and the id its offsets belong to. */
  private incarnation: Incarnation | undefined;
  private readonly writes = new Set<Promise<void>>();
  private loop: Promise<void> | undefined;
  private committing: Promise<void> = Promise.resolve();
  private commitTimer: NodeJS.Timeout | undefined;
  /** The batches `run()` holds that are not dispatched yet (its own array): none, and none in flight, is idle. */
  private unwritten: readonly PackedBatch[] = [];
  private stopping: Promise<void> | undefined;
  private readonly lag = new Map<number, number>();
  private readonly committed = new Map<number, bigint>();
  /** Partitions whose offset a dead-letter transaction is committing right now. */
  private readonly lettersInFlight = new Set<number>();
  private deadLettered = 0;

  constructor(config: KafkaSourceConfig, deps: KafkaSourceDeps) {
    this.config = config;
    this.deps = deps;
    this.name = deps.name ?? `kafka:${config.topic}`;
  }

  /** Joins the group and starts consuming from the committed offsets (earliest when the group has none). */
  async start(): Promise<void> {
    const { sasl, tls } = this.config.security;
    if (sasl !== 'none' && !tls) this.deps.log.warn({ event: 'kafka_sasl_plaintext', source: this.name, sasl }, `Kafka source logs in with SASL ${sasl} without TLS: ${sasl === 'plain' ? 'the password crosses' : 'messages cross'} the network in clear (add --kafka-tls)`);
    this.starting = this.connect();
    try {
      await this.starting;
    } catch (err) {
      this.fail(err);
      throw err;
    }
  }

  private async connect(): Promise<void> {
    const security = await kafkaConnectionOptions(this.config.security);
    const client = { clientId: `sluice-${this.config.group}`, bootstrapBrokers: [...this.config.brokers], retries: this.config.clientRetries, retryDelay: 250, ...security };
    this.session = new AbortController();
    this.commits = new CommitOrder();
    const { Consumer } = await kafkaClient();
    // Made first: it asks whether the dead-letter and registry topics exist, and disconnect() closes it whatever fails next.
    this.consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
      ...client,
      groupId: this.config.group,
      autocommit: false,
      maxBytes: this.config.fetchBytesMax,
      maxBytesPerPartition: this.config.fetchPartitionBytesMax,
      maxWaitTime: 100,
      highWaterMark: this.config.bufferedMessagesMax,
      // A SIGKILLed member holds its partitions until its session expires: 10 s, like a node's etcd lease.
      sessionTimeout: this.config.sessionTimeoutMs,
      heartbeatInterval: Math.max(100, Math.floor(this.config.sessionTimeoutMs / 3)),
    });
    await ensureTopic(this.consumer, client, deadLetterTopic(this.config.dlqTopic));
    this.throwIfStopped();
    this.dlq ??= new DeadLetterQueue(this.config.dlqTopic, this.config.table, this.config.group, client);
    this.consumer.on('consumer:lag', (lag) => this.onLag(lag));
    // The client rides out a broker outage by itself (the stream keeps retrying); the failing lag probe is what shows it.
    this.consumer.on('consumer:lag:error', (err: Error) => {
      this.lastError = `cannot reach the brokers: ${err.message}`;
    });
    this.consumer.on('consumer:group:rebalance', () => this.deps.log.info({ event: 'kafka_rebalance', source: this.name }, 'consumer group rebalanced'));
    const session = this.session;
    // The incarnation's lookup (round trips to the registry topic: ~20 ms, ~50 ms for a first read, ~1 s when it
    // creates the registry) overlaps the group join: the stream does not flow before the read loop listens to it, so
    // no message is packed before its keys are known. Both settle before either is used (a failure leaves the stream
    // set, for disconnect to close).
    const streaming = this.consumer.consume({ topics: [this.config.topic], mode: 'committed', fallbackMode: 'earliest' }).then((stream) => {
      this.stream = stream;
      stream.on('error', (err: Error) => this.fail(err, session));
    });
    const [found, consumed] = await Promise.allSettled([currentIncarnation(this.consumer, this.config.incarnationsTopic, client, this.config.table, this.config.topic), streaming]);
    if (found.status === 'rejected') throw found.reason;
    if (consumed.status === 'rejected') throw consumed.reason;
    this.throwIfStopped();
    const incarnation = found.value;
    this.incarnation = incarnation;
    this.deps.log.info({ event: 'kafka_topic_incarnation', source: this.name, topic: this.config.topic, topicId: incarnation.topicId ?? null, keyTopic: incarnation.keyTopic }, 'Kafka topic incarnation');
    this.consumer.on('client:metadata', (metadata: ClusterMetadata) => this.onMetadata(metadata, incarnation, session));
    this.consumer.startLagMonitoring({ topics: [this.config.topic] }, this.config.lagIntervalMs);
    this.state = 'running';
    this.lastError = undefined;
    this.loop = this.run().catch((err: unknown) => this.fail(err, session));
    this.deps.log.info({ event: 'kafka_source_started', source: this.name, table: this.config.table, group: this.config.group }, 'Kafka source started');
  }

  /** stop() came while connecting: the connection goes no further (stop() waits for it, then disconnects). */
  private throwIfStopped(): void {
    if (this.abort.signal.aborted) throw new SluiceError('SHUTTING_DOWN', `Kafka source ${this.name} was stopped while it connected`);
  }

  /**
   * The topic was deleted and created again while this connection read it:
   * what it holds is the old incarnation's (its keys, its offsets), so the
   * connection ends, and the next one starts on the new incarnation.
   */
  private onMetadata(metadata: ClusterMetadata, incarnation: Incarnation, session: AbortController): void {
    const now = newerIncarnation(metadata, this.config.topic, incarnation.topicId);
    if (now !== undefined) this.fail(new SluiceError('NOT_READY', `topic ${this.config.topic} was deleted and created again (topic id ${incarnation.topicId}, now ${now})`), session);
  }

  /** Stops reading, lets writes in flight finish, commits what is durable, leaves the group. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  status(): IngestorStatus {
    return {
      name: this.name,
      kind: this.kind,
      state: this.state,
      progress: { ...this.progress },
      detail: {
        topic: this.config.topic,
        group: this.config.group,
        table: this.config.table,
        dlqTopic: this.config.dlqTopic,
        deadLettered: this.deadLettered,
        batchesInFlight: this.commits.inFlight,
        lag: Object.fromEntries(this.lag),
        committed: Object.fromEntries([...this.committed].map(([p, o]) => [p, String(o)])),
      },
      ...(this.lastError === undefined ? {} : { error: this.lastError }),
    };
  }

  private async doStop(): Promise<void> {
    if (this.state !== 'failed') this.state = 'stopping';
    this.abort.abort();
    await this.starting?.catch(() => undefined);
    await this.restarting;
    await this.disconnect();
    await this.dlq?.close().catch(() => undefined);
    if (this.state !== 'failed') this.state = 'stopped';
    this.deps.log.info({ event: 'kafka_source_stopped', source: this.name, ...this.progress }, 'Kafka source stopped');
  }

  /** Ends the current connection: stops reading, lets writes in flight finish, commits what is durable, leaves the group. */
  private async disconnect(): Promise<void> {
    this.session.abort();
    this.stream?.pause();
    await this.loop?.catch(() => undefined);
    await Promise.allSettled([...this.writes]);
    clearTimeout(this.commitTimer);
    this.commitTimer = undefined;
    await this.commitNow();
    this.consumer?.stopLagMonitoring();
    await this.stream?.close().catch(() => undefined);
    await this.consumer?.close().catch(() => undefined);
    this.stream = undefined;
    this.consumer = undefined;
  }

  /** The connection of `session` failed: report it and reconnect with back-off (never after stop()). */
  private fail(err: unknown, session: AbortController = this.session): void {
    if (this.abort.signal.aborted || session.signal.aborted || this.restarting !== undefined) return;
    this.state = 'failed';
    this.lastError = describeKafkaError(err);
    this.deps.log.error({ event: 'kafka_source_failed', source: this.name, err, reconnectInMs: this.reconnectDelayMs }, 'Kafka source failed; reconnecting');
    this.restarting = this.reconnect().finally(() => {
      this.restarting = undefined;
    });
  }

  /** Reconnects with back-off until connected or stopped. */
  private async reconnect(): Promise<void> {
    await this.disconnect();
    for (;;) {
      const delay = this.reconnectDelayMs;
      this.reconnectDelayMs = Math.min(delay * 2, RECONNECT_DELAY_MS_MAX);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.abort.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      if (this.abort.signal.aborted) return;
      try {
        await this.connect();
        this.reconnectDelayMs = RECONNECT_DELAY_MS_MIN;
        this.deps.log.info({ event: 'kafka_source_reconnected', source: this.name }, 'Kafka source reconnected');
        return;
      } catch (err) {
        await this.disconnect();
        // Stopped meanwhile: the abort listener below was added after the abort, so it would not cut the wait short.
        if (this.abort.signal.aborted) return;
        this.state = 'failed';
        this.lastError = describeKafkaError(err);
        this.deps.log.warn({ event: 'kafka_reconnect_failed', source: this.name, err, retryInMs: this.reconnectDelayMs }, 'Kafka source could not reconnect');
      }
    }
  }

  /**
   * Takes messages as the stream emits them and packs them into batches
   * (packed-batch.ts). The stream is paused whenever a full batch waits for
   * a write slot (or for admission), so what is held here stays under one
   * batch plus one fetch; the rest waits in Kafka as lag.
   */
  private run(): Promise<void> {
    const stream = this.stream;
    const session = this.session;
    if (stream === undefined) return Promise.resolve();
    const { topic, batchRecordsMax, batchBytesMax } = this.config;
    const keyTopic = this.incarnation?.keyTopic ?? topic;
    // Batches in fetch order; only the last may still take messages.
    const pending: PackedBatch[] = [];
    this.unwritten = pending;
    let bodyBytesHint = 0;
    let scheduled = false;
    const pump = (): void => {
      scheduled = false;
      if (session.signal.aborted) return;
      const inFlightMax = this.deps.hasPrimaryKey(this.config.table) ? 1 : this.config.inFlightBatchesMax;
      while (pending.length > 0 && this.writes.size < inFlightMax) {
        const batch = pending.shift() as PackedBatch;
        // A little over the last dispatched batch's size: a full batch of the same messages needs no second buffer.
        bodyBytesHint = batch.bytes + (batch.bytes >> 3);
        this.dispatch(batch, session).finally(schedule);
      }
      const full = pending.length > 1 || pending[0]?.full === true;
      if (full && !stream.isPaused()) stream.pause();
      else if (!full && stream.isPaused()) stream.resume();
    };
    // After the current burst of 'data' events: a whole fetch becomes one batch, not one message.
    const schedule = (): void => {
      if (scheduled) return;
      scheduled = true;
      setImmediate(pump);
    };
    return new Promise<void>((resolve) => {
      stream.on('data', (m: KafkaMessage) => {
        let open = pending.at(-1);
        if (open === undefined || !open.fits(m)) pending.push((open = new PackedBatch(topic, batchRecordsMax, batchBytesMax, bodyBytesHint, keyTopic)));
        open.add(m);
        schedule();
      });
      stream.once('close', resolve);
      session.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  /**
   * Admits and writes one batch. Once it is durable its offsets become
   * committable (after every earlier batch's, per partition), except in the
   * partitions where it has dead letters: those wait for the transaction
   * that produces the letters and commits the partition's offset with them.
   */
  private dispatch(batch: PackedBatch, session: AbortController): Promise<void> {
    const commits = this.commits;
    const offsets = batch.nextOffsets();
    const seq = commits.add(offsets);
    const write = (async () => {
      const ticket = await this.deps.door.admit(batch.bytes, session.signal, () => {
        this.state = 'paused';
      });
      if (this.state === 'paused') this.state = 'running';
      const result = await this.writeBatch(batch, ticket, session.signal);
      const letters = result.rejectedCount > 0 ? lettersOf(batch, result) : [];
      const held = new Set(letters.map((l) => l.message.partition));
      commits.done(seq, [...offsets.keys()].filter((p) => !held.has(p)));
      this.scheduleCommit();
      if (letters.length > 0) await this.deadLetter(letters, batch, commits, seq, session.signal);
    })()
      .then(
        () => undefined,
        // Only the end of the connection leaves a write unfinished; its batch stays uncommitted and is re-delivered.
        (err: unknown) => this.fail(err, session),
      )
      .finally(() => this.writes.delete(write));
    this.writes.add(write);
    return write;
  }

  /** Writes one batch until it is durable, retrying transient failures; refused records come back in the result. */
  private async writeBatch(batch: PackedBatch, firstTicket: Awaited<ReturnType<SourceDoor['admit']>>, signal: AbortSignal): Promise<WriteResult> {
    const { body, frames } = batch.frameBody();
    const dedupe = batch.dedupeKeys();
    let ticket: typeof firstTicket | undefined = firstTicket;
    let delay = RETRY_DELAY_MS_MIN;
    for (;;) {
      try {
        ticket ??= await this.deps.door.admit(batch.bytes, signal);
        const t = ticket;
        ticket = undefined;
        // Past the table's rate the batch waits (the stream pauses behind it); a consumer never drops for a limit.
        // keepBody: a retry sends this body again, and refused messages' dead letters are cut from it afterwards.
        return await this.deps.door.write({ table: this.config.table, body, format: 'json', frames, frameFormat: this.config.format, dedupe, onInvalid: 'skip', keepBody: true, rateLimit: 'wait', signal }, t, this.progress);
      } catch (err) {
        // The connection ended: leave the batch uncommitted; the group re-delivers it to whoever reads next.
        if (signal.aborted || (isSluiceError(err) && err.code === 'SHUTTING_DOWN')) throw err;
        this.lastError = err instanceof Error ? err.message : String(err);
        // A remote node's RATE_LIMITED says when the batch fits: wait that, not the back-off (which keeps growing).
        const rateWaitMs = isSluiceError(err, 'RATE_LIMITED') ? err.retryAfterMs : undefined;
        if (rateWaitMs !== undefined) {
          // Cut short when the source stops: the next admit then ends the batch with SHUTTING_DOWN. A minute at most
          // at a time: a wait of days would overflow the timer and retry at once, in a loop.
          await sleep(Math.min(rateWaitMs, RATE_LIMITED_PAUSE_MS_MAX), undefined, { signal }).catch(() => undefined);
          continue;
        }
        this.deps.log.warn({ event: 'kafka_write_retry', source: this.name, err, delayMs: delay }, 'write failed; retrying the batch');
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, RETRY_DELAY_MS_MAX);
      }
    }
  }

  /** Sends a durable batch's dead letters, one transaction per partition, the partitions side by side. */
  private async deadLetter(letters: readonly DeadLetter[], batch: PackedBatch, commits: CommitOrder, seq: number, signal: AbortSignal): Promise<void> {
    const through = batch.newest;
    const byPartition = new Map<number, DeadLetter[]>();
    for (const l of letters) byPartition.set(l.message.partition, [...(byPartition.get(l.message.partition) ?? []), l]);
    await Promise.all(
      [...byPartition].map(async ([partition, ls]) => {
        // Not committed until the broker holds the letters: a crash here re-delivers, nothing is dropped.
        await this.sendLetters(ls, through.get(partition) as KafkaMessage, commits, seq, signal);
        this.deadLettered += ls.length;
        this.deps.observer?.onDeadLettered?.(ls.length);
      }),
    );
  }

  /**
   * Produces one partition's letters and commits its offset past `last` in
   * one transaction, once every earlier batch is done in that partition.
   * While it runs, plain commits leave the partition alone, and one already
   * under way lands first: no older offset of it is committed after the
   * transaction's.
   */
  private async sendLetters(letters: readonly DeadLetter[], last: KafkaMessage, commits: CommitOrder, seq: number, signal: AbortSignal): Promise<void> {
    const partition = last.partition;
    await untilAborted(commits.earlierDone(seq, partition), signal);
    this.lettersInFlight.add(partition);
    try {
      await this.committing;
      const consumer = this.consumer;
      const dlq = this.dlq;
      if (consumer === undefined || dlq === undefined || signal.aborted) throw new SluiceError('SHUTTING_DOWN', 'the source stopped before its dead letters were sent');
      await dlq.send(letters, consumer, last);
      this.committed.set(partition, last.offset + 1n);
    } finally {
      this.lettersInFlight.delete(partition);
    }
    commits.done(seq, [partition]);
    // Later batches of the partition that became durable meanwhile were held behind this one, and a plain commit
    // that ran meanwhile put the partition's offset back: either waits for a commit, which no further batch may bring.
    this.scheduleCommit();
  }

  /**
   * Commits what became durable: at once when the source has nothing else
   * to write (every batch it dispatched is done, nothing is packed),
   * else on the interval. So the group's offsets, and the lag the brokers
   * report, catch up as soon as a burst is stored, and a restart after a
   * quiet spell re-delivers nothing; a busy source still commits at most
   * once per interval.
   */
  private scheduleCommit(): void {
    // Batches finishing in one group commit each call this before the others are done: only the last sees none left.
    if (this.commits.inFlight === 0 && this.unwritten.length === 0) {
      clearTimeout(this.commitTimer);
      this.commitTimer = undefined;
      void this.commitNow();
      return;
    }
    if (this.commitTimer !== undefined) return;
    this.commitTimer = setTimeout(() => {
      this.commitTimer = undefined;
      void this.commitNow();
    }, this.config.commitIntervalMs);
  }

  /** Commits the durable prefix's offsets; a failed commit (a rebalance) is retried with the next one. */
  private commitNow(): Promise<void> {
    this.committing = this.committing.then(async () => {
      const offsets = this.commits.take();
      for (const [partition, o] of offsets) {
        // A dead-letter transaction is committing this partition: its offset goes back in line until that is done.
        if (this.lettersInFlight.has(partition)) this.commits.restore(new Map([[partition, o]]));
        // ...after which offsets it already committed are not committed again (nor older ones, moving the group back).
        if (this.lettersInFlight.has(partition) || (this.committed.get(partition) ?? -1n) >= o.offset) offsets.delete(partition);
      }
      if (offsets.size === 0 || this.consumer === undefined) return;
      // The old incarnation's offsets, committed to the new topic of the same name, would skip its first messages.
      if (newerIncarnation(this.consumer.currentMetadata, this.config.topic, this.incarnation?.topicId) !== undefined) return;
      // Partitions a rebalance gave to another member are its to commit now.
      const owned = this.consumer.assignments?.filter((a) => a.topic === this.config.topic).flatMap((a) => a.partitions);
      if (owned !== undefined) for (const partition of offsets.keys()) if (!owned.includes(partition)) offsets.delete(partition);
      if (offsets.size === 0) return;
      try {
        await this.consumer.commit({
          offsets: [...offsets].map(([partition, o]) => ({ topic: this.config.topic, partition, offset: o.offset, leaderEpoch: o.leaderEpoch })),
        });
        for (const [partition, o] of offsets) this.committed.set(partition, o.offset);
        this.deps.observer?.onCommitted?.(offsets.size);
      } catch (err) {
        // After a rebalance another member owns some partitions; it re-reads from the last commit and the dedupe keys absorb the overlap.
        this.commits.restore(offsets);
        this.deps.log.warn({ event: 'kafka_commit_failed', source: this.name, err }, 'offset commit failed; will retry');
      }
    });
    return this.committing;
  }

  private onLag(lag: Map<string, bigint[]>): void {
    if (this.lastError?.startsWith('cannot reach the brokers') === true) this.lastError = undefined;
    const perPartition = lag.get(this.config.topic) ?? [];
    perPartition.forEach((l, partition) => {
      const n = Number(l);
      // -1: a partition another member owns; its lag is that member's to report.
      if (n < 0) {
        if (this.lag.delete(partition)) this.deps.observer?.onLag?.(this.config.topic, partition, undefined);
        return;
      }
      this.lag.set(partition, n);
      this.deps.observer?.onLag?.(this.config.topic, partition, n);
    });
  }
}
