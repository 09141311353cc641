import type { PartitionHealth } from "../contract.js";
import { nextAfter } from "../offsets.js";
import type { PartitionAssignment, PartitionBacklog } from "../spi.js";
import type { Settlement } from "./settlement.js";

interface PartitionState {
  startOffset: string | undefined;
  endOffset: string | undefined;
  /** set once the source reports a backlog (reportBacklog) instead of an end offset */
  backlog: PartitionBacklog | undefined;
  lastProgressAt: number;
  stalled: boolean;
  revoked: boolean;
}

/**
 * The partitions a subscriber owns, their lag and progress, and the stall watchdog: a
 * partition with lag or in-flight work and no progress for stallTimeoutMs is reported once
 * (until it makes progress again).
 */
export class PartitionHealthTracker {
  private readonly partitions = new Map<string, PartitionState>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly settlement: Settlement,
    private readonly stallTimeoutMs: number,
    private readonly onStall: (health: PartitionHealth) => void,
  ) {}

  /** Starts the watchdog; it checks at least every second (or twice per stall timeout). */
  start(): void {
    this.timer = setInterval(() => this.checkStalls(), Math.min(1_000, this.stallTimeoutMs / 2));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** (Re)starts a partition: on assignment, and after a seek. */
  assign(a: PartitionAssignment): void {
    const previous = this.partitions.get(a.partition);
    this.settlement.reset(a.partition, a.lastCommitted);
    this.partitions.set(a.partition, {
      startOffset: a.startOffset,
      endOffset: previous?.endOffset,
      backlog: previous?.backlog,
      lastProgressAt: Date.now(),
      stalled: false,
      revoked: false,
    });
  }

  /** Marks partitions revoked: their records are no longer taken, they leave health(). */
  markRevoked(partitions: readonly string[]): void {
    for (const p of partitions) {
      const state = this.partitions.get(p);
      if (state !== undefined) state.revoked = true;
    }
  }

  remove(partition: string): void {
    this.partitions.delete(partition);
    this.settlement.remove(partition);
  }

  isRevoked(partition: string): boolean {
    return this.partitions.get(partition)?.revoked === true;
  }

  /** Every partition core tracks, revoked ones still draining included (what commit covers). */
  known(): IterableIterator<string> {
    return this.partitions.keys();
  }

  owned(): string[] {
    return [...this.partitions].filter(([, s]) => !s.revoked).map(([p]) => p);
  }

  reportEnd(partition: string, endOffset: string): void {
    const state = this.partitions.get(partition);
    if (state !== undefined) state.endOffset = endOffset;
  }

  reportBacklog(partition: string, backlog: PartitionBacklog): void {
    const state = this.partitions.get(partition);
    if (state !== undefined) state.backlog = backlog;
  }

  progress(partition: string): void {
    const state = this.partitions.get(partition);
    if (state !== undefined) {
      state.lastProgressAt = Date.now();
      state.stalled = false;
    }
  }

  health(): PartitionHealth[] {
    const out: PartitionHealth[] = [];
    for (const [partition, state] of this.partitions) if (!state.revoked) out.push(this.describe(partition, state));
    return out;
  }

  checkStalls(now = Date.now()): void {
    for (const [partition, state] of this.partitions) {
      if (state.revoked || state.stalled) continue;
      const lag = this.lag(partition, state);
      // A reader behind by an unknown count has work too (its lag is undefined).
      const behind = state.backlog !== undefined && state.backlog.records === undefined;
      const busy = (lag !== undefined && lag > 0) || behind || this.settlement.inFlight(partition) > 0;
      if (busy && now - state.lastProgressAt > this.stallTimeoutMs) {
        state.stalled = true;
        this.onStall(this.describe(partition, state));
      }
    }
  }

  private describe(partition: string, state: PartitionState): PartitionHealth {
    const health: PartitionHealth = {
      partition,
      committed: this.settlement.committed(partition),
      lag: this.lag(partition, state),
      inFlight: this.settlement.inFlight(partition),
      lastProgressAt: new Date(state.lastProgressAt),
      stalled: state.stalled,
    };
    if (state.backlog?.behindMs !== undefined) health.lagMs = state.backlog.behindMs;
    return health;
  }

  /**
   * Published and not yet settled by this group: from the source's backlog where it reports one,
   * else from the end offset where offsets are sequential numbers.
   */
  private lag(partition: string, state: PartitionState): number | undefined {
    if (state.backlog !== undefined) {
      const unread = state.backlog.records;
      return unread === undefined ? undefined : unread + this.settlement.inFlight(partition);
    }
    if (state.endOffset === undefined) return undefined;
    try {
      const mark = this.settlement.settledUpTo(partition);
      const next = mark !== undefined ? nextAfter(mark) : state.startOffset;
      if (next === undefined) return undefined;
      const lag = BigInt(state.endOffset) - BigInt(next);
      return lag > 0n ? Number(lag) : 0;
    } catch {
      return undefined; // offsets that are not numbers (e.g. Pub/Sub message ids) have no lag
    }
  }
}
