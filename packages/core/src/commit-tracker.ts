/**
 * Per-partition contiguous watermark: the highest delivered offset such that every offset
 * delivered at or before it is settled. Offsets are opaque strings handed over in delivery
 * order (they may have gaps, as Kafka's and Kinesis' do); the tracker never compares them, it
 * only remembers their order. A commit at the watermark never passes an in-flight message.
 */
export class ContiguousCommitTracker {
  private readonly partitions = new Map<string, PartitionWindow>();

  /** Starts (or restarts after a seek/revoke) tracking a partition; old settles are ignored. */
  reset(partition: string, lastCommitted?: string): void {
    const previous = this.partitions.get(partition);
    this.partitions.set(partition, new PartitionWindow((previous?.epoch ?? 0) + 1, lastCommitted));
  }

  remove(partition: string): void {
    this.partitions.delete(partition);
  }

  /** Records a delivery; returns the epoch the settle must carry. */
  delivered(partition: string, offset: string): number {
    let window = this.partitions.get(partition);
    if (window === undefined) {
      window = new PartitionWindow(1, undefined);
      this.partitions.set(partition, window);
    }
    window.push(offset);
    return window.epoch;
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

class PartitionWindow {
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

  push(offset: string): void {
    // A redelivery of an offset still in the window (same epoch) must not be counted twice.
    const before = this.delivered.size;
    this.delivered.add(offset);
    if (this.delivered.size === before) return;
    this.order.push(offset);
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
