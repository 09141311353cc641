import { BrookError, CONTENT_TYPE_HEADER, type Logger, type PartitionHealth, type SeekTarget, type StartFrom } from "@brook/core";
import {
  IDEMPOTENCY_HEADER,
  waitWithTimeout,
  type CommitSource,
  type DeliverySink,
  type PartitionAssignment,
  type SourceRecord,
} from "@brook/core/spi";
import {
  CloseReason,
  earliestEventPosition,
  latestEventPosition,
  type Checkpoint,
  type CheckpointStore,
  type EventHubConsumerClient,
  type EventPosition,
  type PartitionContext,
  type ReceivedEventData,
  type Subscription as SdkSubscription,
} from "@azure/event-hubs";
import { CheckpointFenced, SubscriptionCheckpointStore } from "./checkpoints.js";
import { eventHubsErrorCode, toEventHubsBrookError } from "./errors.js";

export interface EventHubsSourceOptions {
  hub: string;
  group: string;
  startFrom: StartFrom;
  /** the hub's partitions (fixed), for the start position of each */
  partitionIds: string[];
  receiveBatchSize: number;
  maxWaitTimeMs: number;
  partitionPropertiesIntervalMs: number;
  /** how long subscribe() waits for the member's first partitions */
  firstAssignmentTimeoutMs: number;
  logger: Logger;
}

/**
 * How long a leaving member waits for the SDK's subscription.close() and then client.close()
 * (each). Both wait for the service to answer the detach of every receiver's link and the end
 * of its session, up to rhea-promise's operation timeout (60 s, which the SDK does not let us
 * set) per step: a peer that does not answer would hold a scale-in that long. When it answers,
 * each ends within a few round trips.
 */
const SDK_CLOSE_MS = 5_000;

/** Thrown from processEvents to make the SDK stop a partition's pump (Brook restarts it). */
class ReceiverRestart extends Error {
  override readonly name = "BrookReceiverRestart";
}

interface PartitionState {
  readonly id: string;
  /** bumped by a seek: deliveries of an older generation stop */
  generation: number;
  /** another member owns it now: nothing more is delivered or checkpointed */
  lost: boolean;
  /** the pump is to be stopped and the partition claimed again (a seek, or a silent receiver) */
  restart: "seek" | "stall" | undefined;
  /** sequence number → Event Hubs offset of delivered events not yet checkpointed */
  readonly offsets: Map<string, string>;
  /** the receiver handed its first batch (its link is attached, the previous owner's is not) */
  receiving: boolean;
}

/**
 * One member of a consumer group on one event hub. The SDK's EventHubConsumerClient balances
 * partitions across the group's members over the checkpoint store and runs a receive pump per
 * owned partition; this source hands each pump's batches to core (waiting inside processEvents
 * while core is at maxInFlight, which holds that pump) and checkpoints what core says is settled.
 *
 * - Checkpoints: core's watermark is the last settled sequence number; the checkpoint written is
 *   that event's sequence number and offset, on the commit interval, on revoke and on close, and
 *   only for partitions this member still owns (checked against the store before each write).
 * - Ownership lost (another member's receiver took the partition): processClose(OwnershipLost)
 *   → core's revoke (stop, drain in-flight within its bound); nothing more is checkpointed.
 * - Restart of one partition (a seek, or the stall watchdog finding a silent receiver): the next
 *   processEvents throws, the SDK stops that pump, Brook commits, gives up the ownership record,
 *   and the next load-balancing round claims it again from the checkpoint (or the seek target).
 */
export class EventHubsSubscriptionSource implements CommitSource {
  readonly settleMode = "commit" as const;
  private readonly store: SubscriptionCheckpointStore;
  private readonly client: EventHubConsumerClient;
  private sink: DeliverySink | undefined;
  private subscription: SdkSubscription | undefined;
  private readonly partitions = new Map<string, PartitionState>();
  /** the highest end (last enqueued sequence number + 1) reported per partition */
  private readonly ends = new Map<string, number>();
  /** handed to the SDK by reference: a seek changes a partition's entry before its restart */
  private readonly startPositions: Record<string, EventPosition>;
  private readonly defaultStarts: Record<string, EventPosition>;
  /** startFrom "latest": each partition's end when subscribe() was called (saved as the group's first checkpoint) */
  private readonly latestStarts = new Map<string, { sequenceNumber: number; offset: string }>();
  /** the seek target of partitions restarting for a seek (sequence number, or undefined for a time) */
  private readonly seekStarts = new Map<string, number | undefined>();
  private stopping = false;
  private readonly stopped = deferred();
  private readonly ready = deferred();
  private rounds = 0;
  private claimsSinceList = 0;
  private firstRoundDone = false;
  private pollTimer: NodeJS.Timeout | undefined;

  constructor(
    store: CheckpointStore,
    makeClient: (store: CheckpointStore) => EventHubConsumerClient,
    private readonly options: EventHubsSourceOptions,
  ) {
    this.store = new SubscriptionCheckpointStore(store, {
      listedOwnership: () => this.onRound(),
      claimed: (requested) => (this.claimsSinceList += requested.length),
    });
    this.client = makeClient(this.store);
    this.defaultStarts = startPositionsFor(options.startFrom, options.partitionIds);
    this.startPositions = { ...this.defaultStarts };
  }

  async start(sink: DeliverySink): Promise<void> {
    this.sink = sink;
    const { hub, group } = this.options;
    if (this.options.startFrom === "latest") await this.resolveLatest();
    this.subscription = this.client.subscribe(
      {
        processInitialize: async (ctx) => this.initialize(ctx),
        processEvents: async (events, ctx) => this.process(events, ctx),
        processError: async (err, ctx) => this.failed(err, ctx),
        processClose: async (reason, ctx) => this.closed(reason, ctx),
      },
      {
        startPosition: this.startPositions,
        maxBatchSize: this.options.receiveBatchSize,
        maxWaitTimeInSeconds: this.options.maxWaitTimeMs / 1000,
        trackLastEnqueuedEventProperties: true,
        skipParsingBodyAsJson: true,
      },
    );
    this.pollTimer = setInterval(() => void this.pollEnds(), this.options.partitionPropertiesIntervalMs);
    this.pollTimer.unref();
    // Resolve once the first load-balancing round is done and each partition it claimed is
    // receiving (its link attached, so a previous owner's is detached), bounded.
    const done = await waitWithTimeout(Promise.race([this.ready.promise, this.stopped.promise]), this.options.firstAssignmentTimeoutMs);
    if (!done) this.options.logger.warn(`subscription to event hub "${hub}" (consumer group "${group}"): no partition after ${this.options.firstAssignmentTimeoutMs} ms; it keeps trying`);
  }

  async commit(watermarks: Map<string, string>): Promise<void> {
    const wanted = [...watermarks].filter(([p]) => this.partitions.get(p)?.lost === false);
    if (wanted.length === 0) return;
    const { hub, group } = this.options;
    let owners: Map<string, string>;
    try {
      owners = new Map((await this.store.ownership(this.client.fullyQualifiedNamespace, this.client.eventHubName, group)).map((o) => [o.partitionId, o.ownerId]));
    } catch (err) {
      throw toEventHubsBrookError(err, `read partition ownership of event hub "${hub}" (consumer group "${group}")`);
    }
    // Every write starts in the same turn as the ownership read it was checked against, so no
    // claim that this process has already seen can slip in between.
    const writes: Array<Promise<void>> = [];
    for (const [partition, sequenceNumber] of wanted) {
      const state = this.partitions.get(partition);
      if (state === undefined || state.lost) continue;
      if (owners.get(partition) !== this.client.identifier) {
        // Another member claimed it; its receiver will take the partition any moment. Writing
        // our checkpoint now could move the group's position under the new owner.
        state.lost = true;
        this.options.logger.info(`event hub "${hub}" partition ${partition} (consumer group "${group}") is owned by another member; not checkpointed`);
        continue;
      }
      const offset = state.offsets.get(sequenceNumber);
      if (offset === undefined) continue;
      const checkpoint = {
        fullyQualifiedNamespace: this.client.fullyQualifiedNamespace,
        eventHubName: this.client.eventHubName,
        consumerGroup: group,
        partitionId: partition,
        sequenceNumber: Number(sequenceNumber),
        offset,
      };
      writes.push(
        this.writeCheckpoint(checkpoint, state).then(
          (written) => {
            if (!written) return;
            for (const seq of state.offsets.keys()) {
              state.offsets.delete(seq);
              if (seq === sequenceNumber) break;
            }
          },
          (err: unknown) => {
            throw toEventHubsBrookError(err, `checkpoint event hub "${hub}" partition ${partition} (consumer group "${group}")`);
          },
        ),
      );
    }
    const failures = (await Promise.allSettled(writes)).filter((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failures.length > 0) throw failures[0]!.reason;
  }

  /**
   * One checkpoint write; false when it was not written because the partition is another
   * member's. A fenced write (the blob changed since this member's fence or last write) is
   * checked against a fresh ownership read: another owner means the partition moved (lost);
   * still this member's (its own earlier write or a stale one of a previous owner changed the
   * blob) means fence again and write once more.
   */
  private async writeCheckpoint(checkpoint: Checkpoint, state: PartitionState): Promise<boolean> {
    const { hub, group } = this.options;
    try {
      await this.store.updateCheckpoint(checkpoint);
      return true;
    } catch (err) {
      if (!(err instanceof CheckpointFenced)) throw err;
    }
    const owner = (await this.store.ownership(checkpoint.fullyQualifiedNamespace, checkpoint.eventHubName, group)).find((o) => o.partitionId === checkpoint.partitionId)?.ownerId;
    if (owner === this.client.identifier && !state.lost && this.partitions.get(checkpoint.partitionId) === state) {
      await this.store.fence(checkpoint);
      try {
        await this.store.updateCheckpoint(checkpoint);
        return true;
      } catch (err) {
        if (!(err instanceof CheckpointFenced)) throw err;
      }
    }
    state.lost = true;
    this.options.logger.info(`event hub "${hub}" partition ${checkpoint.partitionId} (consumer group "${group}") was started by another member; not checkpointed`);
    return false;
  }

  async seek(target: SeekTarget): Promise<void> {
    const owned = [...this.partitions.values()].filter((s) => !s.lost);
    const moves = new Map<string, { position: EventPosition; sequenceNumber: number | undefined }>();
    if ("time" in target) {
      for (const s of owned) moves.set(s.id, { position: { enqueuedOn: target.time }, sequenceNumber: undefined });
    } else {
      for (const p of target.positions) {
        if (!owned.some((s) => s.id === p.partition)) {
          throw new BrookError("INVALID_ARGUMENT", `positions: partition "${p.partition}" is not owned by this member (owned: ${owned.map((s) => s.id).join(", ") || "none"})`);
        }
        if (!/^\d+$/.test(p.offset)) throw new BrookError("INVALID_ARGUMENT", `positions: offset must be a sequence number (a non-negative integer string), got "${p.offset}"`);
        const sequenceNumber = Number(p.offset);
        moves.set(p.partition, { position: { sequenceNumber, isInclusive: true }, sequenceNumber });
      }
    }
    for (const [partition, move] of moves) {
      const state = this.partitions.get(partition)!;
      // The SDK starts a partition from its checkpoint when there is one: hide it until the
      // partition has started again from the position set here.
      this.store.hidden.add(partition);
      this.startPositions[partition] = move.position;
      this.seekStarts.set(partition, move.sequenceNumber);
      state.generation += 1;
      state.offsets.clear();
      state.restart = "seek";
      const lastCommitted = move.sequenceNumber === undefined || move.sequenceNumber === 0 ? undefined : String(move.sequenceNumber - 1);
      this.sink?.reset(partition, { partition, lastCommitted, startOffset: move.sequenceNumber === undefined ? undefined : String(move.sequenceNumber) });
    }
  }

  stalled(partition: string, health: PartitionHealth): void {
    const state = this.partitions.get(partition);
    if (state === undefined || state.lost || state.restart !== undefined || this.stopping) return;
    if (health.inFlight > 0) return; // handlers are slow; the receiver is not the problem
    this.options.logger.warn(
      `event hub "${this.options.hub}" partition ${partition} (consumer group "${this.options.group}"): lag ${String(health.lag)} and nothing received since ${health.lastProgressAt?.toISOString() ?? "the start"}; restarting its receiver`,
    );
    state.restart = "stall";
  }

  /**
   * Leaves the group. Core has drained and committed before this. The SDK's subscription.close()
   * stops every pump and then gives up this member's ownership records, so the others claim the
   * partitions in their next round instead of after the ownership expires; client.close() ends
   * the connection. Each is bounded (SDK_CLOSE_MS): past it, a warning names what did not close,
   * the ownership records are given up here instead, and the SDK finishes in the background
   * (its 60 s operation timeout ends it; a timer of its own keeps the process up until then).
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.stopped.resolve();
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer);
    const { hub, group } = this.options;
    const where = `event hub "${hub}" (consumer group "${group}")`;
    let failure: unknown;
    const subscription = this.subscription;
    if (subscription !== undefined) {
      const closed = await waitWithTimeout(
        subscription.close().catch((err: unknown) => (failure ??= err)),
        SDK_CLOSE_MS,
      );
      if (!closed) {
        this.options.logger.warn(`${where}: the subscription's receivers did not close within ${SDK_CLOSE_MS} ms (the service did not answer); giving up this member's partitions and leaving`);
        await this.store
          .abandon(this.client.fullyQualifiedNamespace, this.client.eventHubName, group, this.client.identifier)
          .catch((err: unknown) => this.options.logger.warn(`${where}: cannot give up this member's partitions (${String(err)}); the others claim them after the ownership expires`));
      }
    }
    const clientClosed = await waitWithTimeout(
      this.client.close().catch((err: unknown) => (failure ??= err)),
      SDK_CLOSE_MS,
    );
    if (!clientClosed) this.options.logger.warn(`${where}: the consumer client's connection did not close within ${SDK_CLOSE_MS} ms (the service did not answer); leaving it to close in the background`);
    if (failure !== undefined) throw failure;
  }

  // ---- SDK handlers ----

  /**
   * "latest" is fixed when subscribe() is called: each partition's last event then (read from the
   * service), so the receivers start right after it and the group's first checkpoint records it.
   * A message published after subscribe() resolves reaches the group even when this member
   * closes before receiving it.
   */
  private async resolveLatest(): Promise<void> {
    const { hub, group } = this.options;
    await Promise.all(
      this.options.partitionIds.map(async (partition) => {
        let props;
        try {
          props = await this.client.getPartitionProperties(partition);
        } catch (err) {
          throw toEventHubsBrookError(err, `read the end of event hub "${hub}" partition ${partition} (consumer group "${group}")`);
        }
        const offset = props.isEmpty ? "-1" : String(props.lastEnqueuedOffset);
        this.latestStarts.set(partition, { sequenceNumber: props.isEmpty ? -1 : props.lastEnqueuedSequenceNumber, offset });
        const position: EventPosition = { offset, isInclusive: false };
        this.defaultStarts[partition] = position;
        this.startPositions[partition] = position;
      }),
    );
  }

  private async initialize(ctx: PartitionContext): Promise<void> {
    const partition = ctx.partitionId;
    if (this.stopping || this.sink === undefined) return;
    // Before the receiver runs: from here on a previous owner's checkpoint write is refused.
    const { hub, group } = this.options;
    try {
      await this.store.fence({ fullyQualifiedNamespace: this.client.fullyQualifiedNamespace, eventHubName: this.client.eventHubName, consumerGroup: group, partitionId: partition });
    } catch (err) {
      // Checkpoints of this partition are then written unconditionally, as the SDK's store does.
      this.options.logger.warn(`event hub "${hub}" partition ${partition} (consumer group "${group}"): cannot fence its checkpoint (${String(err)}); a previous owner's late checkpoint is not refused`);
    }
    if (this.stopping) return;
    let assignment: PartitionAssignment;
    if (this.seekStarts.has(partition)) {
      const seq = this.seekStarts.get(partition);
      this.seekStarts.delete(partition);
      this.store.hidden.delete(partition);
      this.startPositions[partition] = this.defaultStarts[partition] ?? latestEventPosition;
      assignment = { partition, lastCommitted: seq === undefined || seq === 0 ? undefined : String(seq - 1), startOffset: seq === undefined ? undefined : String(seq) };
    } else {
      const checkpoint = this.store.startedFrom.get(partition);
      const latest = this.latestStarts.get(partition);
      if (checkpoint !== undefined) {
        assignment = { partition, lastCommitted: String(checkpoint.sequenceNumber), startOffset: String(checkpoint.sequenceNumber + 1) };
      } else if (latest !== undefined) {
        // The group's first start on this partition: save it before the receiver runs.
        try {
          await this.store.updateCheckpoint({
            fullyQualifiedNamespace: this.client.fullyQualifiedNamespace,
            eventHubName: this.client.eventHubName,
            consumerGroup: group,
            partitionId: partition,
            sequenceNumber: latest.sequenceNumber,
            offset: latest.offset,
          });
        } catch (err) {
          this.sink.error(toEventHubsBrookError(err, `save the start of event hub "${hub}" partition ${partition} (consumer group "${group}")`));
        }
        if (this.stopping) return;
        assignment = { partition, lastCommitted: latest.sequenceNumber < 0 ? undefined : String(latest.sequenceNumber), startOffset: String(latest.sequenceNumber + 1) };
      } else {
        assignment = { partition, lastCommitted: undefined, startOffset: undefined };
      }
    }
    this.partitions.set(partition, { id: partition, generation: 0, lost: false, restart: undefined, offsets: new Map(), receiving: false });
    this.sink.assigned([assignment]);
    void this.pollEnd(partition);
  }

  private async process(events: ReceivedEventData[], ctx: PartitionContext): Promise<void> {
    const partition = ctx.partitionId;
    const state = this.partitions.get(partition);
    const sink = this.sink;
    if (state === undefined || sink === undefined || this.stopping) return;
    if (!state.receiving) {
      state.receiving = true;
      this.checkReady();
    }
    if (state.restart !== undefined) throw new ReceiverRestart(`restart the receiver of partition ${partition} (${state.restart})`);
    const last = ctx.lastEnqueuedEventProperties?.sequenceNumber;
    if (typeof last === "number") this.reportEnd(partition, last + 1);
    const generation = state.generation;
    const stale = (): boolean => state.generation !== generation || state.lost || state.restart !== undefined || this.stopping || sink.closing;
    let next = 0;
    while (next < events.length) {
      if (stale()) return;
      const room = sink.available;
      if (room === 0) {
        await Promise.race([sink.waitForCapacity(), this.stopped.promise]);
        continue;
      }
      const end = Math.min(events.length, next + room);
      const records: SourceRecord[] = new Array(end - next);
      for (let i = next; i < end; i++) {
        const e = events[i]!;
        state.offsets.set(String(e.sequenceNumber), e.offset);
        records[i - next] = toSourceRecord(partition, e);
      }
      sink.deliver(records);
      next = end;
    }
  }

  private failed(err: Error, ctx: PartitionContext): void {
    if (err instanceof ReceiverRestart || this.stopping) return;
    const code = eventHubsErrorCode(err);
    const where = `event hub "${this.options.hub}"${ctx.partitionId === "" ? "" : ` partition ${ctx.partitionId}`} (consumer group "${this.options.group}")`;
    if (code === "ReceiverDisconnectedError") {
      // Another member's receiver took the partition: processClose(OwnershipLost) follows.
      this.options.logger.info(`${where}: taken over by another member`);
      return;
    }
    this.sink?.error(toEventHubsBrookError(err, `consume ${where}`));
  }

  private async closed(reason: CloseReason, ctx: PartitionContext): Promise<void> {
    const partition = ctx.partitionId;
    const state = this.partitions.get(partition);
    if (state === undefined) return;
    if (this.stopping || this.sink === undefined) {
      this.partitions.delete(partition);
      return;
    }
    if (reason === CloseReason.OwnershipLost) state.lost = true;
    try {
      // Stop taking its work, wait (bounded) for in-flight handlers, commit while still owned.
      await this.sink.revoked([partition]);
    } finally {
      this.partitions.delete(partition);
      this.store.unfence(partition);
      this.checkReady();
    }
    if (reason !== CloseReason.OwnershipLost && !this.stopping) {
      // Brook stopped the pump (seek, silent receiver) or it died on an error: give the claim
      // up so the next round claims the partition again now, not after ownership expiry.
      await this.store
        .abandon(this.client.fullyQualifiedNamespace, this.client.eventHubName, this.options.group, this.client.identifier, partition)
        .catch((err: unknown) => this.options.logger.warn(`event hub "${this.options.hub}" partition ${partition}: cannot give up its ownership (${String(err)}); it is claimed again after the ownership expires`));
    }
  }

  // ---- readiness and lag ----

  private onRound(): void {
    this.rounds += 1;
    this.claimsSinceList = 0;
    if (this.rounds >= 2) this.roundDone();
    // A round that claims nothing calls claimOwnership before this fires, or never.
    else setImmediate(() => {
      if (this.claimsSinceList === 0) this.roundDone();
    });
  }

  private roundDone(): void {
    if (this.firstRoundDone) return;
    this.firstRoundDone = true;
    this.checkReady();
  }

  private checkReady(): void {
    if (!this.firstRoundDone) return;
    if ([...this.partitions.values()].every((s) => s.receiving || s.lost)) this.ready.resolve();
  }

  /**
   * Reports a partition's end for lag, never backwards: a silent receiver's callbacks keep
   * carrying the last enqueued properties of its last event, older than what the poll read.
   */
  private reportEnd(partition: string, end: number): void {
    const previous = this.ends.get(partition);
    if (previous !== undefined && end < previous) return;
    this.ends.set(partition, end);
    this.sink?.reportEnd(partition, String(end));
  }

  private async pollEnds(): Promise<void> {
    for (const partition of [...this.partitions.keys()]) await this.pollEnd(partition);
  }

  /** Reads the partition's last enqueued sequence number for lag (a silent receiver reports none). */
  private async pollEnd(partition: string): Promise<void> {
    if (this.stopping) return;
    try {
      const props = await this.client.getPartitionProperties(partition);
      if (this.partitions.has(partition) && !this.stopping) this.reportEnd(partition, props.lastEnqueuedSequenceNumber + 1);
    } catch (err) {
      this.options.logger.debug(`event hub "${this.options.hub}" partition ${partition}: cannot read its properties (${String(err)})`);
    }
  }
}

/** The SDK start position of each partition for a group without a checkpoint. */
export function startPositionsFor(startFrom: StartFrom, partitionIds: string[]): Record<string, EventPosition> {
  const out: Record<string, EventPosition> = {};
  for (const p of partitionIds) {
    if (startFrom === "earliest") out[p] = earliestEventPosition;
    else if (startFrom === "latest") out[p] = latestEventPosition;
    else if ("time" in startFrom) out[p] = { enqueuedOn: startFrom.time };
    else {
      const pos = startFrom.positions.find((x) => x.partition === p);
      out[p] = pos === undefined ? latestEventPosition : { sequenceNumber: Number(pos.offset), isInclusive: true };
    }
  }
  return out;
}

export function toSourceRecord(partition: string, e: ReceivedEventData): SourceRecord {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(e.properties ?? {})) {
    if (value === undefined || value === null) continue;
    headers[name] = typeof value === "string" ? value : Buffer.isBuffer(value) ? value.toString("utf8") : typeof value === "object" ? JSON.stringify(value) : String(value);
  }
  // A raw producer's AMQP content-type is the header the auto codec decodes by (a header wins).
  if (headers[CONTENT_TYPE_HEADER] === undefined && typeof e.contentType === "string" && e.contentType !== "") headers[CONTENT_TYPE_HEADER] = e.contentType;
  const messageId = typeof e.messageId === "string" ? e.messageId : undefined;
  return {
    partition,
    offset: String(e.sequenceNumber),
    key: typeof e.partitionKey === "string" ? e.partitionKey : undefined,
    idempotencyKey: headers[IDEMPOTENCY_HEADER] ?? messageId,
    headers,
    value: toBytes(e.body),
    publishTime: e.enqueuedTimeUtc,
  };
}

function toBytes(body: unknown): Uint8Array {
  if (Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return body;
  if (body === undefined || body === null) return new Uint8Array(0);
  // An AMQP value or sequence body from another producer: its JSON form.
  return Buffer.from(JSON.stringify(body), "utf8");
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((res) => (resolve = res));
  return { promise, resolve };
}
