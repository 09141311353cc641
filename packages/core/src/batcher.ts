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

/**
 * Who waits for an entry's result: one owner per add() call, one per addMany() call (shared by
 * all its entries, so a publishBatch of 10,000 costs no object or closure per entry).
 */
interface Owner<R> {
  settle(index: number, result: R): void;
  fail(error: unknown): void;
}

class SingleOwner<R> implements Owner<R> {
  constructor(
    private readonly resolve: (result: R) => void,
    private readonly reject: (error: unknown) => void,
  ) {}
  settle(_index: number, result: R): void {
    this.resolve(result);
  }
  fail(error: unknown): void {
    this.reject(error);
  }
}

class GroupOwner<R> implements Owner<R> {
  private remaining: number;
  private failed = false;
  readonly results: R[];
  constructor(
    count: number,
    private readonly resolve: (results: R[]) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    this.remaining = count;
    this.results = new Array<R>(count);
  }
  settle(index: number, result: R): void {
    this.results[index] = result;
    if (--this.remaining === 0 && !this.failed) this.resolve(this.results);
  }
  fail(error: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.reject(error);
  }
}

/**
 * Collects entries into batches bounded by count and bytes and hands each batch to `send`,
 * one batch at a time so the backend sees entries in the order they were added. While a
 * batch is in flight the next one fills up, so throughput grows with load. `send` returns one
 * result per entry; a throw fails every entry of that batch with the same error.
 */
export class Batcher<I, R> {
  /**
   * Entries from `head` on are waiting; taken ones are dropped from the front in bulk. Parallel
   * arrays (item, size, owner, index in the owner's call) instead of an object per entry.
   */
  private items: I[] = [];
  private sizes: number[] = [];
  private owners: Owner<R>[] = [];
  private indexes: number[] = [];
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
    return this.items.length - this.head;
  }

  add(item: I, bytes: number): Promise<R> {
    if (this.closed) return Promise.reject(new BrookError("CLOSED", "publisher is closed"));
    return new Promise<R>((resolve, reject) => {
      this.push(item, bytes, new SingleOwner(resolve, reject), 0);
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
      const owner = new GroupOwner<R>(items.length, resolve, reject);
      for (let i = 0; i < items.length; i++) this.push(items[i]!, bytes[i]!, owner, i);
      this.schedule();
    });
  }

  private push(item: I, bytes: number, owner: Owner<R>, index: number): void {
    this.items.push(item);
    this.sizes.push(bytes);
    this.owners.push(owner);
    this.indexes.push(index);
    this.queuedBytes += bytes;
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

  /** Takes the next batch off the queue: its items, and who waits for each result. */
  private takeBatch(): { items: I[]; owners: Owner<R>[]; indexes: number[] } {
    let count = 0;
    let bytes = 0;
    const pending = this.pending;
    while (count < pending && count < this.limits.maxBatchCount) {
      const next = this.sizes[this.head + count]!;
      if (count > 0 && bytes + next > this.limits.maxBatchBytes) break;
      bytes += next;
      count += 1;
    }
    // Advancing `head` keeps taking a batch O(batch), not O(queue): with 200k publishes queued,
    // copying the rest of the queue for every batch (and collecting the copies) cost ~25% of
    // publish throughput on Pub/Sub.
    const from = this.head;
    const to = from + count;
    const batch = { items: this.items.slice(from, to), owners: this.owners.slice(from, to), indexes: this.indexes.slice(from, to) };
    this.head = to;
    if (this.head === this.items.length) {
      this.items = [];
      this.sizes = [];
      this.owners = [];
      this.indexes = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.sizes = this.sizes.slice(this.head);
      this.owners = this.owners.slice(this.head);
      this.indexes = this.indexes.slice(this.head);
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
        sent = this.send(batch.items);
      } catch (err) {
        sent = Promise.reject(err);
      }
      void sent
        .then(
          (results) => {
            const { owners, indexes } = batch;
            for (let i = 0; i < owners.length; i++) owners[i]!.settle(indexes[i]!, results[i] as R);
          },
          (err: unknown) => {
            for (const owner of batch.owners) owner.fail(err);
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
