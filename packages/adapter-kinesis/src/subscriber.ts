import { BrookError, type Logger, type SeekTarget, type StartFrom } from "@brook/core";
import { BOUNDS, toBrookError, waitWithTimeout, type CommitSource, type DeliverySink, type OutOfRangePolicy } from "@brook/core/spi";
import type { ChildShard, KinesisClient } from "@aws-sdk/client-kinesis";
import { LeaseCoordinator, type CoordinatorOptions } from "./leases/coordinator.js";
import type { Lease, LeaseKeys } from "./leases/lease.js";
import type { LeaseTable } from "./leases/lease-table.js";
import { createChildLeases, syncShardLeases, type ShardSyncContext } from "./leases/shard-sync.js";
import { parseOffset } from "./records.js";
import { ShardConsumer, startAtOffset, startOfLease, type ConsumerStart } from "./shard-consumer.js";
import type { RecordFetcher, StartPosition } from "./shard-reader.js";

export interface KinesisSourceOptions {
  topic: string;
  group: string;
  startFrom: StartFrom;
  /** where a shard resumes when the record its checkpoint names was removed by retention */
  onOutOfRange: OutOfRangePolicy;
  kinesis: KinesisClient;
  table: LeaseTable;
  keys: LeaseKeys;
  coordinator: CoordinatorOptions;
  /** makes the reader of a shard (GetRecords polling, or enhanced fan-out) */
  fetcher: (shardId: string, position: StartPosition) => RecordFetcher;
  logger: Logger;
}

/** Per shard this worker reads: its reader, and where the shard's end stands. */
interface ShardState {
  consumer: ShardConsumer;
  /** the shard is closed and every record was handed to core; the children it named */
  ended: { children: ChildShard[] | undefined } | undefined;
  /** the last offset checkpointed for the group */
  checkpointed: string | undefined;
  /** leaving this worker (lost, handed over, finished): no more checkpoints through the state */
  leaving: boolean;
}

/**
 * A Kinesis consumer-group member: a lease coordinator (leases/) decides which shards this
 * worker reads; a ShardConsumer per shard feeds core; core's contiguous watermarks become
 * checkpoints in the lease table. A shard's end is checkpointed as SHARD_END only after core
 * settled and checkpointed its last record, and its children's leases exist before that, so a
 * child (which waits for SHARD_END on every parent) never starts early.
 */
export class KinesisSubscriptionSource implements CommitSource {
  readonly settleMode = "commit" as const;
  private sink: DeliverySink | undefined;
  private readonly coordinator: LeaseCoordinator;
  private readonly shards = new Map<string, ShardState>();
  private readonly background = new Set<Promise<unknown>>();
  private stopping = false;

  constructor(private readonly options: KinesisSourceOptions) {
    this.coordinator = new LeaseCoordinator(
      options.table,
      options.keys,
      options.coordinator,
      {
        acquired: (lease) => this.acquired(lease),
        lost: (shardId) => this.track(this.lost(shardId)),
        handoffRequested: (shardId) => this.track(this.handOver(shardId)),
        syncShards: (leases) => syncShardLeases(this.syncContext(), leases),
        error: (error) => this.sink?.error(error),
      },
      options.logger,
    );
  }

  get workerId(): string {
    return this.coordinator.workerId;
  }

  async start(sink: DeliverySink): Promise<void> {
    this.sink = sink;
    try {
      await this.coordinator.start();
      // Resolve once the shards taken now are assigned in core (or wait on their parents), so
      // a publish right after subscribe() is read; bounded, as a slow service may stall it.
      await waitWithTimeout(Promise.all([...this.shards.values()].map((s) => s.consumer.ready)), BOUNDS.firstAssignmentMs);
    } catch (err) {
      await this.stop().catch(() => undefined);
      throw toBrookError(err, "UNAVAILABLE");
    }
  }

  async commit(watermarks: Map<string, string>): Promise<void> {
    const failures: BrookError[] = [];
    await Promise.all(
      [...watermarks].map(async ([shardId, offset]) => {
        const state = this.shards.get(shardId);
        // Never a checkpoint for a lease this worker lost or let go.
        if (state === undefined || state.leaving || !this.coordinator.owns(shardId)) return;
        const { sequence, sub } = parseOffset(offset);
        try {
          if ((await this.coordinator.checkpoint(shardId, sequence, sub ?? 0)) !== "written") return;
        } catch (err) {
          failures.push(toBrookError(err, "UNAVAILABLE"));
          return;
        }
        state.checkpointed = offset;
        this.maybeFinish(shardId, state);
      }),
    );
    if (failures.length > 0) throw failures[0]!;
  }

  async seek(target: SeekTarget): Promise<void> {
    const moves = new Map<string, ConsumerStart>();
    if ("time" in target) {
      for (const [shardId, state] of this.shards) if (!state.leaving) moves.set(shardId, { position: { type: "AT_TIMESTAMP", time: target.time }, after: undefined, lastCommitted: undefined });
    } else {
      for (const [i, p] of target.positions.entries()) {
        const state = this.shards.get(p.partition);
        if (state === undefined || state.leaving) {
          const owned = [...this.shards].filter(([, s]) => !s.leaving).map(([id]) => id);
          throw new BrookError("INVALID_ARGUMENT", `positions[${i}]: shard "${p.partition}" is not read by this subscriber (it reads: ${owned.join(", ") || "none"})`);
        }
        moves.set(p.partition, startAtOffset(p.offset));
      }
    }
    // The group's checkpoint follows with the first message settled after the seek (a Kinesis
    // checkpoint names a processed record; there is none before the target to name).
    await Promise.all(
      [...moves].map(async ([shardId, start]) => {
        const state = this.shards.get(shardId);
        if (state === undefined) return;
        await state.consumer.stop();
        if (state.leaving || this.stopping) return;
        state.ended = undefined;
        this.sink?.reset(shardId, { partition: shardId, lastCommitted: undefined });
        state.consumer.lastDelivered = undefined;
        state.consumer.start(start);
      }),
    );
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await Promise.allSettled([...this.shards.values()].map((s) => s.consumer.stop()));
    await Promise.allSettled([...this.background]);
    await this.coordinator.stop();
  }

  // ---- lease events ----

  private acquired(lease: Lease): void {
    const sink = this.sink;
    if (sink === undefined || this.stopping) return;
    const shardId = lease.shardId;
    const consumer = new ShardConsumer({
      shardId,
      sink,
      fetcher: (position) => this.options.fetcher(shardId, position),
      parentsDone: () => this.parentsDone(lease),
      ended: (id, children) => this.ended(id, children),
      pinStart: async (at) => (await this.coordinator.pinStart(shardId, at)) === "written",
      logger: this.options.logger,
      parentCheckMs: Math.min(1_000, this.options.coordinator.renewIntervalMs),
      onOutOfRange: this.options.onOutOfRange,
      where: `shard ${shardId} of stream "${this.options.topic}" (group "${this.options.group}")`,
    });
    const start = startOfLease(lease, typeof this.options.startFrom === "object" && "time" in this.options.startFrom ? this.options.startFrom.time : undefined);
    const checkpointed = start === "SHARD_END" ? undefined : start.lastCommitted;
    this.shards.set(shardId, { consumer, ended: undefined, checkpointed, leaving: false });
    consumer.start(start);
  }

  /** The lease went to another worker: stop now; core drains and our commit skips the shard. */
  private async lost(shardId: string): Promise<void> {
    const state = this.shards.get(shardId);
    if (state === undefined) return;
    state.leaving = true;
    await state.consumer.stop();
    this.shards.delete(shardId);
    if (state.consumer.assigned) await this.sink?.revoked([shardId]);
  }

  /** Another worker asked for the lease: stop reading, let core drain and commit, then let go. */
  private async handOver(shardId: string): Promise<void> {
    const state = this.shards.get(shardId);
    if (state === undefined) return;
    await state.consumer.stop();
    if (state.consumer.assigned) await this.sink?.revoked([shardId]);
    state.leaving = true;
    this.shards.delete(shardId);
    await this.coordinator.release(shardId);
  }

  private ended(shardId: string, children: ChildShard[] | undefined): void {
    const state = this.shards.get(shardId);
    if (state === undefined) return;
    state.ended = { children };
    this.maybeFinish(shardId, state);
  }

  /** A closed shard is finished once core settled and the group checkpointed its last record. */
  private maybeFinish(shardId: string, state: ShardState): void {
    if (state.ended === undefined || state.leaving) return;
    const last = state.consumer.lastDelivered;
    if (last !== undefined && last !== state.checkpointed) return;
    state.leaving = true;
    this.track(this.finish(shardId, state.ended.children));
  }

  /**
   * Children's leases first, then SHARD_END and the release in one write. Retried while
   * DynamoDB or Kinesis fail (the children wait on this); a lease lost meanwhile is left to
   * its new owner, which reads the shard's tail again and finishes it.
   */
  private async finish(shardId: string, childShards: ChildShard[] | undefined): Promise<void> {
    let children: string[] = [];
    let outcome: "written" | "not-mine" = "not-mine";
    for (let attempt = 0; !this.stopping; attempt++) {
      try {
        children = await createChildLeases(this.syncContext(), shardId, childShards);
        outcome = await this.coordinator.checkpoint(shardId, "SHARD_END", 0, { release: true, children });
        break;
      } catch (err) {
        this.sink?.error(toBrookError(err, "UNAVAILABLE"));
        await new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 500 * 2 ** attempt)));
      }
    }
    const state = this.shards.get(shardId);
    this.shards.delete(shardId);
    if (state?.consumer.assigned === true) await this.sink?.revoked([shardId]);
    if (outcome === "written") {
      this.options.logger.info(`shard ${shardId} of stream "${this.options.topic}" finished (group "${this.options.group}"); children: ${children.join(", ") || "none"}`);
      this.coordinator.kick();
    }
  }

  private async parentsDone(lease: Lease): Promise<boolean> {
    for (const parent of lease.parents) {
      const p = await this.options.table.get(this.options.keys, parent);
      if (p !== undefined && p.checkpoint !== "SHARD_END") return false;
    }
    return true;
  }

  private syncContext(): ShardSyncContext {
    const { kinesis, topic, table, keys, startFrom } = this.options;
    return { kinesis, stream: topic, table, keys, startFrom };
  }

  private track(work: Promise<unknown>): void {
    const tracked = work.catch((err: unknown) => this.sink?.error(toBrookError(err, "UNAVAILABLE")));
    this.background.add(tracked);
    void tracked.finally(() => this.background.delete(tracked));
  }
}
