import { setMaxListeners } from "node:events";
import { BrookError, toBrookError } from "../errors.js";
import { KeyedExecutor } from "../keyed-executor.js";
import { TypedEmitter } from "../emitter.js";
import { loadOtel } from "../tracing.js";
import { BOUNDS } from "../bounds.js";
import type { CloseOptions, PartitionHealth, SeekTarget, Subscription, SubscriptionEvents } from "../contract.js";
import type { Logger } from "../logger.js";
import type { DeliverySink, PartitionAssignment, PartitionBacklog, RecordRun, SourceRecord, SubscriptionSource } from "../spi.js";
import { DeadLetterer, type DeadLetterPublisherFactory } from "./dead-letter.js";
import { HandlerRunner, type RecordBatch, type SubscriptionStats } from "./handler-runner.js";
import { PartitionHealthTracker } from "./health.js";
import { validateSeekTarget, type ResolvedSubscribeOptions } from "./options.js";
import { settlementFor, type Settlement } from "./settlement.js";
import { waitWithTimeout } from "./wait.js";

/** Everything a subscription is made of; the broker skeleton builds it. */
export interface SubscriptionInit<T, S extends SubscriptionSource = SubscriptionSource> {
  topic: string;
  source: S;
  options: ResolvedSubscribeOptions<T>;
  logger: Logger;
  /** opens a bytes publisher for dead letters */
  openDeadLetterPublisher: DeadLetterPublisherFactory;
  /** called once the subscription is closed (the broker forgets it) */
  onClosed?: () => void;
  /** OpenTelemetry `messaging.system` of the backend (default "brook") */
  system?: string;
}

/**
 * The one subscription implementation, a small coordinator: the adapter's source fetches and
 * commits or acks; the keyed executor orders work; the HandlerRunner runs handlers with
 * retries and dedupe; the DeadLetterer takes what fails for good; the Settlement commits
 * watermarks or acks; the PartitionHealthTracker reports lag and stalls. Adapters with extras
 * extend this class (their broker's type says so).
 */
export class ManagedSubscription<T, S extends SubscriptionSource = SubscriptionSource> implements Subscription, DeliverySink {
  readonly topic: string;
  readonly group: string;
  protected readonly source: S;
  private readonly options: ResolvedSubscribeOptions<T>;
  private readonly emitter: TypedEmitter<SubscriptionEvents>;
  private readonly executor: KeyedExecutor;
  private readonly settlement: Settlement;
  private readonly partitions: PartitionHealthTracker;
  private readonly runner: HandlerRunner<T>;
  private readonly deadLetters: DeadLetterer;
  private readonly abort = new AbortController();
  private readonly capacityWaiters = new Set<() => void>();
  private readonly settleWaiters = new Set<() => void>();
  private commitTimer: NodeJS.Timeout | undefined;
  private state: "new" | "running" | "closing" | "closed" = "new";
  private closed: Promise<void> | undefined;
  /** errors the source reported before start() resolved, emitted just after it (see error()) */
  private startupErrors: BrookError[] | undefined = [];
  private uniqueKey = 0;
  /** "p:<partition>" per partition, made once: a fresh concatenation per message must be flattened and hashed by the executor's map */
  private readonly partitionKeys = new Map<string, string>();
  /** batch mode: messages handed to batch handlers and not yet settled */
  private batchMessagesInFlight = 0;
  /** message mode: runs handled as one executor task each, and their messages not yet settled */
  private runTasks = 0;
  private runMessagesInFlight = 0;
  /** free slots at which a source waiting for room is woken while runs are in flight */
  private readonly runRefill: number;

  constructor(private readonly init: SubscriptionInit<T, S>) {
    // Every retry waiting out its backoff listens on this signal (to end early on close): with
    // many messages retrying at once that is far more than Node's default of 10 listeners.
    setMaxListeners(0, this.abort.signal);
    this.topic = init.topic;
    this.group = init.options.group;
    this.source = init.source;
    this.options = init.options;
    this.runRefill = Math.max(1, Math.floor(init.options.maxInFlight / 4));
    const batchMode = init.options.handler.kind === "batch";
    // In batch mode the executor runs whole batches; maxInFlight is enforced in messages by
    // `available` below instead.
    this.executor = new KeyedExecutor(batchMode ? Number.MAX_SAFE_INTEGER : init.options.maxInFlight);
    this.emitter = new TypedEmitter<SubscriptionEvents>((event, args) => {
      if (event === "error") init.logger.error(`subscription ${this.topic}/${this.group}: ${(args[0] as Error).message}`);
    });
    this.settlement = settlementFor(init.source);
    this.partitions = new PartitionHealthTracker(this.settlement, init.options.stallTimeoutMs, (h) => {
      this.emitter.emit("stalled", h);
      // The source may restart a receiver that went silent (Event Hubs).
      if (this.state === "running") this.source.stalled?.(h.partition, h);
    });
    const deadLetterTopic = init.options.deadLetter.kind === "topic" ? init.options.deadLetter.topic : undefined;
    this.deadLetters = new DeadLetterer(this.topic, deadLetterTopic, init.openDeadLetterPublisher, (e) => this.error(e));
    this.runner = new HandlerRunner<T>(this.topic, init.options, this.abort.signal, init.system ?? "brook", {
      settle: (record, token) => this.settle(record, token),
      redeliver: (record) => {
        this.settlement.redeliver(record, this.options.retry.minDelayMs);
        this.partitions.progress(record.partition);
      },
      deadLetter: (records, failure, attempts) => this.deadLetters.deadLetter(records, failure, attempts),
      error: (e) => this.error(e),
      isClosed: () => this.state === "closed",
    });
  }

  /** Starts the source and resolves once it is running; the broker skeleton calls this once. */
  async start(): Promise<this> {
    if (this.state !== "new") throw new BrookError("INTERNAL", "subscription started twice");
    this.state = "running";
    await loadOtel();
    if (this.settlement.commitsOnInterval) {
      this.commitTimer = setInterval(() => void this.commit().catch((err) => this.error(toBrookError(err))), this.options.commitIntervalMs);
      this.commitTimer.unref();
    }
    this.partitions.start();
    try {
      await this.source.start(this);
    } catch (err) {
      this.stopTimers();
      this.state = "closed";
      this.init.onClosed?.();
      throw toBrookError(err, "UNAVAILABLE");
    }
    const early = this.startupErrors ?? [];
    this.startupErrors = undefined;
    if (early.length > 0) setImmediate(() => early.forEach((e) => this.emitter.emit("error", e)));
    return this;
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
    return { ...this.runner.stats };
  }

  /** A closed subscription owns nothing. */
  assignment(): string[] {
    return this.state === "closed" ? [] : this.partitions.owned();
  }

  async seek(target: SeekTarget): Promise<void> {
    this.ensureRunning();
    await this.source.seek(validateSeekTarget(target));
  }

  health(): PartitionHealth[] {
    return this.partitions.health();
  }

  /** Commits the watermark of every partition that moved since its last commit. */
  commit(): Promise<void> {
    if (this.state === "closed") return Promise.resolve();
    return this.settlement.commit(this.partitions.known());
  }

  /**
   * Every call resolves when the subscription is closed: a second close() (a SIGTERM handler
   * beside the main flow's own) waits for the first, so a broker.close() after it cannot cut
   * the first one's final commit.
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (this.closed !== undefined) return this.closed;
    if (this.state !== "running") return Promise.resolve();
    this.closed = this.closeOnce(options);
    return this.closed;
  }

  private async closeOnce(options: CloseOptions): Promise<void> {
    this.state = "closing";
    const drain = (options.drain ?? true) && options.signal?.aborted !== true;
    const timeoutMs = options.timeoutMs ?? BOUNDS.closeDrainMs;
    this.wakeCapacityWaiters();
    try {
      if (drain) {
        // The caller's signal ends the drain early, as the timeout does.
        const idle = this.executor.waitForIdle();
        await waitWithTimeout(options.signal === undefined ? idle : Promise.race([idle, aborted(options.signal)]), timeoutMs);
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
        await this.deadLetters.close();
        this.init.onClosed?.();
      }
    }
  }

  /** `await using sub = await broker.subscribe(…)` closes it (draining) at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- DeliverySink (adapter side) ----

  get closing(): boolean {
    return this.state !== "running";
  }

  get available(): number {
    if (this.state !== "running") return 0;
    if (this.options.handler.kind === "batch") return Math.max(0, this.options.maxInFlight - this.batchMessagesInFlight);
    // A run is one executor task holding many messages: count its messages instead.
    return Math.max(0, this.executor.available + this.runTasks - this.runMessagesInFlight);
  }

  waitForCapacity(): Promise<void> {
    if (this.state !== "running" || this.available > 0) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        if (this.state === "running" && this.available <= 0) {
          // Still full. Runs wake this as their messages settle; without runs in flight the
          // executor is what is full, and it says when it has room.
          if (this.runMessagesInFlight === 0) void this.executor.waitForCapacity().then(wake);
          return;
        }
        this.capacityWaiters.delete(wake);
        resolve();
      };
      this.capacityWaiters.add(wake);
      if (this.options.handler.kind === "message" && this.runMessagesInFlight === 0) void this.executor.waitForCapacity().then(wake);
    });
  }

  assigned(assignments: PartitionAssignment[]): void {
    for (const a of assignments) this.partitions.assign(a);
    if (assignments.length > 0) this.emitter.emit("assigned", assignments.map((a) => a.partition));
  }

  reset(partition: string, assignment: PartitionAssignment): void {
    this.partitions.assign({ ...assignment, partition });
  }

  async revoked(partitions: string[]): Promise<void> {
    this.partitions.markRevoked(partitions);
    const drained = (): boolean => partitions.every((p) => this.settlement.inFlight(p) === 0);
    if (!drained()) await waitWithTimeout(this.waitUntil(drained), BOUNDS.revokeDrainMs);
    await this.commit().catch((err) => this.error(toBrookError(err)));
    for (const p of partitions) this.partitions.remove(p);
    if (partitions.length > 0) this.emitter.emit("revoked", partitions);
  }

  reportEnd(partition: string, endOffset: string): void {
    this.partitions.reportEnd(partition, endOffset);
  }

  reportBacklog(partition: string, backlog: PartitionBacklog): void {
    this.partitions.reportBacklog(partition, backlog);
  }

  /**
   * Errors a source reports while subscribe() is still starting (e.g. OUT_OF_RANGE found while
   * placing the first assignment) are held and emitted once it has resolved, so a listener
   * registered right after `await subscribe()` receives them.
   */
  error(error: BrookError): void {
    if (this.startupErrors !== undefined) this.startupErrors.push(error);
    else this.emitter.emit("error", error);
  }

  deliver(records: SourceRecord[]): void {
    if (this.state !== "running" || records.length === 0) return;
    const mode = this.options.handler;
    if (mode.kind === "batch") {
      this.deliverBatches(records, mode.maxBatchSize);
      return;
    }
    let partition: string | undefined;
    let revoked = false;
    for (const record of records) {
      if (record.partition !== partition) {
        partition = record.partition;
        revoked = this.partitions.isRevoked(partition);
      }
      if (revoked) continue;
      const token = this.settlement.track(record);
      this.runner.stats.delivered += 1;
      this.executor.run(this.orderingKey(record), () => this.runner.runMessage(mode.handler, record, token));
    }
  }

  deliverRun(run: RecordRun): void {
    if (this.state !== "running" || run.count === 0 || this.partitions.isRevoked(run.partition)) return;
    const mode = this.options.handler;
    const settlement = this.settlement;
    if (settlement.trackRun === undefined || settlement.settleRun === undefined || (mode.kind === "message" && this.options.ordering !== "partition")) {
      // Acked one by one, or ordered per key / not at all: one task per message, as deliver().
      this.deliver(recordsOf(run));
      return;
    }
    const key = this.partitionKey(run.partition);
    if (mode.kind === "batch") {
      for (let start = 0; start < run.count; start += mode.maxBatchSize) {
        const slice = start === 0 && run.count <= mode.maxBatchSize ? run : runSlice(run, start, Math.min(mode.maxBatchSize, run.count - start));
        const token = settlement.trackRun(slice);
        const count = slice.count;
        this.runner.stats.delivered += count;
        this.batchMessagesInFlight += count;
        const batch: RecordBatch = {
          count,
          record: (i) => slice.record(i),
          records: () => recordsOf(slice),
          settle: () => this.settleRange(slice.partition, slice.firstOffset, count, token),
        };
        this.executor.run(key, () =>
          this.runner.runBatch(mode.handler, batch).finally(() => {
            this.batchMessagesInFlight -= count;
            if (this.available > 0) this.wakeCapacityWaiters();
          }),
        );
      }
      return;
    }
    // Per-message handler, ordering "partition": the run is one task, its messages in order.
    const token = settlement.trackRun(run);
    this.runner.stats.delivered += run.count;
    this.runTasks += 1;
    this.runMessagesInFlight += run.count;
    let open = run.count;
    const release = (count: number): void => {
      open -= count;
      this.runMessagesInFlight -= count;
      // The source is woken once a quarter of the window is free (or the run is done), not at
      // each message: woken at one free slot, it would fetch runs of one record each. Each
      // waiter checks for room itself (and, once no run is left, waits on the executor).
      if (this.capacityWaiters.size > 0 && (open === 0 || this.available >= this.runRefill)) this.wakeCapacityWaiters();
    };
    const progress = {
      settle: (from: number, count: number): void => {
        this.settleRange(run.partition, run.firstOffset + from, count, token);
        release(count);
      },
      release,
    };
    this.executor.run(key, () =>
      this.runner.runRun(mode.handler, run, token, progress).finally(() => {
        // abandoned on close: no longer counted
        this.runTasks -= 1;
        release(open);
      }),
    );
  }

  // ---- internals ----

  private deliverBatches(records: SourceRecord[], maxBatchSize: number): void {
    const handler = this.options.handler;
    if (handler.kind !== "batch") return;
    // A source usually delivers one partition's records at a time: no regrouping then.
    const first = records[0]!.partition;
    let onePartition = true;
    for (let i = 1; i < records.length; i++) {
      if (records[i]!.partition !== first) {
        onePartition = false;
        break;
      }
    }
    const byPartition = new Map<string, SourceRecord[]>();
    if (onePartition) {
      if (!this.partitions.isRevoked(first)) byPartition.set(first, records);
    } else {
      for (const record of records) {
        if (this.partitions.isRevoked(record.partition)) continue;
        let list = byPartition.get(record.partition);
        if (list === undefined) byPartition.set(record.partition, (list = []));
        list.push(record);
      }
    }
    for (const [partition, list] of byPartition) {
      for (let i = 0; i < list.length; i += maxBatchSize) {
        const chunk = i === 0 && list.length <= maxBatchSize ? list : list.slice(i, i + maxBatchSize);
        const tokens: number[] = new Array(chunk.length);
        for (let j = 0; j < chunk.length; j++) tokens[j] = this.settlement.track(chunk[j]!);
        this.runner.stats.delivered += chunk.length;
        this.batchMessagesInFlight += chunk.length;
        // Batches of one partition run in order, partitions in parallel.
        const batch: RecordBatch = { count: chunk.length, record: (i) => chunk[i]!, records: () => chunk, settle: () => this.settleMany(chunk, tokens) };
        this.executor.run(this.partitionKey(partition), () =>
          this.runner.runBatch(handler.handler, batch).finally(() => {
            this.batchMessagesInFlight -= chunk.length;
            if (this.available > 0) this.wakeCapacityWaiters();
          }),
        );
      }
    }
  }

  private partitionKey(partition: string): string {
    let key = this.partitionKeys.get(partition);
    if (key === undefined) {
      if (this.partitionKeys.size >= 10_000) this.partitionKeys.clear();
      this.partitionKeys.set(partition, (key = `p:${partition}`));
    }
    return key;
  }

  private orderingKey(record: SourceRecord): string {
    switch (this.options.ordering) {
      case "none":
        return `#${(this.uniqueKey = (this.uniqueKey + 1) % Number.MAX_SAFE_INTEGER)}`;
      case "partition":
        return this.partitionKey(record.partition);
      case "key":
        // Messages without a key keep their partition's order.
        return record.key === undefined ? this.partitionKey(record.partition) : `k:${record.key}`;
    }
  }

  private settleMany(records: readonly SourceRecord[], tokens: readonly number[]): void {
    if (records.length === 0) return;
    const closed = this.state === "closed";
    for (let i = 0; i < records.length; i++) this.settlement.settle(records[i]!, tokens[i]!, closed);
    // runBatch hands one partition's records: one progress mark per partition seen
    let last: string | undefined;
    for (const record of records) {
      if (record.partition === last) continue;
      last = record.partition;
      this.partitions.progress(last);
    }
    if (this.settleWaiters.size > 0) for (const wake of [...this.settleWaiters]) wake();
  }

  /** A range of one partition's offsets delivered in a run is done. */
  private settleRange(partition: string, first: number, count: number, token: number): void {
    this.settlement.settleRun!(partition, first, count, token);
    this.partitions.progress(partition);
    if (this.settleWaiters.size > 0) for (const wake of [...this.settleWaiters]) wake();
  }

  private settle(record: SourceRecord, token: number): void {
    this.settlement.settle(record, token, this.state === "closed");
    this.partitions.progress(record.partition);
    if (this.settleWaiters.size > 0) for (const wake of [...this.settleWaiters]) wake();
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
    this.commitTimer = undefined;
    this.partitions.stop();
    this.settleWaiters.clear();
  }

  private ensureRunning(): void {
    if (this.state !== "running") throw new BrookError("CLOSED", `subscription to "${this.topic}" (group "${this.group}") is closed`);
  }
}

/** Records `start` .. `start + count - 1` of a run, as a run of their own. */
function runSlice(run: RecordRun, start: number, count: number): RecordRun {
  return { partition: run.partition, firstOffset: run.firstOffset + start, count, record: (i) => run.record(start + i) };
}

function recordsOf(run: RecordRun): SourceRecord[] {
  const records: SourceRecord[] = new Array<SourceRecord>(run.count);
  for (let i = 0; i < run.count; i++) records[i] = run.record(i);
  return records;
}

/** Resolves when the signal aborts (never rejects). */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
