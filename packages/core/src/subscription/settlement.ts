import { BrookError } from "../errors.js";
import { ContiguousCommitTracker } from "../commit-tracker.js";
import type { AckSource, CommitSource, RecordRun, SourceRecord, SubscriptionSource } from "../spi.js";

/**
 * How settled messages reach the backend. Log backends commit the contiguous watermark per
 * partition; queue backends acknowledge each message. The subscription coordinator talks only
 * to this interface, so the two modes never mix.
 */
export interface Settlement {
  /** A record entered core; the returned token goes back with its settle (stale after a reset). */
  track(record: SourceRecord): number;
  /** The record is done (handled, a duplicate, or dead-lettered). `closed`: the source is stopped. */
  settle(record: SourceRecord, token: number, closed: boolean): void;
  /**
   * A run entered core as one range (log backends; absent where each message is acked on its
   * own, and those get the run's records one by one). The token goes back with settleRun.
   */
  trackRun?(run: RecordRun): number;
  /** `count` records of the partition from offset `first` are done, as `count` settle() calls. */
  settleRun?(partition: string, first: number, count: number, token: number): void;
  /** Hands the record back to the provider for a later delivery (native dead letters). */
  redeliver(record: SourceRecord, delayMs: number): void;
  /** Delivered to core and not yet settled. */
  inFlight(partition: string): number;
  /** Last settled offset of the contiguous watermark, for lag (log backends). */
  settledUpTo(partition: string): string | undefined;
  /** Last offset the backend acknowledged as committed. */
  committed(partition: string): string | undefined;
  /** Starts (or restarts after a seek) a partition at its committed position. */
  reset(partition: string, lastCommitted: string | undefined): void;
  remove(partition: string): void;
  /** Commits every partition whose watermark moved (no-op for ack sources). */
  commit(partitions: Iterable<string>): Promise<void>;
  /** Commits on an interval only where there is something to commit. */
  readonly commitsOnInterval: boolean;
}

export function settlementFor(source: SubscriptionSource): Settlement {
  return source.settleMode === "commit" ? new WatermarkSettlement(source) : new AckSettlement(source);
}

/** Log backends: the highest offset with every offset at or below it settled, per partition. */
export class WatermarkSettlement implements Settlement {
  readonly commitsOnInterval = true;
  private readonly tracker = new ContiguousCommitTracker();
  private readonly lastCommitted = new Map<string, string | undefined>();
  private committing: Promise<void> = Promise.resolve();

  constructor(private readonly source: CommitSource) {}

  track(record: SourceRecord): number {
    return this.tracker.delivered(record.partition, record.offset);
  }

  settle(record: SourceRecord, token: number): void {
    this.tracker.settled(record.partition, record.offset, token);
  }

  trackRun(run: RecordRun): number {
    return this.tracker.deliveredRun(run.partition, run.firstOffset, run.count);
  }

  settleRun(partition: string, first: number, count: number, token: number): void {
    this.tracker.settledRun(partition, first, count, token);
  }

  redeliver(record: SourceRecord): void {
    // Only ack sources hand messages back; a log redelivers by not committing past them.
    throw new BrookError("INTERNAL", `redeliver of ${record.partition}/${record.offset}: a commit source cannot hand back a message`);
  }

  inFlight(partition: string): number {
    return this.tracker.inFlight(partition);
  }

  settledUpTo(partition: string): string | undefined {
    return this.tracker.watermark(partition);
  }

  committed(partition: string): string | undefined {
    return this.lastCommitted.get(partition);
  }

  reset(partition: string, lastCommitted: string | undefined): void {
    this.tracker.reset(partition, lastCommitted);
    this.lastCommitted.set(partition, lastCommitted);
  }

  remove(partition: string): void {
    this.tracker.remove(partition);
    this.lastCommitted.delete(partition);
  }

  /** Commits run one at a time, in call order, so a later watermark never lands first. */
  commit(partitions: Iterable<string>): Promise<void> {
    const ids = [...partitions];
    const run = this.committing.then(() => this.commitOnce(ids));
    this.committing = run.catch(() => undefined);
    return run;
  }

  private async commitOnce(partitions: string[]): Promise<void> {
    const moved = new Map<string, string>();
    for (const partition of partitions) {
      if (!this.lastCommitted.has(partition)) continue;
      const mark = this.tracker.watermark(partition);
      if (mark !== undefined && mark !== this.lastCommitted.get(partition)) moved.set(partition, mark);
    }
    if (moved.size === 0) return;
    await this.source.commit(moved);
    for (const [partition, mark] of moved) if (this.lastCommitted.has(partition)) this.lastCommitted.set(partition, mark);
  }
}

/** Queue backends: each message is acknowledged (or handed back) on its own. */
export class AckSettlement implements Settlement {
  readonly commitsOnInterval = false;
  private readonly unsettled = new Map<string, number>();

  constructor(private readonly source: AckSource) {}

  track(record: SourceRecord): number {
    this.unsettled.set(record.partition, (this.unsettled.get(record.partition) ?? 0) + 1);
    return 0;
  }

  settle(record: SourceRecord, _token: number, closed: boolean): void {
    this.untrack(record);
    // After stop() the provider redelivers whatever was not acked; acking then would race it.
    if (!closed) this.source.ack(record);
  }

  redeliver(record: SourceRecord, delayMs: number): void {
    this.untrack(record);
    this.source.redeliver(record, delayMs);
  }

  inFlight(partition: string): number {
    return this.unsettled.get(partition) ?? 0;
  }

  settledUpTo(): string | undefined {
    return undefined;
  }

  committed(): string | undefined {
    return undefined;
  }

  reset(): void {
    // Nothing to forget: acks are per message.
  }

  remove(partition: string): void {
    this.unsettled.delete(partition);
  }

  async commit(): Promise<void> {
    // Every settle was already acknowledged.
  }

  private untrack(record: SourceRecord): void {
    const count = this.unsettled.get(record.partition);
    if (count !== undefined) this.unsettled.set(record.partition, Math.max(0, count - 1));
  }
}
