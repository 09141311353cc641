import { BrookError, type SeekTarget, type StartFrom, type Logger } from "@brook/core";
import {
  IDEMPOTENCY_HEADER,
  assignmentAt,
  placeInLog,
  type OutOfRangePolicy,
  nextAfter,
  waitWithTimeout,
  type CommitSource,
  type DeliverySink,
  type PartitionAssignment,
  type SourceRecord,
} from "@brook/core/spi";
import type { DriverAdmin, DriverBatch, DriverConsumer, DriverRecord } from "./driver.js";
import { toKafkaBrookError } from "./errors.js";
import { BrokerWatchdog } from "./watchdog.js";

const EMPTY = new Uint8Array(0);

export interface KafkaSourceOptions {
  topic: string;
  group: string;
  startFrom: StartFrom;
  /** where a committed position outside the log resumes (subscribe's onOutOfRange) */
  onOutOfRange: OutOfRangePolicy;
  heartbeatIntervalMs: number;
  /** no answer from any broker for this long emits UNAVAILABLE (see watchdog.ts) */
  unavailableAfterMs: number;
  rebalanceTimeoutMs: number;
  /** the bootstrap brokers, for the UNAVAILABLE message */
  brokers: string[];
  /** how long subscribe() waits for the member's first assignment */
  firstAssignmentTimeoutMs: number;
  logger: Logger;
}

/**
 * One consumer-group member. The driver's fetch loop hands batches to `records`, which feeds
 * core at most `sink.available` records at a time and otherwise waits inside the batch (the
 * fetch loop stays stopped, the driver keeps the membership alive). A batch stops being handed
 * on once its partition was sought, revoked or reassigned meanwhile (`epoch`). Core runs the records through its
 * keyed executor and hands back contiguous watermarks to commit.
 *
 * Rebalances follow Kafka's eager protocol: before every JoinGroup the driver awaits
 * `beforeJoin`, which gives all partitions back to core (`sink.revoked`: stop, drain in-flight
 * within core's bound, commit), so no partition changes owner with work in flight and per-key
 * order holds across the hand-over. After the join, `assigned` reads the group's committed
 * offsets, places partitions that have none according to `startFrom` (and commits that start,
 * so it is the group's position from then on) and tells core before a record of them arrives.
 */
export class KafkaSubscriptionSource implements CommitSource {
  readonly settleMode = "commit" as const;
  private sink: DeliverySink | undefined;
  /** partitions core knows as assigned, for the current generation */
  private owned = new Set<number>();
  /** settles when the latest assignment is set up in core; records() waits for it */
  private ready: Promise<void> = Promise.resolve();
  private generation = 0;
  /** bumped by every join and assignment: batches fetched before it are stale */
  private epoch = 0;
  /** per partition, bumped by every seek: batches of it fetched before are stale */
  private readonly seeks = new Map<number, number>();
  private stopping = false;
  private readonly stopped = deferred();
  private readonly firstAssignment = deferred();
  private firstDone = false;
  private readonly watchdog: BrokerWatchdog;

  constructor(
    private readonly consumer: DriverConsumer,
    private readonly admin: DriverAdmin,
    private readonly options: KafkaSourceOptions,
  ) {
    this.watchdog = new BrokerWatchdog({
      unavailableAfterMs: options.unavailableAfterMs,
      rebalanceTimeoutMs: options.rebalanceTimeoutMs,
      what: `consumer of topic "${options.topic}" (group "${options.group}")`,
      brokers: options.brokers,
      logger: options.logger,
      unavailable: (error) => {
        if (!this.stopping) this.sink?.error(error);
      },
    });
  }

  async start(sink: DeliverySink): Promise<void> {
    this.sink = sink;
    try {
      await this.consumer.run(this.options.topic, {
        records: (batch) => this.records(batch),
        beforeJoin: () => this.beforeJoin(),
        assigned: (partitions) => this.assigned(partitions),
        crashed: (error, restarting) => this.crashed(error, restarting),
        answered: (broker) => this.watchdog.answered(broker),
        joining: () => this.watchdog.joining(),
      });
      // Resolve once this member owns its first partitions (set up in core), so a caller can
      // publish right after subscribe(); bounded, as the group may be slow to settle.
      await waitWithTimeout(Promise.race([this.firstAssignment.promise, this.stopped.promise]), this.options.firstAssignmentTimeoutMs);
    } catch (err) {
      await this.stop().catch(() => undefined);
      throw toKafkaBrookError(err, `subscribe to topic "${this.options.topic}" (group "${this.options.group}")`);
    }
  }

  async commit(watermarks: Map<string, string>): Promise<void> {
    const offsets = [...watermarks].map(([partition, last]) => ({ partition: Number(partition), offset: nextAfter(last) }));
    try {
      await this.consumer.commit(this.options.topic, offsets);
    } catch (err) {
      throw toKafkaBrookError(err, `commit offsets of topic "${this.options.topic}" for group "${this.options.group}"`);
    }
  }

  async seek(target: SeekTarget): Promise<void> {
    const { topic } = this.options;
    await this.ready;
    const owned = [...this.owned];
    const positions = new Map<number, bigint>();
    if ("time" in target) {
      const offsets = await this.admin.offsetsForTime(topic, target.time.getTime()).catch((err: unknown) => {
        throw toKafkaBrookError(err, `look up offsets of topic "${topic}" by time`);
      });
      for (const o of offsets) if (this.owned.has(o.partition)) positions.set(o.partition, BigInt(o.offset));
    } else {
      for (const p of target.positions) {
        const partition = Number(p.partition);
        if (!Number.isSafeInteger(partition) || !this.owned.has(partition)) {
          throw new BrookError("INVALID_ARGUMENT", `positions: partition "${p.partition}" is not assigned to this subscriber (assigned: ${owned.join(", ") || "none"})`);
        }
        positions.set(partition, parseOffset(p.offset));
      }
    }
    // Synchronously, so no batch of these partitions is handed to core in between: the driver
    // drops fetched records of a partition with a pending seek, and core forgets in-flight work.
    for (const [partition, offset] of positions) {
      this.seeks.set(partition, (this.seeks.get(partition) ?? 0) + 1);
      try {
        this.consumer.seek(topic, partition, offset.toString());
      } catch (err) {
        throw toKafkaBrookError(err, `seek partition ${partition} of topic "${topic}"`);
      }
      this.sink?.reset(String(partition), assignmentAt(String(partition), offset));
    }
    // The seek is the group's new position: commit it so a restart resumes from here.
    if (positions.size > 0) {
      await this.consumer
        .commit(topic, [...positions].map(([partition, offset]) => ({ partition, offset: offset.toString() })))
        .catch((err: unknown) => {
          throw toKafkaBrookError(err, `commit the seek position of topic "${topic}"`);
        });
    }
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.watchdog.stop();
    this.stopped.resolve();
    await this.consumer.stop();
  }

  // ---- driver hooks ----

  private async records(batch: DriverBatch): Promise<void> {
    // Taken before waiting for the assignment's set-up: its seeks make this batch stale.
    const id = batch.partition;
    const epoch = this.epoch;
    const seeks = this.seeks.get(id) ?? 0;
    await this.ready;
    const sink = this.sink!;
    const partition = String(id);
    const stale = (): boolean =>
      epoch !== this.epoch || seeks !== (this.seeks.get(id) ?? 0) || !this.owned.has(id) || this.stopping || sink.closing;
    if (stale()) return;
    sink.reportEnd(partition, batch.highWatermark);
    const messages = batch.messages;
    let next = 0;
    while (next < messages.length) {
      const room = sink.available;
      if (room === 0) {
        await this.waitForCapacity(stale);
        if (stale()) return;
        continue;
      }
      const end = Math.min(messages.length, next + room);
      const records: SourceRecord[] = new Array(end - next);
      for (let i = next; i < end; i++) records[i - next] = toSourceRecord(partition, messages[i]!);
      sink.deliver(records);
      next = end;
      if (next < messages.length && stale()) return;
    }
  }

  /**
   * Back-pressure: core is at maxInFlight. Waiting here keeps the driver's fetch loop stopped
   * until core has room (KafkaJS fetches every partition of a broker in one loop, so a paused
   * partition set would only be looked at again after a full fetch wait). The driver keeps the
   * membership meanwhile; a rebalance makes the batch stale (beforeJoin bumps the epoch), which
   * is checked every heartbeat interval.
   */
  private async waitForCapacity(stale: () => boolean): Promise<void> {
    const sink = this.sink!;
    const capacity = Promise.race([sink.waitForCapacity(), this.stopped.promise]);
    while (!(await waitWithTimeout(capacity, this.options.heartbeatIntervalMs))) {
      if (stale()) return;
    }
  }

  private async beforeJoin(): Promise<void> {
    this.epoch += 1;
    const revoked = [...this.owned].map(String);
    this.owned = new Set();
    const sink = this.sink;
    if (revoked.length === 0 || sink === undefined || this.stopping) return;
    // Core stops work on them, waits (bounded) for in-flight messages and commits. The wait is
    // the adapter's own, not the cluster's silence.
    this.watchdog.hold();
    try {
      await Promise.race([sink.revoked(revoked), this.stopped.promise]);
    } finally {
      this.watchdog.release();
    }
  }

  private assigned(partitions: number[]): void {
    // Nothing is fetched until setUp has placed each partition: KafkaJS resets an out-of-range
    // position by itself (committing "latest" over the group's offset), which must not happen
    // before Brook has checked the position and said what was skipped.
    this.consumer.pause(this.options.topic, partitions);
    this.epoch += 1;
    const generation = ++this.generation;
    this.owned = new Set();
    this.ready = this.setUp(partitions, generation).catch((err: unknown) => {
      this.sink?.error(toKafkaBrookError(err, `set up the assignment of topic "${this.options.topic}" (group "${this.options.group}")`));
    });
  }

  private async setUp(partitions: number[], generation: number): Promise<void> {
    const sink = this.sink;
    if (sink === undefined) return;
    const { topic, group } = this.options;
    const committed = partitions.length === 0 ? new Map<number, string | undefined>() : await this.admin.committedOffsets(group, topic);
    const unplaced = partitions.filter((p) => committed.get(p) === undefined);
    const starts = unplaced.length === 0 ? new Map<number, bigint>() : await this.initialOffsets(unplaced);
    const { moved, unread, errors } = await this.checkInLog(partitions.filter((p) => committed.get(p) !== undefined), committed);
    for (const [partition, next] of moved) starts.set(partition, next);
    if (generation !== this.generation || this.stopping) return;
    for (const [partition, offset] of starts) {
      this.seeks.set(partition, (this.seeks.get(partition) ?? 0) + 1);
      this.consumer.seek(topic, partition, offset.toString());
    }
    const unreadSet = new Set(unread);
    this.consumer.resume(topic, partitions.filter((p) => !unreadSet.has(p)));
    const assignments: PartitionAssignment[] = partitions.map((p) => assignmentAt(String(p), starts.get(p) ?? committed.get(p)!));
    sink.assigned(assignments);
    for (const error of errors) sink.error(error);
    this.owned = new Set(partitions);
    this.firstDone = true;
    this.firstAssignment.resolve();
    if (starts.size > 0) {
      // The start position becomes the group's committed position, so whichever member owns
      // the partition next (or this one after a restart) continues from it.
      await this.consumer.commit(topic, [...starts].map(([partition, offset]) => ({ partition, offset: offset.toString() }))).catch((err: unknown) => {
        sink.error(toKafkaBrookError(err, `commit the start position of topic "${topic}" for group "${group}"`));
      });
    }
  }

  /**
   * A committed position that retention removed, or that is past the log's end, is never
   * followed silently (Kafka's client would reset it quietly): it moves by onOutOfRange with
   * an OUT_OF_RANGE error naming the skipped offsets, or the partition is left unread.
   */
  private async checkInLog(
    partitions: number[],
    committed: Map<number, string | undefined>,
  ): Promise<{ moved: Map<number, bigint>; unread: number[]; errors: BrookError[] }> {
    const moved = new Map<number, bigint>();
    const unread: number[] = [];
    const errors: BrookError[] = [];
    if (partitions.length === 0) return { moved, unread, errors };
    const { topic, group, onOutOfRange } = this.options;
    const bounds = new Map((await this.admin.topicOffsets(topic)).map((o) => [o.partition, o]));
    for (const p of partitions) {
      const b = bounds.get(p);
      if (b === undefined) continue;
      const wanted = BigInt(committed.get(p)!);
      const placed = placeInLog(`topic "${topic}" partition ${p} (group "${group}")`, wanted, BigInt(b.low), BigInt(b.high), onOutOfRange);
      if (placed.error === undefined) continue;
      errors.push(placed.error);
      if (placed.next === undefined) unread.push(p);
      else moved.set(p, placed.next);
    }
    return { moved, unread, errors };
  }

  /** Where partitions without a committed offset start (`startFrom`). */
  private async initialOffsets(partitions: number[]): Promise<Map<number, bigint>> {
    const { topic, startFrom } = this.options;
    const out = new Map<number, bigint>();
    const bounds = new Map((await this.admin.topicOffsets(topic)).map((o) => [o.partition, o]));
    let byTime: Map<number, string> | undefined;
    if (typeof startFrom === "object" && "time" in startFrom) {
      byTime = new Map((await this.admin.offsetsForTime(topic, startFrom.time.getTime())).map((o) => [o.partition, o.offset]));
    }
    for (const p of partitions) {
      const b = bounds.get(p);
      const low = BigInt(b?.low ?? "0");
      const high = BigInt(b?.high ?? "0");
      let offset: bigint;
      if (startFrom === "earliest") offset = low;
      else if (startFrom === "latest") offset = high;
      else if ("time" in startFrom) offset = BigInt(byTime?.get(p) ?? b?.high ?? "0");
      else {
        const pos = startFrom.positions.find((x) => Number(x.partition) === p);
        offset = pos === undefined ? high : parseOffset(pos.offset);
      }
      // Outside the retained log, Kafka would reset anyway; say where this member really starts.
      out.set(p, offset < low ? low : offset > high ? high : offset);
    }
    return out;
  }

  private crashed(error: unknown, restarting: boolean): void {
    const brookError = toKafkaBrookError(error, `consumer of topic "${this.options.topic}" (group "${this.options.group}") stopped`);
    if (restarting) {
      // The client reconnects and rejoins by itself (e.g. the group coordinator was loading).
      this.options.logger.warn(`${brookError.message}; the Kafka client restarts it`);
      return;
    }
    // The client gave up for good: this error is the report, the watchdog has nothing to add.
    this.watchdog.stop();
    this.sink?.error(brookError);
    if (!this.firstDone) this.firstAssignment.reject(brookError);
  }
}

function toSourceRecord(partition: string, m: DriverRecord): SourceRecord {
  return {
    partition,
    offset: m.offset,
    key: m.key === null ? undefined : m.key.toString("utf8"),
    idempotencyKey: m.headers[IDEMPOTENCY_HEADER],
    headers: m.headers,
    value: m.value ?? EMPTY,
    publishTime: new Date(Number(m.timestamp)),
  };
}

function parseOffset(offset: string): bigint {
  if (!/^\d+$/.test(offset)) throw new BrookError("INVALID_ARGUMENT", `offset: expected a non-negative integer string, got "${offset}"`);
  return BigInt(offset);
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

