/**
 * Per-partition contiguous watermark: the highest delivered offset such that every offset
 * delivered at or before it is settled. Offsets are opaque strings handed over in delivery
 * order (they may have gaps, as Kafka's and Kinesis' do); the tracker never compares them for
 * the watermark, it only remembers their order. A commit at the watermark never passes an
 * in-flight message.
 *
 * Representation: where offsets are canonical decimal safe integers (Kafka, the local broker),
 * a partition's window is a queue of runs of consecutive offsets — a fetch of 4,096 records is
 * one run, two numbers, not 4,096 strings in two sets — plus a set of numbers settled ahead of
 * the head. The first offset that is not such an integer (Kinesis sequence numbers) turns the
 * window into the string form (order array and sets), with the same semantics.
 */
export class ContiguousCommitTracker {
  private readonly partitions = new Map<string, PartitionWindow>();

  /** Starts (or restarts after a seek/revoke) tracking a partition; old settles are ignored. */
  reset(partition: string, lastCommitted?: string): void {
    const previous = this.partitions.get(partition);
    this.partitions.set(partition, new RunWindow((previous?.epoch ?? 0) + 1, lastCommitted));
  }

  remove(partition: string): void {
    this.partitions.delete(partition);
  }

  /** Records a delivery; returns the epoch the settle must carry. */
  delivered(partition: string, offset: string): number {
    let window = this.partitions.get(partition);
    if (window === undefined) {
      window = new RunWindow(1, undefined);
      this.partitions.set(partition, window);
    }
    if (!window.push(offset)) {
      // Not a safe integer: the run window hands its state over to the string form.
      window = (window as RunWindow).toStringWindow();
      this.partitions.set(partition, window);
      window.push(offset);
    }
    return window.epoch;
  }

  /**
   * Records the delivery of a run of `count` consecutive integer offsets from `first` (one
   * fetch of a log whose offsets are numbers): O(1) when it continues the partition's window.
   */
  deliveredRun(partition: string, first: number, count: number): number {
    let window = this.partitions.get(partition);
    if (window === undefined) {
      window = new RunWindow(1, undefined);
      this.partitions.set(partition, window);
    }
    window.pushRun(first, count);
    return window.epoch;
  }

  /**
   * Marks the offsets `first` .. `first + count - 1` settled, as that many settled() calls
   * would: O(1) when they are the window's head (a run handled in order). Returns true when
   * the watermark moved. Stale epochs are ignored.
   */
  settledRun(partition: string, first: number, count: number, epoch: number): boolean {
    const window = this.partitions.get(partition);
    if (window === undefined || window.epoch !== epoch || count <= 0) return false;
    return window.settleRun(first, count);
  }

  /** Marks an offset settled. Returns true when the watermark moved. Stale epochs are ignored. */
  settled(partition: string, offset: string, epoch: number): boolean {
    const window = this.partitions.get(partition);
    if (window === undefined || window.epoch !== epoch) return false;
    return window.settle(offset);
  }

  /** The last offset safe to commit, or undefined when nothing is settled yet. */
  watermark(partition: string): string | undefined {
    return this.partitions.get(partition)?.watermark;
  }

  inFlight(partition: string): number {
    return this.partitions.get(partition)?.pending ?? 0;
  }

  partitionIds(): string[] {
    return [...this.partitions.keys()];
  }
}

interface PartitionWindow {
  readonly epoch: number;
  readonly watermark: string | undefined;
  readonly pending: number;
  /** false: this window cannot hold the offset (a run window given a non-integer offset) */
  push(offset: string): boolean;
  pushRun(first: number, count: number): void;
  settle(offset: string): boolean;
  settleRun(first: number, count: number): boolean;
}

/** The offset as a number when it is a canonical decimal safe integer ("0", "42"), else -1. */
export function safeOffset(offset: string): number {
  const length = offset.length;
  if (length === 0 || length > 16) return -1;
  let value = 0;
  for (let i = 0; i < length; i++) {
    const digit = offset.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9 || (digit === 0 && i === 0 && length > 1)) return -1;
    value = value * 10 + digit;
  }
  return value <= Number.MAX_SAFE_INTEGER ? value : -1;
}

/** Consecutive delivered offsets `next` .. `end - 1` not yet popped off the window. */
interface Run {
  /** the first offset of the run not popped yet */
  next: number;
  /** one past the run's last offset */
  end: number;
}

/** The window over integer offsets: a queue of runs. */
class RunWindow implements PartitionWindow {
  private runs: Run[] = [];
  private head = 0;
  /** offsets settled while an earlier one is still in flight */
  private readonly early = new Set<number>();
  /** every run starts above the previous one's end: "is it in the window" is one comparison */
  private ascending = true;
  pending = 0;
  private mark: number | undefined;
  private markText: string | undefined;

  constructor(
    readonly epoch: number,
    lastCommitted: string | undefined,
  ) {
    this.markText = lastCommitted;
  }

  get watermark(): string | undefined {
    if (this.mark !== undefined) {
      this.markText = String(this.mark);
      this.mark = undefined;
    }
    return this.markText;
  }

  push(offset: string): boolean {
    const n = safeOffset(offset);
    if (n < 0) return false;
    this.pushNumber(n);
    return true;
  }

  pushRun(first: number, count: number): void {
    const tail = this.head < this.runs.length ? this.runs[this.runs.length - 1]! : undefined;
    if (tail !== undefined && (first < tail.end || !this.ascending)) {
      // Overlaps the window (a redelivery) or runs out of order: offset by offset (rare).
      for (let n = first; n < first + count; n++) this.pushNumber(n);
      return;
    }
    if (tail !== undefined && first === tail.end) tail.end = first + count;
    else {
      if (tail === undefined) {
        this.runs.length = 0;
        this.head = 0;
        this.ascending = true;
      }
      this.runs.push({ next: first, end: first + count });
    }
    this.pending += count;
  }

  private pushNumber(n: number): void {
    const tail = this.head < this.runs.length ? this.runs[this.runs.length - 1]! : undefined;
    if (tail !== undefined && n === tail.end && this.ascending) {
      // The common case: the next offset of the fetch.
      tail.end = n + 1;
      this.pending += 1;
      return;
    }
    // A redelivery of an offset still in the window (same epoch) must not be counted twice.
    if (tail !== undefined && this.contains(n)) return;
    if (tail !== undefined && n < tail.end) this.ascending = false;
    if (tail === undefined) {
      this.runs.length = 0;
      this.head = 0;
      this.ascending = true;
    }
    this.runs.push({ next: n, end: n + 1 });
    this.pending += 1;
  }

  settle(offset: string): boolean {
    const n = safeOffset(offset);
    return n >= 0 && this.settleNumber(n);
  }

  settleRun(first: number, count: number): boolean {
    const end = first + count;
    let n = first;
    let moved = false;
    // Offsets settled out of order may lie inside the run: then offset by offset, so none of
    // them stays behind in `early`.
    if (this.early.size === 0) {
      // In order (the common case): pop whole stretches of the head run.
      while (n < end && this.head < this.runs.length) {
        const run = this.runs[this.head]!;
        if (n !== run.next) break;
        const take = Math.min(end - n, run.end - run.next);
        this.pop(run, take);
        n += take;
        moved = true;
      }
    }
    for (; n < end; n++) if (this.settleNumber(n)) moved = true;
    return moved;
  }

  private settleNumber(n: number): boolean {
    if (this.head >= this.runs.length) return false;
    let run = this.runs[this.head]!;
    if (n !== run.next) {
      // Out of order: remembered until the offsets before it settle.
      if (!this.contains(n)) return false;
      this.early.add(n);
      return false;
    }
    // In-order settle (the common case): pop the head.
    this.pop(run, 1);
    // Nothing settled out of order: nothing more to pop (the common case, no lookup).
    while (this.early.size > 0 && this.head < this.runs.length) {
      run = this.runs[this.head]!;
      if (!this.early.delete(run.next)) break;
      this.pop(run, 1);
    }
    return true;
  }

  /** Pops the first `k` offsets of the head run: the watermark moves to the last of them. */
  private pop(run: Run, k: number): void {
    this.mark = run.next + k - 1;
    this.pending -= k;
    run.next += k;
    if (run.next === run.end) {
      this.head += 1;
      if (this.head === this.runs.length) {
        this.runs.length = 0;
        this.head = 0;
        this.ascending = true;
      } else if (this.head > 1024 && this.head * 2 > this.runs.length) {
        this.runs.splice(0, this.head);
        this.head = 0;
      }
    }
  }

  /** Delivered and not popped yet (settled early or in flight). */
  private contains(n: number): boolean {
    const runs = this.runs;
    if (this.ascending) {
      // Runs ascend: binary search for the last run starting at or below n.
      let lo = this.head;
      let hi = runs.length - 1;
      if (hi < lo || n < runs[lo]!.next) return false;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (runs[mid]!.next <= n) lo = mid;
        else hi = mid - 1;
      }
      return n < runs[lo]!.end;
    }
    for (let i = this.head; i < runs.length; i++) if (n >= runs[i]!.next && n < runs[i]!.end) return true;
    return false;
  }

  /** The same window in the string form (a partition whose offsets stop being integers). */
  toStringWindow(): StringWindow {
    const window = new StringWindow(this.epoch, this.watermark);
    for (let i = this.head; i < this.runs.length; i++) {
      const run = this.runs[i]!;
      window.pushRun(run.next, run.end - run.next);
    }
    for (const n of this.early) window.settle(String(n));
    return window;
  }
}

/** The window over opaque offsets: delivery order in an array, sets for lookups. */
class StringWindow implements PartitionWindow {
  /** offsets in delivery order from `head` on; settled ones are popped off the front */
  private readonly order: string[] = [];
  private head = 0;
  private readonly settledSet = new Set<string>();
  private readonly delivered = new Set<string>();
  watermark: string | undefined;

  constructor(
    readonly epoch: number,
    lastCommitted: string | undefined,
  ) {
    this.watermark = lastCommitted;
  }

  get pending(): number {
    return this.order.length - this.head;
  }

  push(offset: string): boolean {
    // A redelivery of an offset still in the window (same epoch) must not be counted twice.
    const before = this.delivered.size;
    this.delivered.add(offset);
    if (this.delivered.size === before) return true;
    this.order.push(offset);
    return true;
  }

  pushRun(first: number, count: number): void {
    for (let n = first; n < first + count; n++) this.push(String(n));
  }

  settleRun(first: number, count: number): boolean {
    let moved = false;
    for (let n = first; n < first + count; n++) if (this.settle(String(n))) moved = true;
    return moved;
  }

  settle(offset: string): boolean {
    let moved = false;
    if (this.head < this.order.length && this.order[this.head] === offset) {
      // In-order settle (the common case): the head is always delivered; one set operation.
      this.delivered.delete(offset);
      this.watermark = offset;
      this.head += 1;
      moved = true;
    } else {
      if (!this.delivered.has(offset)) return false;
      this.settledSet.add(offset);
    }
    // Nothing settled out of order: nothing more to pop (the common case, no lookup).
    while (this.settledSet.size > 0 && this.head < this.order.length) {
      const first = this.order[this.head] as string;
      if (!this.settledSet.has(first)) break;
      this.settledSet.delete(first);
      this.delivered.delete(first);
      this.watermark = first;
      this.head += 1;
      moved = true;
    }
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order.splice(0, this.head);
      this.head = 0;
    }
    return moved;
  }
}
