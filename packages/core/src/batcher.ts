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
 * Who waits for a run's results: one owner per add() call, one per addMany() call (shared by
 * all its entries, so a publishBatch of 10,000 costs no object or closure per entry).
 */
interface Owner<R> {
  settle(index: number, result: R): void;
  /** The run went out whole as one batch: `results` are exactly its results, in order. */
  settleAll(results: R[]): void;
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
  settleAll(results: R[]): void {
    this.resolve(results[0] as R);
  }
  fail(error: unknown): void {
    this.reject(error);
  }
}

class GroupOwner<R> implements Owner<R> {
  private remaining: number;
  private failed = false;
  private results: R[] | undefined;
  constructor(
    private readonly count: number,
    private readonly resolve: (results: R[]) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    this.remaining = count;
  }
  settle(index: number, result: R): void {
    (this.results ??= new Array<R>(this.count))[index] = result;
    if (--this.remaining === 0 && !this.failed) this.resolve(this.results);
  }
  settleAll(results: R[]): void {
    // The send's own result array is the answer: no copy of 10,000 results.
    this.remaining = 0;
    if (!this.failed) this.resolve(results);
  }
  fail(error: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.reject(error);
  }
}

/** Entries added by one call, in order; `taken` of them have gone into batches. */
interface Run<I, R> {
  items: readonly I[];
  sizes: readonly number[];
  owner: Owner<R>;
  taken: number;
}

/** One batch: its items, and for each run it draws from, the run, its first index and count. */
interface Batch<I, R> {
  items: I[];
  runs: Array<Run<I, R>>;
  froms: number[];
  counts: number[];
}

/**
 * Collects entries into batches bounded by count and bytes and hands each batch to `send`,
 * one batch at a time so the backend sees entries in the order they were added. While a
 * batch is in flight the next one fills up, so throughput grows with load. `send` returns one
 * result per entry; a throw fails every entry of that batch with the same error.
 */
export class Batcher<I, R> {
  /**
   * Runs from `head` on are waiting (taken ones are dropped from the front in bulk). A run per
   * call, not an entry per message: a publishBatch that fits one batch is sent as the caller's
   * array and answered with the send's result array, with no per-entry copy either way.
   */
  private runs: Array<Run<I, R>> = [];
  private head = 0;
  private pendingCount = 0;
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
    return this.pendingCount;
  }

  add(item: I, bytes: number): Promise<R> {
    if (this.closed) return Promise.reject(new BrookError("CLOSED", "publisher is closed"));
    return new Promise<R>((resolve, reject) => {
      this.push([item], [bytes], bytes, new SingleOwner(resolve, reject));
      this.schedule();
    });
  }

  /**
   * Adds many entries at once and resolves with their results in order: one promise for the
   * whole group instead of one per entry (the fast path of publishBatch). The batcher keeps
   * `items` and `bytes` (and may hand `items` itself to send): the caller does not change them.
   */
  addMany(items: readonly I[], bytes: readonly number[]): Promise<R[]> {
    if (this.closed) return Promise.reject(new BrookError("CLOSED", "publisher is closed"));
    if (items.length === 0) return Promise.resolve([]);
    let total = 0;
    for (let i = 0; i < bytes.length; i++) total += bytes[i]!;
    return new Promise<R[]>((resolve, reject) => {
      this.push(items, bytes, total, new GroupOwner<R>(items.length, resolve, reject));
      this.schedule();
    });
  }

  private push(items: readonly I[], sizes: readonly number[], total: number, owner: Owner<R>): void {
    this.runs.push({ items, sizes, owner, taken: 0 });
    this.pendingCount += items.length;
    this.queuedBytes += total;
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

  /** Takes the next batch off the queue: its items, and the runs they came from. */
  private takeBatch(): Batch<I, R> {
    const { maxBatchCount, maxBatchBytes } = this.limits;
    const batch: Batch<I, R> = { items: [], runs: [], froms: [], counts: [] };
    let count = 0;
    let bytes = 0;
    while (this.head < this.runs.length && count < maxBatchCount) {
      const run = this.runs[this.head]!;
      const from = run.taken;
      const sizes = run.sizes;
      let end = from;
      while (end < sizes.length && count < maxBatchCount) {
        const next = sizes[end]!;
        if (count > 0 && bytes + next > maxBatchBytes) break;
        bytes += next;
        count += 1;
        end += 1;
      }
      if (end === from) break;
      batch.runs.push(run);
      batch.froms.push(from);
      batch.counts.push(end - from);
      run.taken = end;
      if (end < sizes.length) break; // the batch is full
      this.head += 1;
    }
    if (batch.runs.length === 1 && batch.froms[0] === 0 && batch.counts[0] === batch.runs[0]!.items.length) {
      // One whole run: send the caller's array itself.
      batch.items = batch.runs[0]!.items as I[];
    } else {
      const items = new Array<I>(count);
      let k = 0;
      for (let r = 0; r < batch.runs.length; r++) {
        const source = batch.runs[r]!.items;
        const from = batch.froms[r]!;
        const to = from + batch.counts[r]!;
        for (let i = from; i < to; i++) items[k++] = source[i]!;
      }
      batch.items = items;
    }
    // Advancing `head` keeps taking a batch O(batch), not O(queue): with 200k publishes queued,
    // copying the rest of the queue for every batch (and collecting the copies) cost ~25% of
    // publish throughput on Pub/Sub.
    if (this.head === this.runs.length) {
      this.runs = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.runs.length) {
      this.runs = this.runs.slice(this.head);
      this.head = 0;
    }
    this.pendingCount -= count;
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
            const { runs, froms, counts } = batch;
            if (runs.length === 1 && froms[0] === 0 && counts[0] === runs[0]!.items.length) {
              runs[0]!.owner.settleAll(results);
              return;
            }
            let k = 0;
            for (let r = 0; r < runs.length; r++) {
              const owner = runs[r]!.owner;
              const to = froms[r]! + counts[r]!;
              for (let i = froms[r]!; i < to; i++) owner.settle(i, results[k++] as R);
            }
          },
          (err: unknown) => {
            for (const run of batch.runs) run.owner.fail(err);
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
