import { BrookError } from "./errors.js";

export interface BatcherLimits {
  /** how long the first entry of a batch may wait for company */
  lingerMs: number;
  maxBatchCount: number;
  maxBatchBytes: number;
  /**
   * Batches sent at once (default 1). Above 1 only for backends that apply concurrent sends in
   * call order per key (e.g. Pub/Sub's ordered publisher queues).
   */
  maxInFlightBatches?: number;
}

interface Pending<I, R> {
  item: I;
  bytes: number;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

const noop = (): void => undefined;

/**
 * Collects entries into batches bounded by count and bytes and hands each batch to `send`,
 * one batch at a time so the backend sees entries in the order they were added. While a
 * batch is in flight the next one fills up, so throughput grows with load. `send` returns one
 * result per entry; a throw fails every entry of that batch with the same error.
 */
export class Batcher<I, R> {
  /** entries from `head` on are waiting; taken ones are dropped from the front in bulk */
  private queue: Pending<I, R>[] = [];
  private head = 0;
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private scheduled = false;
  private inFlight = 0;
  private readonly idleWaiters: Array<() => void> = [];
  private closed = false;

  constructor(
    private readonly limits: BatcherLimits,
    private readonly send: (items: I[]) => Promise<R[]>,
  ) {}

  get pending(): number {
    return this.queue.length - this.head;
  }

  add(item: I, bytes: number): Promise<R> {
    if (this.closed) return Promise.reject(new BrookError("CLOSED", "publisher is closed"));
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, bytes, resolve, reject });
      this.queuedBytes += bytes;
      this.schedule();
    });
  }

  /**
   * Adds many entries at once and resolves with their results in order: one promise for the
   * whole group instead of one per entry (the fast path of publishBatch).
   */
  addMany(items: readonly I[], bytes: readonly number[]): Promise<R[]> {
    if (this.closed) return Promise.reject(new BrookError("CLOSED", "publisher is closed"));
    if (items.length === 0) return Promise.resolve([]);
    return new Promise<R[]>((resolve, reject) => {
      const results: R[] = new Array(items.length);
      let remaining = items.length;
      let failed = false;
      for (let i = 0; i < items.length; i++) {
        const index = i;
        this.queue.push({
          item: items[i]!,
          bytes: bytes[i]!,
          resolve: (r) => {
            results[index] = r;
            if (--remaining === 0 && !failed) resolve(results);
          },
          reject: failed
            ? noop
            : (err) => {
                failed = true;
                reject(err);
              },
        });
        this.queuedBytes += bytes[i]!;
      }
      this.schedule();
    });
  }

  /** Resolves once every entry added so far has its result. */
  flush(): Promise<void> {
    if (this.pending === 0 && this.inFlight === 0) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    this.clearTimer();
    this.drain();
    return done;
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  private get maxInFlight(): number {
    return this.limits.maxInFlightBatches ?? 1;
  }

  private schedule(): void {
    // While the pipe is full the next batch fills up; a completing send drains it.
    if (this.inFlight >= this.maxInFlight) return;
    const full = this.pending >= this.limits.maxBatchCount || this.queuedBytes >= this.limits.maxBatchBytes;
    if (full || this.limits.lingerMs <= 0) {
      if (full) this.clearTimer();
      if (!this.scheduled) {
        this.scheduled = true;
        // Let every publish issued in the same tick join the batch.
        setImmediate(() => {
          this.scheduled = false;
          this.drain();
        });
      }
      return;
    }
    if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.drain();
      }, this.limits.lingerMs);
    }
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private takeBatch(): Pending<I, R>[] {
    let count = 0;
    let bytes = 0;
    while (count < this.pending && count < this.limits.maxBatchCount) {
      const next = this.queue[this.head + count]!;
      if (count > 0 && bytes + next.bytes > this.limits.maxBatchBytes) break;
      bytes += next.bytes;
      count += 1;
    }
    // Advancing `head` keeps taking a batch O(batch), not O(queue): with 200k publishes queued,
    // copying the rest of the queue for every batch (and collecting the copies) cost ~25% of
    // publish throughput on Pub/Sub.
    const batch = this.queue.slice(this.head, this.head + count);
    this.head += count;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.queuedBytes -= bytes;
    return batch;
  }

  private drain(): void {
    while (this.pending > 0 && this.inFlight < this.maxInFlight) {
      const batch = this.takeBatch();
      this.inFlight += 1;
      let sent: Promise<R[]>;
      try {
        sent = this.send(batch.map((p) => p.item));
      } catch (err) {
        sent = Promise.reject(err);
      }
      void sent
        .then(
          (results) => batch.forEach((p, i) => p.resolve(results[i] as R)),
          (err: unknown) => {
            for (const p of batch) p.reject(err);
          },
        )
        .finally(() => {
          this.inFlight -= 1;
          if (this.pending > 0) this.drain();
          else if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
        });
    }
  }

}
