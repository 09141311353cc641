import type { PublishBatchResult } from "@brook/core";
import type { WireMessage } from "@brook/core/spi";
import { BrookError, partitionForKey, validateTopicName } from "@brook/core/base";
import type { AppendInput, PartitionLog, Store, TopicConfig } from "./storage/types.js";
import { StoredRun } from "./storage/file-format.js";
import { GroupCoordinator, type GroupMember } from "./coordinator.js";
import type { AppendOptions, CreateTopicConfig, EngineApi, FetchResult, FetchRunResult, GroupDescription, PartitionInfo, TopicDetails } from "./engine-api.js";
import { describeGroups } from "./groups.js";
import { messageSizeError, validateAppendCount, validateName, validatePartitionCount } from "./limits.js";

export const DEFAULT_RETENTION_MS = 7 * 24 * 3600_000;
export const DEFAULT_DEDUPE_WINDOW_MS = 2 * 60_000;

export interface EngineOptions {
  /** how long a publish idempotency key is remembered (default 2 min) */
  dedupeWindowMs?: number;
  /** how often retention runs (default 60 s) */
  retentionCheckMs?: number;
  /** largest message accepted, in bytes (default 1 MiB) */
  maxMessageBytes?: number;
  now?: () => number;
}

interface Topic {
  name: string;
  config: TopicConfig;
  logs: PartitionLog[];
  /** round-robin cursor for messages without a key */
  nextUnkeyed: number;
  /** recent keys: their partition and UTF-8 bytes, so a repeated key is hashed and encoded once */
  keys: Map<string, KeyInfo>;
}

interface KeyInfo {
  partition: number;
  bytes: Buffer;
}

/** Keys remembered per topic; the cache starts over when full (a bound, not an LRU). */
const KEY_CACHE_SIZE = 8192;

function keyInfo(topic: Topic, key: string): KeyInfo {
  let info = topic.keys.get(key);
  if (info === undefined) {
    const bytes = Buffer.from(key, "utf8");
    info = { partition: partitionForKey(bytes, topic.config.partitions), bytes };
    if (topic.keys.size >= KEY_CACHE_SIZE) topic.keys.clear();
    topic.keys.set(key, info);
  }
  return info;
}

/**
 * True when every message is unkeyed, carries no idempotency key and is within the size limit:
 * the call then appends them as they are to one partition (the common publishBatch).
 */
function allPlain(messages: readonly WireMessage[], maxMessageBytes: number): boolean {
  if (messages.length === 0) return false;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (m.key !== undefined || m.idempotencyKey !== undefined || messageSizeError(m, maxMessageBytes) !== undefined) return false;
  }
  return true;
}

/**
 * Key → index of its first occurrence among messages[0, end) that this call claims (those whose
 * result is still unset: not too large, not a duplicate of the window).
 */
function firstOccurrences(messages: readonly WireMessage[], end: number, results: readonly (PublishBatchResult | undefined)[]): Map<string, number> {
  const seen = new Map<string, number>();
  for (let i = 0; i < end; i++) {
    const idem = messages[i]!.idempotencyKey;
    if (idem !== undefined && results[i] === undefined && !seen.has(idem)) seen.set(idem, i);
  }
  return seen;
}

/**
 * The log engine behind `memory:`, `local:` and `brook://`: topics of partitions, appends with
 * the publish dedupe window, reads with long-poll waits, offsets by time, retention, and the
 * group coordinator. Storage is pluggable (memory or file) through `Store`. It is the in-process
 * `EngineApi`: `memory:` and `local:` brokers use it directly.
 */
/** One topic's claimed idempotency keys (key → the call appending it) and the calls holding claims. */
interface PendingAppends {
  claims: Map<string, Promise<void>>;
  holders: number;
}

/** Rounds a publish waits for in-flight appends of its idempotency keys before going ahead. */
const MAX_IDEMPOTENCY_WAITS = 100;

export class LogEngine implements EngineApi {
  readonly coordinator: GroupCoordinator;
  private readonly topics = new Map<string, Topic>();
  /** topics whose partitions are being opened: one creation per name at a time */
  private readonly creating = new Map<string, Promise<void>>();
  private readonly dataWaiters = new Map<string, Set<() => void>>();
  private readonly dedupeWindowMs: number;
  /**
   * Per topic: idempotency keys whose append is being written, to the call writing them. Nested
   * (not one Map of "topic\0key"), so a publish claims its keys without building a string each.
   * `holders` counts the calls between claiming and releasing: the last one out drops the whole
   * map (every claim left in it is its own) instead of deleting its keys one by one.
   */
  private readonly pendingAppends = new Map<string, PendingAppends>();
  readonly maxMessageBytes: number;
  private readonly now: () => number;
  private retentionTimer: NodeJS.Timeout | undefined;
  /** close() calls still to come before the engine shuts down (see retain) */
  private owners = 1;
  private closed = false;

  private constructor(
    readonly store: Store,
    options: EngineOptions,
  ) {
    this.dedupeWindowMs = options.dedupeWindowMs ?? DEFAULT_DEDUPE_WINDOW_MS;
    this.maxMessageBytes = options.maxMessageBytes ?? 1024 * 1024;
    this.now = options.now ?? Date.now;
    this.coordinator = new GroupCoordinator(this);
    const every = options.retentionCheckMs ?? 60_000;
    this.retentionTimer = setInterval(() => void this.applyRetention().catch(() => undefined), every);
    this.retentionTimer.unref();
  }

  static async open(store: Store, options: EngineOptions = {}): Promise<LogEngine> {
    const engine = new LogEngine(store, options);
    for (const [name, config] of store.metadata.topics()) {
      const logs: PartitionLog[] = [];
      for (let p = 0; p < config.partitions; p++) logs.push(await store.openPartition(name, p));
      engine.topics.set(name, { name, config, logs, nextUnkeyed: 0, keys: new Map() });
      await engine.restoreDedupe(name, logs);
    }
    return engine;
  }

  /**
   * FORMAT.md §7 "Dedupe window": every record carries its idempotency key, so after an unclean
   * stop the window is restored from the log — a key is remembered exactly when its record is,
   * even if the crash came before its dedupe entry was written.
   */
  private async restoreDedupe(topic: string, logs: readonly PartitionLog[]): Promise<void> {
    const now = this.now();
    const metadata = this.store.metadata;
    for (let partition = 0; partition < logs.length; partition++) {
      const log = logs[partition]!;
      if (log.recoveredUnclean !== true) continue;
      // Entries are journaled in append order: start after the last one the journal has.
      const last = metadata.lastDedupeOffset?.(topic, partition);
      let from = Math.max(await log.offsetForTime(now - this.dedupeWindowMs), last === undefined ? 0 : last + 1);
      try {
        while (from < log.endOffset) {
          const records = await log.read(from, 1000);
          if (records.length === 0) break;
          for (const r of records) {
            const expiresAt = r.timestamp + this.dedupeWindowMs;
            if (r.idempotencyKey === undefined || expiresAt <= now) continue;
            if (metadata.dedupeGet(topic, r.idempotencyKey, now) === undefined) {
              metadata.dedupePut(topic, r.idempotencyKey, { partition, offset: r.offset, expiresAt });
            }
          }
          from = records[records.length - 1]!.offset + 1;
        }
      } catch (err) {
        // Damage stops the restore at the damage; reading there reports it (CORRUPT_DATA).
        if (!(err instanceof BrookError && err.code === "CORRUPT_DATA")) throw err;
      }
    }
  }

  // ---- topics ----

  /**
   * Creates a topic. Of concurrent creations of one name exactly one succeeds; the others wait
   * for it and then get ALREADY_EXISTS, or resolve with `ifNotExists` (seeing its partitions).
   */
  async createTopic(name: string, options: CreateTopicConfig = {}, ifNotExists = false): Promise<void> {
    this.ensureOpen();
    validateTopicName(name);
    const partitions = validatePartitionCount(options.partitions ?? 1);
    const retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
    if (!(retentionMs > 0)) throw new BrookError("INVALID_ARGUMENT", `retentionMs: expected a number > 0, got ${String(retentionMs)}`);
    if (options.retentionBytes !== undefined && !(options.retentionBytes > 0)) {
      throw new BrookError("INVALID_ARGUMENT", `retentionBytes: expected a number > 0, got ${String(options.retentionBytes)}`);
    }
    for (;;) {
      if (this.topics.has(name)) {
        if (ifNotExists) return;
        throw new BrookError("ALREADY_EXISTS", `topic "${name}" already exists`);
      }
      const pending = this.creating.get(name);
      if (pending === undefined) break;
      // Another call is creating it: its outcome decides (a failed creation lets this one try).
      await pending.catch(() => undefined);
      this.ensureOpen();
    }
    const config: TopicConfig = { partitions, retentionMs, retentionBytes: options.retentionBytes, createdAt: this.now() };
    const creation = this.openNewTopic(name, config);
    this.creating.set(name, creation);
    try {
      await creation;
    } finally {
      this.creating.delete(name);
    }
  }

  /** Opens a new topic's partitions and records it; on failure closes and removes what it made. */
  private async openNewTopic(name: string, config: TopicConfig): Promise<void> {
    const logs: PartitionLog[] = [];
    try {
      for (let p = 0; p < config.partitions; p++) {
        logs.push(await this.store.openPartition(name, p));
        // Opening a partition on disk is mostly synchronous file work (~0.5 ms): let the
        // event loop (a server's other clients) run between small groups of them.
        if (p % 16 === 15) await yieldToEventLoop();
      }
      await this.store.metadata.putTopic(name, config);
    } catch (err) {
      for (const log of logs) await log.close().catch(() => undefined);
      await this.store.deleteTopic(name).catch(() => undefined);
      throw err;
    }
    this.topics.set(name, { name, config, logs, nextUnkeyed: 0, keys: new Map() });
  }

  async deleteTopic(name: string): Promise<void> {
    const topic = this.topic(name);
    this.topics.delete(name);
    this.coordinator.topicDeleted(name);
    for (let p = 0; p < topic.logs.length; p++) {
      await topic.logs[p]!.close();
      if (p % 16 === 15) await yieldToEventLoop();
    }
    // the store removes the directory first (FORMAT.md §8a), then the metadata forgets it
    await this.store.deleteTopic(name);
    await this.store.metadata.deleteTopic(name);
    this.wakeAll(name);
  }

  hasTopic(name: string): boolean {
    return this.topics.has(name);
  }

  /** Topic names, sorted. */
  topicNames(): string[] {
    return [...this.topics.keys()].sort();
  }

  async listTopics(): Promise<string[]> {
    this.ensureOpen();
    return this.topicNames();
  }

  /** Start, end and size of each partition now; throws TOPIC_NOT_FOUND. */
  partitionInfo(name: string): PartitionInfo[] {
    return this.topic(name).logs.map((log, partition) => ({ partition, start: log.startOffset, end: log.endOffset, bytes: log.sizeBytes() }));
  }

  async describeTopic(name: string): Promise<TopicDetails> {
    return { name, config: this.topic(name).config, partitions: this.partitionInfo(name) };
  }

  partitionCount(name: string): number {
    return this.topic(name).config.partitions;
  }

  /** Throws TOPIC_NOT_FOUND naming the topic, or CLOSED once the engine is closed. */
  topic(name: string): Topic {
    this.ensureOpen();
    const topic = this.topics.get(name);
    if (topic === undefined) throw new BrookError("TOPIC_NOT_FOUND", `topic "${name}" does not exist`);
    return topic;
  }

  // ---- publish ----

  /**
   * Appends messages: keyed ones by Kafka's murmur2 partitioner, unkeyed ones round-robin per
   * call. A repeated idempotency key within the window is not appended; its result is the
   * original position with duplicate: true. One result per message, in order.
   * `options.partition` puts every message in that partition (a Kafka producer's choice).
   */
  async append(topicName: string, messages: readonly WireMessage[], options: AppendOptions = {}): Promise<PublishBatchResult[]> {
    this.ensureOpen();
    this.topic(topicName);
    validateAppendCount(messages.length);
    // A repeat of a key whose first append is still being written (a retry on another
    // connection before the first's fsync finished) waits for it, then finds it in the window.
    for (let round = 0; round < MAX_IDEMPOTENCY_WAITS; round++) {
      const pending = this.pendingAppendsOf(topicName, messages);
      if (pending.length === 0) break;
      await Promise.allSettled(pending);
      this.ensureOpen();
    }
    // From here to the first await: checking the window and claiming this call's keys is one step.
    const topic = this.topic(topicName);
    const chosen = options.partition;
    if (chosen !== undefined && !(Number.isInteger(chosen) && chosen >= 0 && chosen < topic.config.partitions)) {
      throw new BrookError("INVALID_ARGUMENT", `partition: topic "${topicName}" has no partition ${String(chosen)} (it has ${topic.config.partitions})`);
    }
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const claimed: string[] = [];
    let pending = this.pendingAppends.get(topicName);
    if (pending === undefined) this.pendingAppends.set(topicName, (pending = { claims: new Map(), holders: 0 }));
    pending.holders += 1;
    try {
      return await this.appendNow(topic, topicName, messages, finished, claimed, pending.claims, chosen);
    } finally {
      pending.holders -= 1;
      if (pending.holders === 0) {
        // No other call holds claims here: the ones left are this call's (a claim is only ever
        // released by the call holding it), so the map goes whole.
        if (this.pendingAppends.get(topicName) === pending) this.pendingAppends.delete(topicName);
      } else {
        const claims = pending.claims;
        for (const key of claimed) if (claims.get(key) === finished) claims.delete(key);
      }
      finish();
    }
  }

  /** The in-flight appends holding any of these messages' idempotency keys on the topic. */
  private pendingAppendsOf(topicName: string, messages: readonly WireMessage[]): Promise<void>[] {
    const pending = this.pendingAppends.get(topicName)?.claims;
    if (pending === undefined || pending.size === 0) return [];
    const out = new Set<Promise<void>>();
    for (const m of messages) {
      if (m.idempotencyKey === undefined) continue;
      const p = pending.get(m.idempotencyKey);
      if (p !== undefined) out.add(p);
    }
    return [...out];
  }

  private async appendNow(
    topic: Topic,
    topicName: string,
    messages: readonly WireMessage[],
    finished: Promise<void>,
    claimed: string[],
    pending: Map<string, Promise<void>>,
    chosen: number | undefined,
  ): Promise<PublishBatchResult[]> {
    const now = this.now();
    const results: PublishBatchResult[] = new Array(messages.length);
    // Per partition: the message indexes and records of this call (arrays, not a Map).
    const slotIndexes: Array<number[] | undefined> = [];
    const slotRecords: Array<AppendInput[] | undefined> = [];
    const used: number[] = [];
    // Built only when a key repeats inside this call (rare): key → index of its first occurrence.
    let seenInCall: Map<string, number> | undefined;
    const unkeyedPartition = topic.nextUnkeyed;
    topic.nextUnkeyed = (topic.nextUnkeyed + 1) % topic.config.partitions;
    const metadata = this.store.metadata;
    let dupes = false;
    if (allPlain(messages, this.maxMessageBytes)) return this.appendPlain(topic, topicName, chosen ?? unkeyedPartition, messages, now);

    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      const tooLarge = messageSizeError(m, this.maxMessageBytes);
      if (tooLarge !== undefined) {
        results[i] = { ok: false, error: tooLarge };
        continue;
      }
      const idem = m.idempotencyKey;
      if (idem !== undefined) {
        // Other calls' claims were waited for in append(): a claim by `finished` is this call's.
        if (pending.get(idem) === finished) {
          seenInCall ??= firstOccurrences(messages, i, results);
          results[i] = { ok: true, position: { partition: "", offset: "" }, duplicate: true };
          (results[i] as { dupOf?: number }).dupOf = seenInCall.get(idem)!;
          dupes = true;
          continue;
        }
        const entry = metadata.dedupeGet(topicName, idem, now);
        if (entry !== undefined) {
          results[i] = { ok: true, position: { partition: String(entry.partition), offset: String(entry.offset) }, duplicate: true };
          continue;
        }
        pending.set(idem, finished);
        claimed.push(idem);
        seenInCall?.set(idem, i);
      }
      let partition: number;
      let key: Buffer | undefined;
      if (m.key === undefined) partition = chosen ?? unkeyedPartition;
      else {
        const info = keyInfo(topic, m.key);
        key = info.bytes;
        partition = chosen ?? info.partition;
      }
      let indexes = slotIndexes[partition];
      let records = slotRecords[partition];
      if (indexes === undefined || records === undefined) {
        slotIndexes[partition] = indexes = [];
        slotRecords[partition] = records = [];
        used.push(partition);
      }
      indexes.push(i);
      // An unkeyed message is appended as it is (its timestamp is the call's `now`); a keyed one
      // carries its key's bytes instead of the string.
      if (m.key === undefined) records.push(m as AppendInput);
      else records.push({ key, idempotencyKey: m.idempotencyKey, headers: m.headers, value: m.value });
    }

    const appendOne = async (partition: number): Promise<void> => {
      const indexes = slotIndexes[partition]!;
      const log = topic.logs[partition]!;
      try {
        const base = await log.append(slotRecords[partition]!, now);
        const partitionId = String(partition);
        for (let j = 0; j < indexes.length; j++) {
          const index = indexes[j]!;
          const offset = base + j;
          results[index] = { ok: true, position: { partition: partitionId, offset: String(offset) }, duplicate: false };
          const idem = messages[index]!.idempotencyKey;
          if (idem !== undefined) metadata.dedupePut(topicName, idem, { partition, offset, expiresAt: now + this.dedupeWindowMs });
        }
        this.wake(topicName, partition);
      } catch (err) {
        const error = err instanceof BrookError ? err : new BrookError("UNAVAILABLE", `append to ${topicName}/${partition} failed: ${(err as Error).message}`, { cause: err });
        for (const index of indexes) results[index] = { ok: false, error };
      }
    };
    if (used.length === 1) await appendOne(used[0]!);
    else if (used.length > 1) await Promise.all(used.map(appendOne));
    if (!dupes) return results;

    // A repeat inside one call gets the position its first occurrence received.
    for (let i = 0; i < results.length; i++) {
      const dupOf = (results[i] as { dupOf?: number } | undefined)?.dupOf;
      if (dupOf !== undefined) {
        const first = results[dupOf]!;
        results[i] = first.ok ? { ok: true, position: first.position, duplicate: true } : first;
      }
    }
    return results;
  }

  /**
   * appendNow for a call whose messages all go to one partition as they are (see allPlain): the
   * messages are the records and result i is offset base + i, with no per-partition index or
   * record arrays (2 arrays of 10,000 grown by push per call before).
   */
  private async appendPlain(topic: Topic, topicName: string, partition: number, messages: readonly WireMessage[], now: number): Promise<PublishBatchResult[]> {
    const count = messages.length;
    const results: PublishBatchResult[] = new Array(count);
    try {
      const base = await topic.logs[partition]!.append(messages as readonly AppendInput[], now);
      const partitionId = String(partition);
      for (let i = 0; i < count; i++) results[i] = { ok: true, position: { partition: partitionId, offset: String(base + i) }, duplicate: false };
      this.wake(topicName, partition);
    } catch (err) {
      const error = err instanceof BrookError ? err : new BrookError("UNAVAILABLE", `append to ${topicName}/${partition} failed: ${(err as Error).message}`, { cause: err });
      for (let i = 0; i < count; i++) results[i] = { ok: false, error };
    }
    return results;
  }

  // ---- consume ----

  log(topicName: string, partition: number): PartitionLog {
    const log = this.topic(topicName).logs[partition];
    if (log === undefined) throw new BrookError("INVALID_ARGUMENT", `partition: topic "${topicName}" has no partition ${partition}`);
    return log;
  }

  /**
   * Kafka's DeleteRecords (kafka-wire): drops the partition's records below `beforeOffset`
   * (at most its end) and resolves with the new start offset; a committed position below it is
   * then OUT_OF_RANGE for its reader, as after retention. The file store refuses (UNSUPPORTED).
   */
  async deleteRecords(topicName: string, partition: number, beforeOffset: number): Promise<number> {
    const log = this.log(topicName, partition);
    if (!Number.isSafeInteger(beforeOffset) || beforeOffset < 0 || beforeOffset > log.endOffset) {
      throw new BrookError("OUT_OF_RANGE", `deleteRecords: offset ${beforeOffset} of topic "${topicName}" partition ${partition} is outside [0, ${log.endOffset}]`);
    }
    if (log.deleteBefore === undefined) {
      throw new BrookError("UNSUPPORTED", `deleteRecords: the file store drops whole segments by retention only, not records below an offset (topic "${topicName}")`);
    }
    return log.deleteBefore(beforeOffset);
  }

  /** Reads from `offset`; when nothing is there yet, waits up to `waitMs` for an append. */
  async fetch(topicName: string, partition: number, offset: number, maxRecords: number, waitMs: number, signal?: AbortSignal): Promise<FetchResult> {
    const { records, endOffset } = await this.fetchWith(topicName, partition, offset, waitMs, signal, (log) => log.read(offset, maxRecords), []);
    return { records, endOffset };
  }

  /** fetch() as one run of records decoded on demand (the embedded subscriber's read). */
  async fetchRuns(topicName: string, partition: number, offset: number, maxRecords: number, waitMs: number, signal?: AbortSignal): Promise<FetchRunResult> {
    const { records, endOffset } = await this.fetchWith(topicName, partition, offset, waitMs, signal, (log) => log.readRuns(offset, maxRecords), new StoredRun());
    return { run: records, endOffset };
  }

  private async fetchWith<Out extends { length: number }>(
    topicName: string,
    partition: number,
    offset: number,
    waitMs: number,
    signal: AbortSignal | undefined,
    read: (log: PartitionLog) => Promise<Out>,
    none: Out,
  ): Promise<{ records: Out; endOffset: number }> {
    const log = this.log(topicName, partition);
    if (offset < log.startOffset || offset > log.endOffset) {
      // Never clamped silently: the reader decides (onOutOfRange) and says what it skipped.
      throw new BrookError(
        "OUT_OF_RANGE",
        `fetch: offset ${offset} of topic "${topicName}" partition ${partition} is outside the log [${log.startOffset}, ${log.endOffset}]`,
      );
    }
    let records = await read(log);
    if (records.length === 0 && waitMs > 0 && offset >= log.endOffset) {
      await this.waitForData(topicName, partition, waitMs, signal);
      if (!this.topics.has(topicName)) return { records: none, endOffset: log.endOffset };
      records = await read(log);
    }
    return { records, endOffset: log.endOffset };
  }

  async offsetForTime(topicName: string, partition: number, time: number): Promise<number> {
    return this.log(topicName, partition).offsetForTime(time);
  }

  private waitForData(topic: string, partition: number, waitMs: number, signal?: AbortSignal): Promise<void> {
    const id = `${topic}/${partition}`;
    return new Promise((resolve) => {
      let set = this.dataWaiters.get(id);
      if (set === undefined) this.dataWaiters.set(id, (set = new Set()));
      const waiters = set;
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      signal?.addEventListener("abort", done, { once: true });
      waiters.add(done);
    });
  }

  private wake(topic: string, partition: number): void {
    const set = this.dataWaiters.get(`${topic}/${partition}`);
    if (set === undefined) return;
    for (const done of [...set]) done();
  }

  private wakeAll(topic: string): void {
    for (const [id, set] of this.dataWaiters) if (id.startsWith(`${topic}/`)) for (const done of [...set]) done();
  }

  // ---- groups ----

  async committed(group: string, topic: string): Promise<Map<number, number>> {
    this.ensureOpen();
    validateName(group, "group");
    return this.store.metadata.committed(group, topic);
  }

  /** Records each partition's next offset for the group, one after the other. */
  /**
   * Commits a group's positions ("next to read"). Fenced: a commit from a group member is
   * accepted only for partitions that member owns now, so a member that was evicted (paused
   * past its session timeout) or lost the partition in a rebalance can never move the group
   * back with a stale watermark; it gets FENCED and rejoins. A commit without a member (an
   * operator's) is refused while the group has members. A position past the log's end is
   * refused: the group would wait there for messages that may never come.
   */
  async commit(group: string, topic: string, offsets: Map<number, number>, memberId?: string): Promise<void> {
    const t = this.topic(topic);
    for (const [partition, next] of offsets) {
      const log = t.logs[partition];
      if (log === undefined) {
        throw new BrookError("INVALID_ARGUMENT", `commit: topic "${topic}" has no partition ${partition} (it has ${t.logs.length})`);
      }
      if (!Number.isSafeInteger(next) || next < 0 || next > log.endOffset) {
        throw new BrookError("INVALID_ARGUMENT", `commit: offset ${next} of topic "${topic}" partition ${partition} is outside 0..${log.endOffset} (the log's end)`);
      }
      if (memberId !== undefined && !this.coordinator.owns(group, topic, memberId, partition)) {
        throw new BrookError(
          "FENCED",
          `commit refused: member ${memberId} of group "${group}" no longer owns partition ${partition} of topic "${topic}" (evicted or revoked); the group's position stays where its current owner put it`,
        );
      }
    }
    if (memberId === undefined && this.coordinator.hasMembers(group, topic)) {
      throw new BrookError("INVALID_ARGUMENT", `commit: group "${group}" of topic "${topic}" has members; positions change through them (seek) while it does`);
    }
    for (const [partition, next] of offsets) await this.store.metadata.commit(group, topic, partition, next);
  }

  /**
   * Forgets a group's committed offsets on a topic. Like an operator's commit, refused while
   * the group has members there: they would commit their positions again a second later.
   */
  async deleteGroup(group: string, topic: string): Promise<void> {
    this.ensureOpen();
    this.topic(topic);
    // forget() refuses a group with members, atomically with the check.
    if (!this.coordinator.forget(group, topic)) {
      throw new BrookError("INVALID_ARGUMENT", `deleteGroup: group "${group}" of topic "${topic}" has members; stop them first`);
    }
    await this.store.metadata.deleteGroup(group, topic);
  }

  /** Adds a member to the group; resolves after the rebalance it causes. TOPIC_NOT_FOUND first. */
  async join(group: string, topic: string, member: GroupMember): Promise<void> {
    validateName(group, "group");
    this.topic(topic);
    return this.coordinator.join(group, topic, member);
  }

  leave(group: string, topic: string, memberId: string): Promise<void> {
    return this.coordinator.leave(group, topic, memberId);
  }

  async describeGroups(): Promise<GroupDescription[]> {
    this.ensureOpen();
    return describeGroups(this);
  }

  // ---- lifecycle ----

  async applyRetention(): Promise<void> {
    const now = this.now();
    for (const topic of this.topics.values()) {
      for (const log of topic.logs) await log.applyRetention(now, topic.config.retentionMs, topic.config.retentionBytes);
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * One more owner: brokers of one process that share this engine (`memory:<name>`, one
   * `local:` directory) each own it and each close it; the last close() shuts it down. An
   * engine from `open()` has one owner. False when the engine is already closed or closing.
   */
  retain(): boolean {
    if (this.closed) return false;
    this.owners += 1;
    return true;
  }

  /** Releases one owner (see retain); the last one stops retention, the coordinator and the store. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.owners -= 1;
    if (this.owners > 0) return;
    this.closed = true;
    if (this.retentionTimer !== undefined) clearInterval(this.retentionTimer);
    this.coordinator.close();
    for (const set of this.dataWaiters.values()) for (const done of [...set]) done();
    for (const topic of this.topics.values()) for (const log of topic.logs) await log.close();
    await this.store.metadata.close();
    await this.store.close();
  }

  private ensureOpen(): void {
    if (this.closed) throw new BrookError("CLOSED", "the local broker is closed");
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
