import { BrookError, PermanentError, invalidArgument, toBrookError } from "./errors.js";
import { resolveCodec, type Codec } from "./codec.js";
import { ContiguousCommitTracker } from "./commit-tracker.js";
import { KeyedExecutor } from "./keyed-executor.js";
import { resolveRetryPolicy, runWithRetry, type RetryPolicy } from "./retry.js";
import { TypedEmitter } from "./emitter.js";
import { loadOtel, tracingActive, withProcessSpan } from "./tracing.js";
import type {
  CloseOptions,
  PartitionHealth,
  Publisher,
  ReceivedMessage,
  SeekTarget,
  SubscribeOptions,
  Subscription,
  SubscriptionEvents,
} from "./contract.js";
import type { DeliverySink, PartitionAssignment, SourceRecord, SubscriptionContext, SubscriptionSource } from "./spi.js";

import { DLQ_HEADERS, IDEMPOTENCY_HEADER } from "./headers.js";

export interface SubscriptionStats {
  delivered: number;
  acked: number;
  retried: number;
  deadLettered: number;
  duplicates: number;
}

interface PartitionState {
  lastCommitted: string | undefined;
  startOffset: string | undefined;
  endOffset: string | undefined;
  lastProgressAt: number | undefined;
  stalled: boolean;
  revoked: boolean;
}

interface Resolved<T> {
  group: string;
  codec: Codec<T>;
  ordering: "key" | "partition" | "none";
  maxInFlight: number;
  /** batchHandler mode: messages per call; maxInFlight then counts messages across batches */
  maxBatchSize: number;
  batchMode: boolean;
  retry: RetryPolicy;
  deadLetterTopic: string | undefined;
  nativeDeadLetter: boolean;
  stallTimeoutMs: number;
  commitIntervalMs: number;
}

/** Checks subscribe() options at the public boundary; every adapter calls this first. */
export function validateSubscribeOptions<T>(options: SubscribeOptions<T>, nativeDeadLetter: boolean): Resolved<T> {
  if (typeof options !== "object" || options === null) throw invalidArgument("options", "an object with group and handler", options);
  if (typeof options.group !== "string" || options.group.length === 0) throw invalidArgument("group", "a non-empty string", options.group);
  const hasHandler = typeof options.handler === "function";
  const hasBatch = typeof options.batchHandler === "function";
  if (hasHandler === hasBatch) throw invalidArgument("handler", "exactly one of handler or batchHandler (a function)", options.handler);
  const maxBatchSize = options.maxBatchSize ?? 1_000;
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) throw invalidArgument("maxBatchSize", "an integer >= 1", maxBatchSize);
  const maxInFlight = options.maxInFlight ?? (hasBatch ? 4 * maxBatchSize : 256);
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw invalidArgument("maxInFlight", "an integer >= 1", maxInFlight);
  const ordering = options.ordering ?? "key";
  if (ordering !== "key" && ordering !== "partition" && ordering !== "none") {
    throw invalidArgument("ordering", '"key", "partition" or "none"', ordering);
  }
  let deadLetterTopic: string | undefined;
  let native = false;
  if (options.deadLetter === "native") {
    if (!nativeDeadLetter) throw new BrookError("UNSUPPORTED", 'deadLetter: "native" is not supported by this backend; use { topic }');
    native = true;
  } else if (options.deadLetter !== undefined) {
    if (typeof options.deadLetter !== "object" || typeof options.deadLetter.topic !== "string" || options.deadLetter.topic.length === 0) {
      throw invalidArgument("deadLetter", '{ topic: string } or "native"', options.deadLetter);
    }
    deadLetterTopic = options.deadLetter.topic;
  }
  if (options.dedupe !== undefined && (typeof options.dedupe.store?.claim !== "function")) {
    throw invalidArgument("dedupe.store", "a DedupeStore (claim, complete, release)", options.dedupe.store);
  }
  const stallTimeoutMs = options.stallTimeoutMs ?? 60_000;
  if (!(stallTimeoutMs > 0)) throw invalidArgument("stallTimeoutMs", "a number > 0", stallTimeoutMs);
  const commitIntervalMs = options.commitIntervalMs ?? 1_000;
  if (!(commitIntervalMs > 0)) throw invalidArgument("commitIntervalMs", "a number > 0", commitIntervalMs);
  validateStartFrom(options.startFrom);
  return {
    group: options.group,
    codec: resolveCodec<T>(options.codec),
    ordering,
    maxInFlight,
    maxBatchSize,
    batchMode: hasBatch,
    retry: resolveRetryPolicy(options.retry),
    deadLetterTopic,
    nativeDeadLetter: native,
    stallTimeoutMs,
    commitIntervalMs,
  };
}

function validateStartFrom(startFrom: unknown): void {
  if (startFrom === undefined || startFrom === "earliest" || startFrom === "latest") return;
  if (typeof startFrom === "object" && startFrom !== null) {
    if ("time" in startFrom && startFrom.time instanceof Date && !Number.isNaN(startFrom.time.getTime())) return;
    if ("positions" in startFrom && Array.isArray(startFrom.positions)) return;
  }
  throw invalidArgument("startFrom", '"earliest", "latest", { time: Date } or { positions: Position[] }', startFrom);
}

export function validateSeekTarget(target: unknown): SeekTarget {
  if (typeof target === "object" && target !== null) {
    if ("time" in target && target.time instanceof Date && !Number.isNaN(target.time.getTime())) return target as SeekTarget;
    if ("positions" in target && Array.isArray(target.positions)) {
      for (const [i, p] of (target.positions as unknown[]).entries()) {
        const pos = p as { partition?: unknown; offset?: unknown };
        if (typeof pos?.partition !== "string" || typeof pos?.offset !== "string") {
          throw invalidArgument(`positions[${i}]`, "{ partition: string, offset: string }", p);
        }
      }
      return target as SeekTarget;
    }
  }
  throw invalidArgument("seek target", "{ time: Date } or { positions: Position[] }", target);
}

/**
 * The one subscription implementation. The adapter's source fetches and commits; this class
 * decodes, runs handlers through the keyed executor with retries, dead-letters, dedupes,
 * tracks the contiguous watermark, commits it on an interval / revoke / close, and reports
 * health and stalls.
 */
export class ManagedSubscription<T> implements Subscription, DeliverySink {
  readonly topic: string;
  readonly group: string;
  private readonly opts: Resolved<T>;
  private readonly emitter: TypedEmitter<SubscriptionEvents>;
  private readonly executor: KeyedExecutor;
  private readonly tracker = new ContiguousCommitTracker();
  /** settleMode "individual": messages per partition handed to core and not yet acked or redelivered */
  private readonly unsettled = new Map<string, number>();
  private readonly partitions = new Map<string, PartitionState>();
  private readonly abort = new AbortController();
  private readonly capacityWaiters = new Set<() => void>();
  private readonly settleWaiters = new Set<() => void>();
  private commitTimer: NodeJS.Timeout | undefined;
  private watchdogTimer: NodeJS.Timeout | undefined;
  private committing: Promise<void> = Promise.resolve();
  private dlqPublisher: Publisher<Uint8Array> | undefined;
  private state: "running" | "closing" | "closed" = "running";
  private uniqueKey = 0;
  /** batch mode: messages handed to batch handlers and not yet settled */
  private batchMessagesInFlight = 0;
  private readonly counters: SubscriptionStats = { delivered: 0, acked: 0, retried: 0, deadLettered: 0, duplicates: 0 };

  private constructor(
    private readonly source: SubscriptionSource,
    private readonly options: SubscribeOptions<T>,
    private readonly context: SubscriptionContext,
    resolved: Resolved<T>,
  ) {
    this.topic = context.topic;
    this.group = resolved.group;
    this.opts = resolved;
    // In batch mode the executor runs whole batches; maxInFlight is enforced in messages by
    // `available` below instead.
    this.executor = new KeyedExecutor(resolved.batchMode ? Number.MAX_SAFE_INTEGER : resolved.maxInFlight);
    this.emitter = new TypedEmitter<SubscriptionEvents>((event, args) => {
      if (event === "error") context.logger.error(`subscription ${this.topic}/${this.group}: ${(args[0] as Error).message}`);
    });
  }

  /** Validates options, starts the source and resolves once it is running. */
  static async start<T>(
    source: SubscriptionSource,
    options: SubscribeOptions<T>,
    context: SubscriptionContext,
  ): Promise<ManagedSubscription<T>> {
    const resolved = validateSubscribeOptions(options, context.nativeDeadLetter);
    await loadOtel();
    const sub = new ManagedSubscription(source, options, context, resolved);
    if (source.settleMode === "watermark") {
      sub.commitTimer = setInterval(() => void sub.commit().catch((err) => sub.error(toBrookError(err))), resolved.commitIntervalMs);
      sub.commitTimer.unref();
    }
    sub.watchdogTimer = setInterval(() => sub.checkStalls(), Math.min(1_000, resolved.stallTimeoutMs / 2));
    sub.watchdogTimer.unref();
    try {
      await source.start(sub);
    } catch (err) {
      sub.stopTimers();
      sub.state = "closed";
      throw toBrookError(err, "UNAVAILABLE");
    }
    return sub;
  }

  // ---- Subscription (application side) ----

  on<E extends keyof SubscriptionEvents>(event: E, listener: (...args: SubscriptionEvents[E]) => void): this {
    this.emitter.on(event, listener);
    return this;
  }

  off<E extends keyof SubscriptionEvents>(event: E, listener: (...args: SubscriptionEvents[E]) => void): this {
    this.emitter.off(event, listener);
    return this;
  }

  stats(): SubscriptionStats {
    return { ...this.counters };
  }

  assignment(): string[] {
    return [...this.partitions.entries()].filter(([, s]) => !s.revoked).map(([p]) => p);
  }

  async seek(target: SeekTarget): Promise<void> {
    this.ensureRunning();
    await this.source.seek(validateSeekTarget(target));
  }

  health(): PartitionHealth[] {
    const out: PartitionHealth[] = [];
    for (const [partition, state] of this.partitions) {
      if (state.revoked) continue;
      out.push({
        partition,
        committed: state.lastCommitted,
        lag: this.lag(partition, state),
        inFlight: this.inFlight(partition),
        lastProgressAt: state.lastProgressAt === undefined ? undefined : new Date(state.lastProgressAt),
        stalled: state.stalled,
      });
    }
    return out;
  }

  /** Commits the watermark of every partition that moved since its last commit. */
  commit(): Promise<void> {
    if (this.source.settleMode !== "watermark" || this.state === "closed") return Promise.resolve();
    const run = this.committing.then(() => this.commitOnce());
    this.committing = run.catch(() => undefined);
    return run;
  }

  async close(options: CloseOptions = {}): Promise<void> {
    if (this.state !== "running") return;
    this.state = "closing";
    const drain = options.drain ?? true;
    const timeoutMs = options.timeoutMs ?? 10_000;
    this.wakeCapacityWaiters();
    try {
      if (drain) {
        await waitWithTimeout(this.executor.waitForIdle(), timeoutMs);
      }
      // Cancel retries still waiting; their messages stay uncommitted and will be redelivered.
      this.abort.abort();
      await this.commit().catch((err) => this.error(toBrookError(err)));
    } finally {
      this.state = "closed";
      this.stopTimers();
      try {
        await this.source.stop();
      } finally {
        await this.dlqPublisher?.close().catch(() => undefined);
      }
    }
  }

  // ---- DeliverySink (adapter side) ----

  get closing(): boolean {
    return this.state !== "running";
  }

  get available(): number {
    if (this.state !== "running") return 0;
    return this.opts.batchMode ? Math.max(0, this.opts.maxInFlight - this.batchMessagesInFlight) : this.executor.available;
  }

  waitForCapacity(): Promise<void> {
    if (this.state !== "running" || this.available > 0) return Promise.resolve();
    if (this.opts.batchMode) {
      return new Promise((resolve) => {
        const wake = (): void => {
          this.capacityWaiters.delete(wake);
          resolve();
        };
        this.capacityWaiters.add(wake);
      });
    }
    return new Promise((resolve) => {
      const wake = (): void => {
        this.capacityWaiters.delete(wake);
        resolve();
      };
      this.capacityWaiters.add(wake);
      void this.executor.waitForCapacity().then(wake);
    });
  }

  assigned(assignments: PartitionAssignment[]): void {
    const ids: string[] = [];
    for (const a of assignments) {
      this.resetPartition(a);
      ids.push(a.partition);
    }
    if (ids.length > 0) this.emitter.emit("assigned", ids);
  }

  reset(partition: string, assignment: PartitionAssignment): void {
    this.resetPartition({ ...assignment, partition });
  }

  async revoked(partitions: string[]): Promise<void> {
    for (const p of partitions) {
      const state = this.partitions.get(p);
      if (state !== undefined) state.revoked = true;
    }
    const drained = (): boolean => partitions.every((p) => this.inFlight(p) === 0);
    if (!drained()) await waitWithTimeout(this.waitUntil(drained), 10_000);
    await this.commit().catch((err) => this.error(toBrookError(err)));
    for (const p of partitions) {
      this.partitions.delete(p);
      this.tracker.remove(p);
      this.unsettled.delete(p);
    }
    if (partitions.length > 0) this.emitter.emit("revoked", partitions);
  }

  reportEnd(partition: string, endOffset: string): void {
    const state = this.partitions.get(partition);
    if (state !== undefined) state.endOffset = endOffset;
  }

  error(error: BrookError): void {
    this.emitter.emit("error", error);
  }

  deliver(records: SourceRecord[]): void {
    if (this.state !== "running" || records.length === 0) return;
    if (this.options.batchHandler !== undefined) {
      this.deliverBatches(records);
      return;
    }
    for (const record of records) {
      const state = this.partitions.get(record.partition);
      if (state?.revoked === true) continue;
      const epoch = this.track(record);
      this.counters.delivered += 1;
      this.executor.run(this.orderingKey(record), () => this.processFast(record, epoch));
    }
  }

  // ---- internals ----

  private resetPartition(a: PartitionAssignment): void {
    this.tracker.reset(a.partition, a.lastCommitted);
    const previous = this.partitions.get(a.partition);
    this.partitions.set(a.partition, {
      lastCommitted: a.lastCommitted,
      startOffset: a.startOffset,
      endOffset: previous?.endOffset,
      lastProgressAt: Date.now(),
      stalled: false,
      revoked: false,
    });
  }

  private track(record: SourceRecord): number {
    if (this.source.settleMode !== "watermark") {
      this.unsettled.set(record.partition, (this.unsettled.get(record.partition) ?? 0) + 1);
      return 0;
    }
    return this.tracker.delivered(record.partition, record.offset);
  }

  /** Delivered and not yet settled: the watermark window, or the count of unacked messages. */
  private inFlight(partition: string): number {
    if (this.source.settleMode === "watermark") return this.tracker.inFlight(partition);
    return this.unsettled.get(partition) ?? 0;
  }

  /** settleMode "individual": a message left core (acked or handed back for redelivery). */
  private untrack(record: SourceRecord): void {
    const count = this.unsettled.get(record.partition);
    if (count !== undefined) this.unsettled.set(record.partition, Math.max(0, count - 1));
  }

  private orderingKey(record: SourceRecord): string {
    switch (this.opts.ordering) {
      case "none":
        return `#${(this.uniqueKey = (this.uniqueKey + 1) % Number.MAX_SAFE_INTEGER)}`;
      case "partition":
        return `p:${record.partition}`;
      case "key":
        // Messages without a key keep their partition's order.
        return record.key === undefined ? `p:${record.partition}` : `k:${record.key}`;
    }
  }

  private deliverBatches(records: SourceRecord[]): void {
    const byPartition = new Map<string, SourceRecord[]>();
    for (const record of records) {
      if (this.partitions.get(record.partition)?.revoked === true) continue;
      let list = byPartition.get(record.partition);
      if (list === undefined) byPartition.set(record.partition, (list = []));
      list.push(record);
    }
    for (const [partition, list] of byPartition) {
      for (let i = 0; i < list.length; i += this.opts.maxBatchSize) {
        const chunk = list.slice(i, i + this.opts.maxBatchSize);
        const epochs = chunk.map((r) => this.track(r));
        this.counters.delivered += chunk.length;
        this.batchMessagesInFlight += chunk.length;
        // Batches of one partition run in order, partitions in parallel.
        this.executor.run(`p:${partition}`, () =>
          this.processBatch(chunk, epochs).finally(() => {
            this.batchMessagesInFlight -= chunk.length;
            if (this.available > 0) this.wakeCapacityWaiters();
          }),
        );
      }
    }
  }

  private decode(record: SourceRecord, attempt: number): ReceivedMessage<T> {
    // Copy the headers only when Brook's own header must be removed from them.
    let headers = record.headers;
    if (headers[IDEMPOTENCY_HEADER] !== undefined || Object.isFrozen(headers)) {
      headers = {};
      for (const name in record.headers) if (name !== IDEMPOTENCY_HEADER) headers[name] = record.headers[name]!;
    }
    const message: ReceivedMessage<T> = {
      id: record.id ?? `${record.partition}/${record.offset}`,
      topic: this.topic,
      data: this.opts.codec.decode(record.value),
      headers,
      publishTime: record.publishTime,
      position: { partition: record.partition, offset: record.offset },
      deliveryAttempt: attempt,
    };
    if (record.key !== undefined) message.key = record.key;
    const idem = record.idempotencyKey ?? record.headers[IDEMPOTENCY_HEADER];
    if (idem !== undefined) message.idempotencyKey = idem;
    return message;
  }

  /**
   * The common case on one stack frame: no dedupe store, no provider dead-lettering, no
   * tracing, and the first attempt succeeds. Anything else goes the full way (processOne).
   */
  private processFast(record: SourceRecord, epoch: number): Promise<void> {
    if (this.options.dedupe !== undefined || this.opts.nativeDeadLetter || tracingActive()) return this.processOne(record, epoch);
    let message: ReceivedMessage<T>;
    let result: Promise<void> | void;
    try {
      message = this.decode(record, record.deliveryAttempt ?? 1);
      result = this.options.handler!(message);
    } catch (error) {
      return this.processOne(record, epoch, { error });
    }
    if (result === undefined || typeof (result as Promise<void>).then !== "function") {
      this.settle(record, epoch);
      return Promise.resolve();
    }
    return (result as Promise<void>).then(
      () => this.settle(record, epoch),
      (error: unknown) => this.processOne(record, epoch, { error }),
    );
  }

  private async processOne(record: SourceRecord, epoch: number, first?: FirstFailure): Promise<void> {
    const firstAttempt = record.deliveryAttempt ?? 1;
    const handler = this.options.handler!;
    const dedupe = this.options.dedupe;
    const dedupeKey = record.idempotencyKey ?? record.headers[IDEMPOTENCY_HEADER];
    let attempts = 0;
    try {
      if (dedupe !== undefined && dedupeKey !== undefined) {
        const claim = await this.claim(dedupeKey);
        if (claim === "done") {
          this.counters.duplicates += 1;
          this.settle(record, epoch);
          return;
        }
        if (claim === "abandoned") return;
      }
      let failure: unknown;
      try {
        if (this.opts.nativeDeadLetter) {
          // The provider counts attempts and dead-letters; one try per delivery here.
          attempts = 1;
          const message = this.decode(record, firstAttempt);
          await withProcessSpan(this.topic, record.headers, async () => handler(message));
        } else {
          attempts = await this.runHandler(record, firstAttempt, first);
        }
      } catch (err) {
        failure = err;
      }
      if (failure === undefined) {
        if (dedupe !== undefined && dedupeKey !== undefined) await dedupe.store.complete(dedupeKey);
        this.settle(record, epoch);
        return;
      }
      if (dedupe !== undefined && dedupeKey !== undefined) await dedupe.store.release(dedupeKey).catch(() => undefined);
      if (this.abort.signal.aborted) return; // abandoned on close: left uncommitted, redelivered later
      // With the provider's dead-letter policy, even a PermanentError goes back to the provider:
      // it counts the attempts and moves the message to its dead-letter topic (acking it here
      // would lose it, since Brook does not know that topic).
      if (this.opts.nativeDeadLetter) {
        this.counters.retried += 1;
        this.untrack(record);
        this.source.redeliver?.(record, this.opts.retry.minDelayMs);
        this.progress(record.partition);
        return;
      }
      await this.deadLetter([record], failure, firstAttempt + attemptsOf(failure, attempts) - 1);
      this.settle(record, epoch);
    } catch (err) {
      // Only dead-lettering or the dedupe store can land here; the message stays unsettled,
      // so the watermark holds and the message is redelivered after a restart.
      this.error(toBrookError(err));
    }
  }

  private async processBatch(records: SourceRecord[], epochs: number[]): Promise<void> {
    const batchHandler = this.options.batchHandler!;
    let attempts = 0;
    try {
      let failure: unknown;
      try {
        attempts = await this.runAttempts(async (attempt) => {
          const messages = records.map((r) => this.decode(r, (r.deliveryAttempt ?? 1) + attempt - 1));
          await batchHandler(messages);
        }, records.length);
      } catch (err) {
        failure = err;
      }
      if (failure !== undefined) {
        if (this.abort.signal.aborted) return;
        await this.deadLetter(records, failure, attemptsOf(failure, attempts));
      }
      records.forEach((r, i) => this.settle(r, epochs[i]!));
    } catch (err) {
      this.error(toBrookError(err));
    }
  }

  /**
   * Runs the handler with the retry policy; returns the attempts used or throws the last error
   * (with `attempts` attached). The first attempt runs directly: p-retry's bookkeeping is paid
   * only by messages that fail, which keeps the common path fast.
   */
  private runHandler(record: SourceRecord, firstAttempt: number, first?: FirstFailure): Promise<number> {
    const handler = this.options.handler!;
    return this.runAttempts(
      async (attempt) => {
        const message = this.decode(record, firstAttempt + attempt - 1);
        if (tracingActive()) await withProcessSpan(this.topic, record.headers, async () => handler(message));
        else await handler(message);
      },
      1,
      first,
    );
  }

  /** Runs `invoke(attempt)` under the retry policy; `weight` messages count per retry. */
  private async runAttempts(invoke: (attempt: number) => Promise<void>, weight: number, first?: FirstFailure): Promise<number> {
    const retriable = (err: unknown): boolean => !(err instanceof PermanentError) && !isCorrupt(err) && this.state !== "closed";
    // When the fast path already ran attempt 1, its error stands in for running it again.
    try {
      if (first !== undefined) throw first.error;
      await invoke(1);
      return 1;
    } catch (err) {
      if (this.opts.retry.maxAttempts === 1 || !retriable(err)) throw withAttempts(err, 1);
    }
    this.counters.retried += weight;
    const { minDelayMs, maxDelayMs, maxAttempts } = this.opts.retry;
    await sleep(minDelayMs * (1 + Math.random()), this.abort.signal);
    if (this.abort.signal.aborted) throw withAttempts(new BrookError("CLOSED", "subscription closed during retry"), 1);
    let attempts = 1;
    try {
      await runWithRetry(
        { maxAttempts: maxAttempts - 1, minDelayMs: Math.min(minDelayMs * 2, maxDelayMs), maxDelayMs },
        async (n) => {
          attempts = n + 1;
          await invoke(n + 1);
        },
        { signal: this.abort.signal, shouldRetry: retriable, onFailedAttempt: () => void (this.counters.retried += weight) },
      );
    } catch (err) {
      throw withAttempts(err, attempts);
    }
    return attempts;
  }

  /** Claims a dedupe key, waiting while another worker holds a live claim. */
  private async claim(key: string): Promise<"claimed" | "done" | "abandoned"> {
    const dedupe = this.options.dedupe!;
    const ttlMs = dedupe.ttlMs ?? 24 * 3600_000;
    for (let wait = 25; ; wait = Math.min(wait * 2, 1_000)) {
      const result = await dedupe.store.claim(key, ttlMs);
      if (result !== "busy") return result;
      if (this.abort.signal.aborted) return "abandoned";
      await sleep(wait, this.abort.signal);
    }
  }

  private async deadLetter(records: SourceRecord[], failure: unknown, attempts: number): Promise<void> {
    const reason = failure instanceof Error ? failure.message : String(failure);
    const topic = this.opts.deadLetterTopic;
    this.counters.deadLettered += records.length;
    if (topic === undefined) {
      for (const r of records) {
        this.error(
          new BrookError(
            "INTERNAL",
            `message ${r.partition}/${r.offset} of topic "${this.topic}" failed after ${attempts} attempt(s) and was dropped (no deadLetter configured): ${reason}`,
            { cause: failure },
          ),
        );
      }
      return;
    }
    this.dlqPublisher ??= this.context.openPublisher(topic);
    const results = await this.dlqPublisher.publishBatch(
      records.map((r) => ({
        data: r.value,
        ...(r.key === undefined ? {} : { key: r.key }),
        headers: {
          ...r.headers,
          [DLQ_HEADERS.reason]: reason.slice(0, 1_000),
          [DLQ_HEADERS.originalTopic]: this.topic,
          [DLQ_HEADERS.originalPosition]: `${r.partition}:${r.offset}`,
          [DLQ_HEADERS.attempts]: String(attempts),
        },
      })),
    );
    const failed = results.find((r) => !r.ok);
    if (failed !== undefined && !failed.ok) {
      throw new BrookError(failed.error.code, `dead-letter publish to "${topic}" failed: ${failed.error.message}`, { cause: failed.error });
    }
  }

  private settle(record: SourceRecord, epoch: number): void {
    this.counters.acked += 1;
    if (this.source.settleMode === "watermark") {
      this.tracker.settled(record.partition, record.offset, epoch);
    } else {
      this.untrack(record);
      if (this.state !== "closed") this.source.ack?.(record);
    }
    this.progress(record.partition);
    if (this.settleWaiters.size > 0) for (const wake of [...this.settleWaiters]) wake();
  }

  private progress(partition: string): void {
    const state = this.partitions.get(partition);
    if (state !== undefined) {
      state.lastProgressAt = Date.now();
      state.stalled = false;
    }
  }

  private async commitOnce(): Promise<void> {
    const moved = new Map<string, string>();
    for (const [partition, state] of this.partitions) {
      const mark = this.tracker.watermark(partition);
      if (mark !== undefined && mark !== state.lastCommitted) moved.set(partition, mark);
    }
    if (moved.size === 0 || this.source.commit === undefined) return;
    await this.source.commit(moved);
    for (const [partition, mark] of moved) {
      const state = this.partitions.get(partition);
      if (state !== undefined) state.lastCommitted = mark;
    }
  }

  private lag(partition: string, state: PartitionState): number | undefined {
    if (state.endOffset === undefined) return undefined;
    try {
      const end = BigInt(state.endOffset);
      const mark = this.tracker.watermark(partition);
      const next = mark !== undefined ? BigInt(mark) + 1n : state.startOffset !== undefined ? BigInt(state.startOffset) : undefined;
      if (next === undefined) return undefined;
      const lag = end - next;
      return lag > 0n ? Number(lag) : 0;
    } catch {
      return undefined; // offsets that are not numbers (e.g. Pub/Sub ack ids) have no lag
    }
  }

  private checkStalls(): void {
    const now = Date.now();
    for (const [partition, state] of this.partitions) {
      if (state.revoked || state.stalled) continue;
      const lag = this.lag(partition, state);
      const busy = (lag !== undefined && lag > 0) || this.inFlight(partition) > 0;
      if (busy && state.lastProgressAt !== undefined && now - state.lastProgressAt > this.opts.stallTimeoutMs) {
        state.stalled = true;
        const health = this.health().find((h) => h.partition === partition);
        if (health !== undefined) this.emitter.emit("stalled", health);
      }
    }
  }

  private waitUntil(condition: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (condition()) {
          this.settleWaiters.delete(check);
          resolve();
        }
      };
      this.settleWaiters.add(check);
      check();
    });
  }

  private wakeCapacityWaiters(): void {
    for (const wake of [...this.capacityWaiters]) wake();
  }

  private stopTimers(): void {
    if (this.commitTimer !== undefined) clearInterval(this.commitTimer);
    if (this.watchdogTimer !== undefined) clearInterval(this.watchdogTimer);
    this.commitTimer = undefined;
    this.watchdogTimer = undefined;
    this.settleWaiters.clear();
  }

  private ensureRunning(): void {
    if (this.state !== "running") throw new BrookError("CLOSED", `subscription to "${this.topic}" (group "${this.group}") is closed`);
  }
}

/** What the fast path's failed first attempt threw, handed to the full path. */
interface FirstFailure {
  error: unknown;
}

const ATTEMPTS = Symbol("brook.attempts");

/** Tags a handler failure with how many attempts it took (read back by attemptsOf). */
function withAttempts(err: unknown, attempts: number): unknown {
  if (typeof err === "object" && err !== null) (err as { [ATTEMPTS]?: number })[ATTEMPTS] = attempts;
  return err;
}

function attemptsOf(err: unknown, fallback: number): number {
  return (typeof err === "object" && err !== null ? (err as { [ATTEMPTS]?: number })[ATTEMPTS] : undefined) ?? fallback;
}

function isCorrupt(err: unknown): boolean {
  return err instanceof BrookError && err.code === "CORRUPT_DATA";
}

/** Resolves when `promise` settles or `ms` passes, whichever is first; clears its timer. */
export async function waitWithTimeout(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
