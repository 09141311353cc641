import { BrookError, PermanentError, isBrookError, toBrookError } from "../errors.js";
import type { ClaimResult } from "../dedupe.js";
import { IDEMPOTENCY_HEADER, setHeader } from "../headers.js";
import { decodesWithoutFailure } from "../codec.js";
import { lazyMessages } from "./message-view.js";
import { runWithRetry } from "../retry.js";
import { tracingActive, withProcessSpan } from "../tracing.js";
import type { BatchHandler, MessageHandler, ReceivedMessage } from "../contract.js";
import type { RecordRun, SourceRecord } from "../spi.js";
import type { ResolvedSubscribeOptions } from "./options.js";
import { sleep } from "./wait.js";

/** Counts a subscription keeps (stats()). */
export interface SubscriptionStats {
  delivered: number;
  acked: number;
  retried: number;
  deadLettered: number;
  duplicates: number;
}

/** What the runner tells the coordinator about each record it finishes. */
export interface RunnerHooks {
  /** handled, a duplicate, or dead-lettered: settle it */
  settle(record: SourceRecord, token: number): void;
  /** deadLetter "native": hand it back to the provider, which counts attempts and dead-letters */
  redeliver(record: SourceRecord): void;
  deadLetter(records: readonly SourceRecord[], failure: unknown, attempts: number): Promise<void>;
  error(error: BrookError): void;
  /** true once the subscription is closed: no more retries */
  isClosed(): boolean;
}

/** A batch handler's records: an array of fetched records, or a slice of a run made on demand. */
export interface RecordBatch {
  readonly count: number;
  /** record i (a run makes a fresh object per call) */
  record(i: number): SourceRecord;
  /** every record, as an array (dead-lettering) */
  records(): readonly SourceRecord[];
  /** all of them are done: settle them (one partition: one progress mark, one wake-up) */
  settle(): void;
}

/** How a run handled message by message reports what is done (see runRun). */
export interface RunProgress {
  /** records `from` .. `from + count - 1` of the run were handled: settle them as one range */
  settle(from: number, count: number): void;
  /** records that were settled on their own (retried, dead-lettered, duplicates) or abandoned */
  release(count: number): void;
}

/** Records handled in order before a run settles them as one range, at most. */
const RUN_SETTLE_EVERY = 512;

/**
 * Runs handlers: the first attempt on one stack frame (the common case pays no retry
 * bookkeeping), then retries with backoff (p-retry's schedule), consumer-side dedupe claims,
 * and the hand-off to dead-lettering. A message abandoned by close() is neither settled nor
 * dead-lettered: it stays uncommitted and is redelivered.
 */
export class HandlerRunner<T> {
  readonly stats: SubscriptionStats = { delivered: 0, acked: 0, retried: 0, deadLettered: 0, duplicates: 0 };
  private readonly fastPath: boolean;

  constructor(
    private readonly topic: string,
    private readonly options: ResolvedSubscribeOptions<T>,
    private readonly signal: AbortSignal,
    /** OpenTelemetry `messaging.system` for process spans */
    private readonly system: string,
    private readonly hooks: RunnerHooks,
  ) {
    this.fastPath = options.dedupe === undefined && options.deadLetter.kind !== "native";
  }

  /** `decoded`: the record's data, when already decoded (batch views). */
  decode(record: SourceRecord, attempt: number, decoded?: { data: T }): ReceivedMessage<T> {
    // Copy the headers only when Brook's own header must be removed from them.
    let headers = record.headers;
    if (headers[IDEMPOTENCY_HEADER] !== undefined || Object.isFrozen(headers)) {
      headers = {};
      for (const name in record.headers) if (name !== IDEMPOTENCY_HEADER) setHeader(headers, name, record.headers[name]!);
    }
    const message: ReceivedMessage<T> = {
      id: record.id ?? `${record.partition}/${record.offset}`,
      topic: this.topic,
      data: decoded === undefined ? this.options.codec.decode(record.value, record.headers) : decoded.data,
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
   * One message. The common case on one stack frame: no dedupe store, no provider
   * dead-lettering, no tracing, and the first attempt succeeds. Anything else goes the full way.
   */
  runMessage(handler: MessageHandler<T>, record: SourceRecord, token: number): Promise<void> {
    // Queued behind its key when the subscription closed without drain (or its drain timed
    // out): abandoned, left unsettled for redelivery, and the handler is not called after close.
    if (this.signal.aborted) return Promise.resolve();
    if (!this.fastPath || tracingActive()) return this.runMessageFully(handler, record, token);
    let result: Promise<void> | void;
    try {
      result = handler(this.decode(record, record.deliveryAttempt ?? 1));
    } catch (error) {
      return this.runMessageFully(handler, record, token, { error });
    }
    if (result === undefined || typeof (result as Promise<void>).then !== "function") {
      this.settle(record, token);
      return Promise.resolve();
    }
    return (result as Promise<void>).then(
      () => this.settle(record, token),
      (error: unknown) => this.runMessageFully(handler, record, token, { error }),
    );
  }

  /**
   * A run of one partition handled message by message, in order, as one task (ordering
   * "partition"): records are made one at a time, and consecutive handled ones are settled as
   * one range. A message that fails goes the full way (retries, dead letter) and is settled on
   * its own, holding back the rest of the run, as a retrying message holds back its partition.
   */
  async runRun(handler: MessageHandler<T>, run: RecordRun, token: number, progress: RunProgress): Promise<void> {
    /** records before `from` are settled; `from` .. `done - 1` were handled and wait for a flush */
    let from = 0;
    let done = 0;
    const flush = (): void => {
      if (done > from) {
        this.stats.acked += done - from;
        progress.settle(from, done - from);
        from = done;
      }
    };
    // Async handlers: what was handled is settled at the next turn of the event loop, not
    // before each await. Handlers that resolve at once run the whole run in microtasks and
    // settle in stretches; one that waits (I/O, a timer) lets the turn come, and what was
    // handled before it is settled then, so a slow message still holds back only itself.
    let flushQueued = false;
    const queuedFlush = (): void => {
      flushQueued = false;
      flush();
    };
    const fast = this.fastPath && !tracingActive();
    try {
      for (let i = 0; i < run.count; i++) {
        if (this.signal.aborted) return; // abandoned on close: left unsettled, redelivered
        const record = run.record(i);
        let failure: FirstFailure | undefined;
        if (fast) {
          try {
            const result = handler(this.decode(record, record.deliveryAttempt ?? 1));
            if (result !== undefined && typeof (result as Promise<void>).then === "function") {
              if (done > from && !flushQueued) {
                flushQueued = true;
                setImmediate(queuedFlush);
              }
              await result;
            }
            // Handled in order, on one stack frame or in microtasks: settle in stretches.
            done = i + 1;
            if (done - from >= RUN_SETTLE_EVERY) flush();
            continue;
          } catch (error) {
            failure = { error };
          }
        }
        flush();
        await this.runMessageFully(handler, record, token, failure);
        from = done = i + 1;
        progress.release(1);
      }
    } finally {
      flush();
    }
  }

  /** A batch of one partition's records: resolve acks them all, a throw retries them all. */
  async runBatch(handler: BatchHandler<T>, batch: RecordBatch): Promise<void> {
    if (this.signal.aborted) return;
    let attempts = 0;
    try {
      let failure: unknown;
      try {
        attempts = await this.runAttempts(async (attempt) => {
          await handler(this.batchView(batch, attempt));
        }, batch.count);
      } catch (err) {
        failure = err;
      }
      if (failure !== undefined) {
        if (this.signal.aborted) return;
        this.stats.deadLettered += batch.count;
        await this.hooks.deadLetter(batch.records(), failure, attemptsOf(failure, attempts));
      }
      this.stats.acked += batch.count;
      batch.settle();
    } catch (err) {
      this.hooks.error(toBrookError(err));
    }
  }

  /**
   * The messages of one attempt of a batch. With the bytes codec they are made as the handler
   * reads them. Data that can fail to decode (every codec but bytes) is decoded up front, so a
   * message that does not decode still fails the batch before the handler runs; the messages
   * are then made up front too, in a plain array: the data is the cost, and reading through
   * the lazy view's proxy cost more than the message objects it saved.
   */
  private batchView(batch: RecordBatch, attempt: number): ReceivedMessage<T>[] {
    const codec = this.options.codec;
    if (decodesWithoutFailure(codec as never)) {
      return lazyMessages(batch.count, (i) => {
        const r = batch.record(i);
        return this.decode(r, (r.deliveryAttempt ?? 1) + attempt - 1);
      });
    }
    const count = batch.count;
    const messages: ReceivedMessage<T>[] = new Array<ReceivedMessage<T>>(count);
    for (let i = 0; i < count; i++) {
      const r = batch.record(i);
      messages[i] = this.decode(r, (r.deliveryAttempt ?? 1) + attempt - 1, { data: codec.decode(r.value, r.headers) });
    }
    return messages;
  }

  private settle(record: SourceRecord, token: number): void {
    this.stats.acked += 1;
    this.hooks.settle(record, token);
  }

  private async runMessageFully(handler: MessageHandler<T>, record: SourceRecord, token: number, first?: FirstFailure): Promise<void> {
    const firstAttempt = record.deliveryAttempt ?? 1;
    const dedupe = this.options.dedupe;
    const dedupeKey = dedupe === undefined ? undefined : (record.idempotencyKey ?? record.headers[IDEMPOTENCY_HEADER]);
    let claimToken: string | undefined;
    let attempts = 0;
    try {
      if (dedupeKey !== undefined) {
        const claim = await this.claim(dedupeKey);
        if (claim === "done") {
          this.stats.duplicates += 1;
          this.settle(record, token);
          return;
        }
        if (claim === "abandoned") return;
        claimToken = claim.token;
      }
      let failure: unknown;
      try {
        if (this.options.deadLetter.kind === "native") {
          // The provider counts attempts and dead-letters; one try per delivery here.
          attempts = 1;
          const message = this.decode(record, firstAttempt);
          await withProcessSpan(this.topic, record.headers, async () => handler(message), this.system, this.options.group);
        } else {
          attempts = await this.runAttempts(
            async (attempt) => {
              const message = this.decode(record, firstAttempt + attempt - 1);
              if (tracingActive()) await withProcessSpan(this.topic, record.headers, async () => handler(message), this.system, this.options.group);
              else await handler(message);
            },
            1,
            first,
          );
        }
      } catch (err) {
        failure = err;
      }
      if (failure === undefined) {
        if (dedupeKey !== undefined && (await this.complete(dedupeKey, claimToken!)) === "abandoned") return;
        this.settle(record, token);
        return;
      }
      if (dedupeKey !== undefined) await dedupe!.store.release(dedupeKey, claimToken).catch((err: unknown) => this.hooks.error(toBrookError(err)));
      if (this.signal.aborted) return; // abandoned on close: left unsettled, redelivered later
      // With the provider's dead-letter policy, even a PermanentError goes back to the provider:
      // it counts the attempts and moves the message to its dead-letter topic (acking it here
      // would lose it, since Brook does not know that topic).
      if (this.options.deadLetter.kind === "native") {
        this.stats.retried += 1;
        this.hooks.redeliver(record);
        return;
      }
      this.stats.deadLettered += 1;
      await this.hooks.deadLetter([record], failure, firstAttempt + attemptsOf(failure, attempts) - 1);
      this.settle(record, token);
    } catch (err) {
      // Only dead-lettering or a non-retriable dedupe store error can land here; the message
      // stays unsettled, so the watermark holds and the message is redelivered after a restart.
      this.hooks.error(toBrookError(err));
    }
  }

  /**
   * Runs `invoke(attempt)` under the retry policy; returns the attempts used or throws the
   * last error (tagged with the attempts). `weight` messages count per retry. When the fast
   * path already ran attempt 1, its error stands in for running it again.
   */
  private async runAttempts(invoke: (attempt: number) => Promise<void>, weight: number, first?: FirstFailure): Promise<number> {
    const retriable = (err: unknown): boolean => !(err instanceof PermanentError) && !isCorrupt(err) && !this.hooks.isClosed();
    try {
      if (first !== undefined) throw first.error;
      await invoke(1);
      return 1;
    } catch (err) {
      if (this.options.retry.maxAttempts === 1 || !retriable(err)) throw withAttempts(err, 1);
    }
    this.stats.retried += weight;
    const { minDelayMs, maxDelayMs, maxAttempts } = this.options.retry;
    await sleep(minDelayMs * (1 + Math.random()), this.signal);
    if (this.signal.aborted) throw withAttempts(new BrookError("CLOSED", "subscription closed during retry"), 1);
    let attempts = 1;
    try {
      await runWithRetry(
        { maxAttempts: maxAttempts - 1, minDelayMs: Math.min(minDelayMs * 2, maxDelayMs), maxDelayMs },
        async (n) => {
          attempts = n + 1;
          await invoke(n + 1);
        },
        { signal: this.signal, shouldRetry: retriable, onFailedAttempt: () => void (this.stats.retried += weight) },
      );
    } catch (err) {
      throw withAttempts(err, attempts);
    }
    return attempts;
  }

  /**
   * Claims a dedupe key under a fresh token, waiting (with backoff) while another worker holds
   * a live claim. A retriable store error (the store restarting) is reported and retried.
   */
  private async claim(key: string): Promise<{ token: string } | "done" | "abandoned"> {
    const dedupe = this.options.dedupe!;
    for (let wait = 25; ; wait = Math.min(wait * 2, 1_000)) {
      const claimToken = globalThis.crypto.randomUUID();
      let result: ClaimResult | undefined;
      try {
        result = await dedupe.store.claim(key, dedupe.ttlMs, claimToken);
      } catch (err) {
        this.storeFailed(err);
      }
      if (result === "claimed") return { token: claimToken };
      if (result === "done") return "done";
      if (this.signal.aborted) return "abandoned";
      await sleep(wait, this.signal);
    }
  }

  /**
   * Completes a claim after the handler succeeded. FENCED (the claim expired while the handler
   * ran) claims the key again: another worker may have completed it meanwhile ("done"), else
   * this worker's success is recorded under the new claim; the handler is not run again.
   */
  private async complete(key: string, claimToken: string): Promise<"completed" | "abandoned"> {
    const store = this.options.dedupe!.store;
    for (let wait = 25; ; wait = Math.min(wait * 2, 1_000)) {
      try {
        await store.complete(key, claimToken);
        return "completed";
      } catch (err) {
        if (isBrookError(err, "FENCED")) {
          this.hooks.error(err);
          const again = await this.claim(key);
          if (again === "done" || again === "abandoned") return again === "done" ? "completed" : "abandoned";
          claimToken = again.token;
          continue;
        }
        this.storeFailed(err);
      }
      if (this.signal.aborted) return "abandoned";
      await sleep(wait, this.signal);
    }
  }

  /** A dedupe store error: reported; a retriable one is retried by the caller, others thrown. */
  private storeFailed(err: unknown): void {
    const error = toBrookError(err);
    if (!error.retriable) throw error;
    this.hooks.error(error);
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
