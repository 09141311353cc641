/**
 * `mirror()`: copies topics from one Brook backend to another through the contract, at least
 * once, and writes the position map (position-map.ts) that `translate` reads.
 *
 * The source is read with a batch handler (one batch per source partition at a time, partitions
 * in parallel); each batch is one target publishBatch, several in flight at once. A batch's
 * handler resolves, which acks it on the source, only when the target acknowledged every entry.
 * Per-key order: a batch holding a key still in flight in another batch waits for that batch
 * (keys normally live in one source partition, whose batches already run in order).
 *
 * Checkpoints need no call to the target: the publish results say where each copy landed. A
 * batch remembers, when it starts, where the target's partitions ended as far as the results
 * acknowledged so far show; every copy it writes lands at or after that. So at any moment the
 * oldest in-flight batch's record is a target position that everything not yet acknowledged
 * comes after, and the marks (what was acknowledged) go with it. Copies acknowledged earlier
 * that still landed after it are counted (they are what a translated group may see twice).
 * Targets without offsets (Pub/Sub) take the checkpoint's own time on the target instead: there
 * a checkpoint waits until nothing is in flight.
 */
import { randomUUID } from "node:crypto";
import { BrookError, DLQ_HEADERS, isBrookError, type Broker, type Headers, type Logger, type OutgoingMessage, type Position, type Publisher, type ReceivedMessage, type Subscription } from "@brook/core";
import { invalidArgument, toBrookError } from "@brook/core/spi";
import {
  DEFAULT_BATCH_SIZE,
  DEFAULT_IDLE_MS,
  DEFAULT_RETRY_FOR_MS,
  MIRROR_HEADERS,
  checkPositiveInt,
  checkSyncEvery,
  checkTopic,
  compareOffsets,
  defaultMirrorGroup,
  DERIVED_KEY_PREFIX,
  offsetsOf,
  openBroker,
  parseOffset,
  redact,
  requireTopic,
  type BrokerRef,
  type Offset,
  type SyncEvery,
} from "./options.js";
import { PositionMapWriter, ensureMapTopic, type Checkpoint, type Mark } from "./position-map.js";

export interface MirrorOptions {
  from: BrokerRef;
  to: BrokerRef;
  /** source topics; each is copied to the topic of the same name unless `toTopic` (one topic only) */
  topics: string[];
  toTopic?: string;
  /** the source group the mirror commits under (default `brook-mirror.<target topic>`) */
  group?: string;
  /** stop once everything the source held at the start is copied (log sources), or when idle */
  once?: boolean;
  /** how often the position map is written (default 1,000 messages or 1 s, whichever first) */
  syncEvery?: SyncEvery | number;
  /** a target topic for messages the target refuses as too large (a record of where they are) */
  deadLetterTopic?: string;
  /** create the target topic (with the source's partition count) when it is missing */
  createTopic?: boolean;
  /** source messages per target publishBatch (default 500, at most syncEvery.messages) */
  batchSize?: number;
  /** `once` on a source without offsets: done after this long without a message (default 3 s) */
  idleMs?: number;
  /** how long a transient target failure is retried before the mirror fails (default 60 s) */
  retryForMs?: number;
  /** aborting it drains: in-flight batches finish, the source commits, the map is written */
  signal?: AbortSignal;
  /** called about once a second and at the end */
  onProgress?: (progress: MirrorProgress) => void;
  /** progress interval (default 1 s) */
  progressIntervalMs?: number;
  logger?: Logger;
}

export interface PartitionProgress {
  partition: string;
  /** highest source offset copied (log sources) */
  mirrored: string | undefined;
  /** source messages not yet copied, where the backend knows */
  lag: number | undefined;
}

export interface TopicProgress {
  topic: string;
  toTopic: string;
  mirrored: number;
  deadLettered: number;
  partitions: PartitionProgress[];
}

export interface MirrorProgress {
  elapsedMs: number;
  mirrored: number;
  /** position-map checkpoints written so far */
  checkpoints: number;
  /** messages copied since the last checkpoint */
  unsynced: number;
  /** messages per second over the last interval */
  rate: number;
  /** `once` on log sources: what is left of what the source held at the start */
  remaining: number | undefined;
  /** seconds left at the current rate (`once` only) */
  etaSeconds: number | undefined;
  topics: TopicProgress[];
  done: boolean;
}

export interface MirrorResult {
  mirrored: number;
  deadLettered: number;
  checkpoints: number;
  elapsedMs: number;
  topics: TopicProgress[];
}

/** Runs until `once` is complete or `signal` aborts (then drains and commits); rejects on a failure it cannot retry. */
export async function mirror(options: MirrorOptions): Promise<MirrorResult> {
  if (typeof options !== "object" || options === null) throw invalidArgument("options", "an object", options);
  if (!Array.isArray(options.topics) || options.topics.length === 0) throw invalidArgument("topics", "a non-empty array of topic names", options.topics);
  const topics = options.topics.map((t, i) => checkTopic(t, `topics[${i}]`));
  if (new Set(topics).size !== topics.length) throw invalidArgument("topics", "distinct topic names", topics);
  if (options.toTopic !== undefined) {
    checkTopic(options.toTopic, "toTopic");
    if (topics.length !== 1) throw invalidArgument("toTopic", "only with exactly one source topic", topics);
  }
  if (options.group !== undefined && (typeof options.group !== "string" || options.group.length === 0)) throw invalidArgument("group", "a non-empty string", options.group);
  if (options.group !== undefined && topics.length > 1) throw invalidArgument("group", "only with exactly one source topic (each topic has its own mirror group)", options.group);
  if (options.deadLetterTopic !== undefined) checkTopic(options.deadLetterTopic, "deadLetterTopic");
  const syncEvery = checkSyncEvery(options.syncEvery);
  // A checkpoint falls between batches, so a batch larger than syncEvery would widen the bound.
  const batchSize = options.batchSize === undefined ? Math.min(DEFAULT_BATCH_SIZE, syncEvery.messages) : checkPositiveInt(options.batchSize, "batchSize");
  const idleMs = options.idleMs === undefined ? DEFAULT_IDLE_MS : checkPositiveInt(options.idleMs, "idleMs");
  const retryForMs = options.retryForMs === undefined ? DEFAULT_RETRY_FOR_MS : checkPositiveInt(options.retryForMs, "retryForMs");
  const progressIntervalMs = options.progressIntervalMs === undefined ? 1_000 : checkPositiveInt(options.progressIntervalMs, "progressIntervalMs");
  if (options.signal?.aborted) throw new BrookError("ABORTED", "mirror: aborted before it started");

  const started = Date.now();
  const from = await openBroker(options.from, "from", options.logger);
  let to: { broker: Broker; owned: boolean } | undefined;
  const mirrors: TopicMirror[] = [];
  let progressTimer: NodeJS.Timeout | undefined;
  try {
    to = await openBroker(options.to, "to", options.logger);
    const pairs = topics.map((topic) => ({ topic, toTopic: options.toTopic ?? topic }));
    for (const { topic, toTopic } of pairs) {
      // memory: is one store per connect(); any other equal URL is the same place.
      if (from.broker === to.broker || (from.broker.url === to.broker.url && !from.broker.url.startsWith("memory:"))) {
        if (topic === toTopic) throw invalidArgument("toTopic", `a different topic or broker than the source (both are "${topic}" on ${redact(from.broker.url)})`, toTopic);
      }
      await requireTopic(from.broker, topic, "from");
      if (options.createTopic === true && !(await to.broker.admin.topicExists(toTopic))) {
        const { partitions } = await from.broker.admin.describeTopic(topic);
        await to.broker.admin.createTopic(toTopic, { ...(partitions === undefined ? {} : { partitions }), ifNotExists: true });
      }
      await requireTopic(to.broker, toTopic, "to");
    }
    if (options.deadLetterTopic !== undefined) await requireTopic(to.broker, options.deadLetterTopic, "to");

    for (const { topic, toTopic } of pairs) {
      mirrors.push(
        new TopicMirror({
          from: from.broker,
          to: to.broker,
          topic,
          toTopic,
          group: options.group ?? defaultMirrorGroup(toTopic),
          once: options.once === true,
          syncEvery,
          batchSize,
          idleMs,
          retryForMs,
          deadLetterTopic: options.deadLetterTopic,
          logger: options.logger,
        }),
      );
    }
    let lastCount = 0;
    let lastAt = started;
    const progress = (done: boolean): MirrorProgress => {
      const now = Date.now();
      const mirrored = mirrors.reduce((n, m) => n + m.mirrored, 0);
      const rate = now > lastAt ? ((mirrored - lastCount) * 1000) / (now - lastAt) : 0;
      lastCount = mirrored;
      lastAt = now;
      const remainders = mirrors.map((m) => m.remaining());
      const remaining = options.once === true && remainders.every((r) => r !== undefined) ? remainders.reduce<number>((n, r) => n + r!, 0) : undefined;
      const overall = (mirrored * 1000) / Math.max(1, now - started);
      return {
        elapsedMs: now - started,
        mirrored,
        checkpoints: mirrors.reduce((n, m) => n + m.checkpoints, 0),
        unsynced: mirrors.reduce((n, m) => n + m.unsynced, 0),
        rate,
        remaining,
        etaSeconds: remaining === undefined || overall <= 0 ? undefined : remaining / overall,
        topics: mirrors.map((m) => m.progress()),
        done,
      };
    };
    if (options.onProgress !== undefined) {
      const report = options.onProgress;
      progressTimer = setInterval(() => report(progress(false)), progressIntervalMs);
      progressTimer.unref();
    }
    await Promise.all(mirrors.map((m) => m.start()));
    const onAbort = (): void => void Promise.all(mirrors.map((m) => m.stop())).catch(() => undefined);
    options.signal?.addEventListener("abort", onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
    try {
      // The first failure stops every topic (each drains what it can), then is reported.
      await Promise.all(
        mirrors.map((m) =>
          m.finished.catch(async (err: unknown) => {
            await Promise.all(mirrors.map((o) => o.stop()));
            throw err;
          }),
        ),
      );
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
    }
    if (progressTimer !== undefined) clearInterval(progressTimer);
    const last = progress(true);
    options.onProgress?.(last);
    return {
      mirrored: last.mirrored,
      deadLettered: mirrors.reduce((n, m) => n + m.deadLettered, 0),
      checkpoints: mirrors.reduce((n, m) => n + m.checkpoints, 0),
      elapsedMs: last.elapsedMs,
      topics: last.topics,
    };
  } finally {
    if (progressTimer !== undefined) clearInterval(progressTimer);
    await Promise.all(mirrors.map((m) => m.stop().catch(() => undefined)));
    if (to?.owned) await to.broker.close().catch(() => undefined);
    if (from.owned) await from.broker.close().catch(() => undefined);
  }
}

interface TopicMirrorConfig {
  from: Broker;
  to: Broker;
  topic: string;
  toTopic: string;
  group: string;
  once: boolean;
  syncEvery: { messages: number; ms: number };
  batchSize: number;
  idleMs: number;
  retryForMs: number;
  deadLetterTopic: string | undefined;
  logger: Logger | undefined;
}

/** Thrown into a batch the mirror abandons (stopping): the batch stays unacked on the source. */
class Abandoned extends Error {}

/** Target batches in flight at once, at most (across the source partitions). */
export const MAX_BATCHES_IN_FLIGHT = 8;

/** A batch between its handler call and its target ack. */
interface InFlight {
  /** per target partition, where every copy this batch writes lands at or after */
  floor: Map<string, Offset>;
  done: Promise<void>;
}

/**
 * Copies of one source partition's batch on one target partition, kept while a checkpoint may
 * still start before them: `count` copies between `first` and `last`, the earliest source time.
 */
interface Acked {
  partition: string;
  target: string;
  first: Offset;
  last: Offset;
  count: number;
  earliest: string;
}

/** The copies of one source partition's batch on one target partition (see Acked). */
interface Range {
  first: string;
  last: string;
  count: number;
  earliest: number;
}

/** Publish results seen so far and what was done with them. */
interface Copied {
  duplicates: Array<{ message: ReceivedMessage<Uint8Array>; position: Position }>;
  /** the target position of each message (undefined: dead-lettered) */
  positions: Array<Position | undefined>;
}

/** One source topic → one target topic. */
class TopicMirror {
  mirrored = 0;
  deadLettered = 0;
  checkpoints = 0;
  readonly finished: Promise<void>;
  private finish!: () => void;
  private fail!: (err: unknown) => void;
  private failed = false;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private sub: Subscription | undefined;
  private publisher: Publisher<Uint8Array> | undefined;
  private dlq: Publisher<Uint8Array> | undefined;
  private map: PositionMapWriter | undefined;
  private readonly marks = new Map<string, Mark>();
  /** messages of each source partition this run copied */
  private readonly counts = new Map<string, number>();
  private readonly run = randomUUID();
  private sinceSync = 0;
  get unsynced(): number {
    return this.sinceSync;
  }
  private lastSyncAt = Date.now();
  /** log sources with `once`: the last offset to copy per partition */
  private targets: Map<string, bigint> | undefined;
  private lastMessageAt = Date.now();
  private idleTimer: NodeJS.Timeout | undefined;
  private syncTimer: NodeJS.Timeout | undefined;
  private readonly logSource: boolean;
  /** how target offsets behave: "contiguous" (next = last + 1), "sequence" (ordered, with gaps: Kinesis), "none" */
  private targetOffsets: OffsetKind = "none";
  private sourceOffsets: OffsetKind = "none";
  /** per target partition: contiguous, the next offset; sequence, the last acknowledged (a start inclusive of it) */
  private readonly reached = new Map<string, Offset>();
  /** in dispatch order */
  private readonly inFlight = new Set<InFlight>();
  private readonly keyTails = new Map<string, Promise<void>>();
  private acked: Acked[] = [];
  private syncing: Promise<void> | undefined;
  private syncAgain = false;
  /** targets without offsets: checkpoints wait until nothing is in flight, new batches wait for them */
  private barrier: Promise<void> | undefined;
  private slots = MAX_BATCHES_IN_FLIGHT;
  private readonly slotWaiters: Array<() => void> = [];

  constructor(private readonly config: TopicMirrorConfig) {
    this.finished = new Promise<void>((resolve, reject) => {
      this.finish = resolve;
      this.fail = reject;
    });
    this.finished.catch(() => undefined);
    this.logSource = config.from.capabilities.seek.offset;
  }

  async start(): Promise<void> {
    const { from, to, topic, toTopic, group } = this.config;
    // Where earlier runs got to: a checkpoint's mark must cover what they copied.
    const prior = await from.admin.groupPositions(topic, group);
    if (this.logSource) {
      for (const p of prior) if (p.committed !== undefined) this.marks.set(p.partition, { offset: p.committed });
    } else if (prior.length > 0) {
      // No offsets: an earlier run copied messages published before now, which ones is unknown.
      for (const p of prior) this.marks.set(p.partition, { time: new Date().toISOString() });
    }
    const sourceEnds = this.logSource ? await offsetsOf(from, topic) : undefined;
    this.sourceOffsets = !this.logSource ? "none" : sourceEnds === undefined ? "sequence" : "contiguous";
    if (this.config.once && sourceEnds !== undefined) {
      this.targets = new Map();
      for (const o of sourceEnds) {
        if (BigInt(o.end) > BigInt(o.start)) this.targets.set(o.partition, BigInt(o.end) - 1n);
      }
    }
    if (to.capabilities.seek.offset) {
      // The one call to the target's offsets: where each partition ends before the first copy.
      const ends = await offsetsOf(to, toTopic);
      this.targetOffsets = ends === undefined ? "sequence" : "contiguous";
      for (const o of ends ?? []) this.reached.set(o.partition, parseOffset(o.end));
    }
    await ensureMapTopic(to, toTopic);
    this.map = new PositionMapWriter(to, toTopic);
    this.publisher = to.publisher<Uint8Array>(toTopic, { codec: "bytes" });
    if (this.config.deadLetterTopic !== undefined) this.dlq = to.publisher<Uint8Array>(this.config.deadLetterTopic, { codec: "bytes" });
    if (this.onceComplete()) {
      this.finishOnce();
      return;
    }
    this.sub = await from.subscribe<Uint8Array>(topic, {
      group,
      codec: "bytes",
      startFrom: "earliest",
      ordering: "partition",
      onOutOfRange: "error",
      maxBatchSize: this.config.batchSize,
      maxInFlight: this.config.batchSize * MAX_BATCHES_IN_FLIGHT,
      batchHandler: (messages) => this.copy(messages),
    });
    this.sub.on("error", (err) => {
      // A position the source no longer holds is data lost before the mirror saw it: stop, loudly.
      if (err.code === "OUT_OF_RANGE") this.abort(err);
      else this.config.logger?.warn(`mirror ${topic}: ${err.code}: ${err.message}`);
    });
    // A quiet topic still gets its checkpoint within syncEvery.ms.
    this.syncTimer = setInterval(() => this.kickSync(), Math.max(50, Math.min(this.config.syncEvery.ms, 1_000)));
    this.syncTimer.unref();
    if (this.config.once && this.targets === undefined) {
      this.lastMessageAt = Date.now();
      this.idleTimer = setInterval(() => {
        if (Date.now() - this.lastMessageAt >= this.config.idleMs && this.inFlight.size === 0) this.finishOnce();
      }, Math.min(this.config.idleMs, 500));
      this.idleTimer.unref();
    }
  }

  remaining(): number | undefined {
    if (this.targets === undefined) return undefined;
    let n = 0n;
    for (const [p, last] of this.targets) {
      const at = this.marks.get(p)?.offset;
      const done = at === undefined ? -1n : BigInt(at);
      if (last > done) n += last - done;
    }
    return Number(n);
  }

  progress(): TopicProgress {
    const health = this.sub?.health() ?? [];
    const partitions = new Set<string>([...this.marks.keys(), ...health.map((h) => h.partition)]);
    return {
      topic: this.config.topic,
      toTopic: this.config.toTopic,
      mirrored: this.mirrored,
      deadLettered: this.deadLettered,
      partitions: [...partitions].sort().map((partition) => ({
        partition,
        mirrored: this.marks.get(partition)?.offset,
        lag: health.find((h) => h.partition === partition)?.lag,
      })),
    };
  }

  /** Drains (batches in flight finish), commits on the source, writes a last checkpoint. */
  stop(): Promise<void> {
    if (this.stopped !== undefined) return this.stopped;
    this.stopping = true;
    this.stopped = (async () => {
      if (this.idleTimer !== undefined) clearInterval(this.idleTimer);
      if (this.syncTimer !== undefined) clearInterval(this.syncTimer);
      try {
        if (this.sub !== undefined) await this.sub.close({ drain: !this.failed, timeoutMs: 30_000 });
        await Promise.all([...this.inFlight].map((b) => b.done));
        while (this.syncing !== undefined) await this.syncing.catch(() => undefined);
        if (!this.failed && this.sinceSync > 0) await this.sync();
      } finally {
        await this.publisher?.close().catch(() => undefined);
        await this.dlq?.close().catch(() => undefined);
        await this.map?.close().catch(() => undefined);
        this.finish();
      }
    })();
    return this.stopped;
  }

  private abort(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.fail(err);
    void this.stop();
  }

  private finishOnce(): void {
    void this.stop().catch((err: unknown) => this.abort(err));
  }

  private onceComplete(): boolean {
    if (this.targets === undefined) return false;
    return this.remaining() === 0;
  }

  /** One source batch: publish to the target, wait for every ack, record the marks. Resolving acks it on the source. */
  private async copy(view: ReceivedMessage<Uint8Array>[]): Promise<void> {
    if (this.failed) throw new Abandoned("mirror stopped after a failure");
    // The handler's array makes each message when it is read (a proxy trap per index): read each once.
    const count = view.length;
    const messages = new Array<ReceivedMessage<Uint8Array>>(count);
    for (let i = 0; i < count; i += 1) messages[i] = view[i]!;
    this.lastMessageAt = Date.now();
    while (this.barrier !== undefined) await this.barrier;
    // In flight from here (no await since the barrier check): a checkpoint waits for it or counts it.
    let settle!: () => void;
    const batch: InFlight = { floor: new Map(this.reached), done: new Promise<void>((resolve) => (settle = resolve)) };
    this.inFlight.add(batch);
    // Per-key order across batches: wait for the batches still copying one of these keys.
    const waits = new Set<Promise<void>>();
    const keys: string[] = [];
    for (const m of messages) {
      if (m.key === undefined) continue;
      const tail = this.keyTails.get(m.key);
      if (tail === batch.done) continue;
      if (tail !== undefined) waits.add(tail);
      this.keyTails.set(m.key, batch.done);
      keys.push(m.key);
    }
    let slot = false;
    try {
      if (this.slots === 0) await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
      else this.slots -= 1;
      slot = true;
      if (waits.size > 0) await Promise.all(waits);
      const copied = await this.publishAll(messages, this.outgoing(messages));
      if (copied.duplicates.length > 0 && this.targetOffsets !== "none") await this.recordDuplicates(copied.duplicates);
      this.copied(messages, copied);
    } catch (err) {
      if (!(err instanceof Abandoned)) this.abort(err);
      // Left unsettled on the source: copied again after a restart.
      throw err;
    } finally {
      this.inFlight.delete(batch);
      for (const k of keys) if (this.keyTails.get(k) === batch.done) this.keyTails.delete(k);
      settle();
      if (slot) {
        const next = this.slotWaiters.shift();
        if (next !== undefined) next();
        else this.slots += 1;
      }
    }
    this.kickSync();
    if (this.onceComplete()) this.finishOnce();
  }

  private outgoing(messages: ReceivedMessage<Uint8Array>[]): OutgoingMessage<Uint8Array>[] {
    const topicPrefix = `${this.config.topic}/`;
    const out = new Array<OutgoingMessage<Uint8Array>>(messages.length);
    // Messages of one batch often share a publish millisecond: one ISO string for them.
    let lastTime = Number.NaN;
    let lastIso = "";
    // A batch is one source partition's: its "topic/partition/" prefixes are made once.
    let lastPartition: string | undefined;
    let sourcePrefix = "";
    let keyPrefix = "";
    for (let i = 0; i < messages.length; i += 1) {
      const m = messages[i]!;
      const time = m.publishTime.getTime();
      if (time !== lastTime) {
        lastTime = time;
        lastIso = m.publishTime.toISOString();
      }
      const { partition, offset } = m.position;
      if (partition !== lastPartition) {
        lastPartition = partition;
        sourcePrefix = `${topicPrefix}${partition}/`;
        keyPrefix = `${DERIVED_KEY_PREFIX}${sourcePrefix}`;
      }
      const headers: Headers = { ...m.headers };
      headers[MIRROR_HEADERS.publishTime] = lastIso;
      headers[MIRROR_HEADERS.source] = sourcePrefix + offset;
      // derivedIdempotencyKey(topic, partition, offset), without building the position twice
      const idempotencyKey = m.idempotencyKey ?? keyPrefix + offset;
      // Object literals of two fixed shapes (a property added later would make a third).
      out[i] = m.key === undefined ? { data: m.data, headers, idempotencyKey } : { data: m.data, headers, idempotencyKey, key: m.key };
    }
    return out;
  }

  /** The target acknowledged the batch: marks, counts, where the target partitions reached. */
  private copied(messages: ReceivedMessage<Uint8Array>[], copied: Copied): void {
    // Per source partition: the last message (a partition's messages come in offset order) and the latest time.
    const last = new Map<string, { offset: string; time: number; n: number }>();
    // Per source partition, per target partition: the first and last copy (in publish order, so offset order).
    const ranges = new Map<string, Map<string, Range>>();
    // A batch is normally one source partition's: the last one's entries are kept at hand.
    let seenPartition: string | undefined;
    let seen: { offset: string; time: number; n: number } = { offset: "", time: 0, n: 0 };
    let targets: Map<string, Range> = new Map();
    const withOffsets = this.targetOffsets !== "none";
    for (let i = 0; i < messages.length; i += 1) {
      const m = messages[i]!;
      const p = m.position.partition;
      const time = m.publishTime.getTime();
      if (p !== seenPartition) {
        seenPartition = p;
        const known = last.get(p);
        if (known === undefined) last.set(p, (seen = { offset: m.position.offset, time, n: 0 }));
        else seen = known;
        if (withOffsets) {
          const t = ranges.get(p);
          if (t === undefined) ranges.set(p, (targets = new Map()));
          else targets = t;
        }
      }
      seen.offset = m.position.offset;
      if (time > seen.time) seen.time = time;
      seen.n += 1;
      const at = copied.positions[i];
      if (at === undefined || !withOffsets) continue;
      const range = targets.get(at.partition);
      if (range === undefined) targets.set(at.partition, { first: at.offset, last: at.offset, count: 1, earliest: time });
      else {
        range.last = at.offset;
        range.count += 1;
        if (time < range.earliest) range.earliest = time;
      }
    }
    for (const [p, seen] of last) {
      let mark = this.marks.get(p);
      if (mark === undefined) this.marks.set(p, (mark = {}));
      if (this.logSource && (mark.offset === undefined || compareOffsets(parseOffset(seen.offset), parseOffset(mark.offset)) > 0)) mark.offset = seen.offset;
      const time = new Date(seen.time).toISOString();
      if (mark.time === undefined || mark.time < time) mark.time = time;
      this.counts.set(p, (this.counts.get(p) ?? 0) + seen.n);
    }
    for (const [partition, byTarget] of ranges) {
      for (const [target, r] of byTarget) {
        const first = parseOffset(r.first);
        const lastAt = parseOffset(r.last);
        const next = this.targetOffsets === "contiguous" ? parseOffset((BigInt(r.last) + 1n).toString()) : lastAt;
        const known = this.reached.get(target);
        if (known === undefined || compareOffsets(next, known) > 0) this.reached.set(target, next);
        this.acked.push({ partition, target, first, last: lastAt, count: r.count, earliest: new Date(r.earliest).toISOString() });
      }
    }
    this.mirrored += messages.length;
    this.sinceSync += messages.length;
  }

  private async recordDuplicates(duplicates: Copied["duplicates"]): Promise<void> {
    await this.map!.write({
      v: 1,
      kind: "duplicates",
      run: this.run,
      sourceTopic: this.config.topic,
      targetTopic: this.config.toTopic,
      at: new Date().toISOString(),
      copies: duplicates.map(({ message: m, position }) => ({
        sourcePartition: m.position.partition,
        sourceOffset: m.position.offset,
        sourceTime: m.publishTime.toISOString(),
        targetPartition: position.partition,
        targetOffset: position.offset,
      })),
    });
  }

  /**
   * Publishes every entry; transient failures are retried (a failed entry and every later
   * entry of its key, so the last copies keep the key's order) for up to retryForMs.
   */
  private async publishAll(messages: ReceivedMessage<Uint8Array>[], outgoing: OutgoingMessage<Uint8Array>[]): Promise<Copied> {
    const copied: Copied = { duplicates: [], positions: new Array<Position | undefined>(messages.length) };
    let pending = outgoing.map((_, i) => i);
    const deadline = Date.now() + this.config.retryForMs;
    let delay = 100;
    while (pending.length > 0) {
      if (this.stopping && this.failed) throw new Abandoned("mirror stopped");
      const results = await this.publisher!.publishBatch(pending.length === outgoing.length ? outgoing : pending.map((i) => outgoing[i]!));
      const retry: number[] = [];
      const heldKeys = new Set<string>();
      for (let j = 0; j < results.length; j += 1) {
        const r = results[j]!;
        const i = pending[j]!;
        const key = outgoing[i]!.key;
        if (r.ok) {
          if (key !== undefined && heldKeys.has(key)) retry.push(i);
          else {
            copied.positions[i] = r.position;
            if (r.duplicate) copied.duplicates.push({ message: messages[i]!, position: r.position });
          }
          continue;
        }
        const m = messages[i]!;
        const where = `source topic "${this.config.topic}" partition ${m.position.partition} offset ${m.position.offset}`;
        if (r.error.code === "MESSAGE_TOO_LARGE") {
          await this.deadLetter(m, outgoing[i]!, r.error, where);
          continue;
        }
        if (!r.error.retriable) {
          throw new BrookError(r.error.code, `mirror to "${this.config.toTopic}": the target refused the message at ${where}: ${r.error.message}`, { cause: r.error });
        }
        if (Date.now() > deadline) {
          throw new BrookError(r.error.code, `mirror to "${this.config.toTopic}": still failing after ${this.config.retryForMs} ms at ${where}: ${r.error.message}`, { cause: r.error });
        }
        retry.push(i);
        if (key !== undefined) heldKeys.add(key);
      }
      pending = retry.sort((a, b) => a - b);
      if (pending.length > 0) {
        this.config.logger?.warn(`mirror ${this.config.topic}: retrying ${pending.length} message(s) in ${delay} ms`);
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 5_000);
      }
    }
    return copied;
  }

  /**
   * The target cannot hold the message (its size limit is below the source's). The DLQ entry
   * says where it is on the source; its data is left out, since the target refused that size.
   */
  private async deadLetter(m: ReceivedMessage<Uint8Array>, out: OutgoingMessage<Uint8Array>, error: BrookError, where: string): Promise<void> {
    if (this.dlq === undefined) {
      throw new BrookError("MESSAGE_TOO_LARGE", `mirror to "${this.config.toTopic}": the target cannot hold the message at ${where} (${m.data.byteLength} bytes): ${error.message}; give a deadLetterTopic to record it and go on`, { cause: error });
    }
    const entry: OutgoingMessage<Uint8Array> = {
      data: new Uint8Array(0),
      headers: {
        ...out.headers,
        [DLQ_HEADERS.reason]: `MESSAGE_TOO_LARGE: ${m.data.byteLength} bytes; ${error.message}`.slice(0, 1_000),
        [DLQ_HEADERS.originalTopic]: this.config.topic,
        [DLQ_HEADERS.originalPosition]: `${m.position.partition}/${m.position.offset}`,
        [DLQ_HEADERS.attempts]: "1",
      },
      ...(out.idempotencyKey === undefined ? {} : { idempotencyKey: out.idempotencyKey }),
      ...(out.key === undefined ? {} : { key: out.key }),
    };
    try {
      await this.dlq.publish(entry);
    } catch (err) {
      throw new BrookError(toBrookError(err).code, `mirror: dead-lettering the message at ${where} on "${this.config.deadLetterTopic}" failed: ${(err as Error).message}`, { cause: err });
    }
    this.deadLettered += 1;
    this.config.logger?.warn(`mirror ${this.config.topic}: message at ${where} is too large for the target; recorded on "${this.config.deadLetterTopic}"`);
  }

  /** Starts a checkpoint when one is due (one at a time; never waited for by a batch). */
  private kickSync(): void {
    if (this.failed || this.sinceSync === 0) return;
    if (this.sinceSync < this.config.syncEvery.messages && Date.now() - this.lastSyncAt < this.config.syncEvery.ms) return;
    if (this.syncing !== undefined) {
      this.syncAgain = true;
      return;
    }
    this.syncing = this.sync()
      .catch((err: unknown) => this.abort(err))
      .finally(() => {
        this.syncing = undefined;
        if (this.syncAgain) {
          this.syncAgain = false;
          this.kickSync();
        }
      });
  }

  private async sync(): Promise<void> {
    let release: (() => void) | undefined;
    if (this.targetOffsets === "none") {
      // The checkpoint's own time on the target is its position: nothing may be in flight while it is written.
      this.barrier = new Promise<void>((resolve) => (release = resolve));
      await Promise.all([...this.inFlight].map((b) => b.done));
    }
    try {
      const checkpoint = this.checkpoint();
      const copiedBefore = this.sinceSync;
      await this.map!.write(checkpoint);
      this.checkpoints += 1;
      this.sinceSync -= copiedBefore;
      this.lastSyncAt = Date.now();
    } finally {
      if (release !== undefined) {
        this.barrier = undefined;
        release();
      }
    }
  }

  /** The checkpoint of this moment (synchronous: marks, ends and counts are of one instant). */
  private checkpoint(): Checkpoint {
    const marks: Record<string, Mark> = {};
    for (const [p, m] of this.marks) {
      const mark: Mark = { ...m };
      const n = this.counts.get(p);
      if (n !== undefined) mark.n = n;
      marks[p] = mark;
    }
    const checkpoint: Checkpoint = {
      v: 1,
      run: this.run,
      seq: this.checkpoints + 1,
      sourceTopic: this.config.topic,
      targetTopic: this.config.toTopic,
      at: new Date().toISOString(),
      mirrored: this.mirrored,
      marks,
    };
    if (this.targetOffsets === "none") return checkpoint;
    // Everything not yet acknowledged lands at or after the oldest in-flight batch's floor.
    const oldest = this.inFlight.values().next().value as InFlight | undefined;
    const ends = oldest === undefined ? this.reached : oldest.floor;
    checkpoint.ends = Object.fromEntries([...ends].map(([q, o]) => [q, o.text]));
    if (this.targetOffsets === "sequence") checkpoint.endsInclusive = true;
    // Copies acknowledged earlier that landed at or after `ends`: a translated group reads them
    // again. A range straddling `ends` counts whole (more declared than may repeat, never less).
    const kept: Acked[] = [];
    for (const entry of this.acked) {
      const end = ends.get(entry.target);
      if (end !== undefined && compareOffsets(entry.last, end) < 0) continue; // never again: later checkpoints start at or after `ends`
      kept.push(entry);
      const mark = marks[entry.partition]!;
      mark.earlier = (mark.earlier ?? 0) + entry.count;
      if (mark.earlierTime === undefined || entry.earliest < mark.earlierTime) mark.earlierTime = entry.earliest;
    }
    this.acked = kept;
    return checkpoint;
  }
}

type OffsetKind = "contiguous" | "sequence" | "none";

export function isMirrorAbandoned(err: unknown): boolean {
  return err instanceof Abandoned || isBrookError(err, "CLOSED");
}
