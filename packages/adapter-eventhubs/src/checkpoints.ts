import type { Checkpoint, CheckpointStore, PartitionOwnership } from "@azure/event-hubs";
import { randomUUID } from "node:crypto";
import { BlobCheckpointStore } from "@azure/eventhubs-checkpointstore-blob";
import { ContainerClient } from "@azure/storage-blob";
import { toEventHubsBrookError } from "./errors.js";
import type { ResolvedEventHubsOptions } from "./options.js";

/** The store the options name: a blob container (created when missing), memory, or the caller's. */
export async function openCheckpointStore(options: ResolvedEventHubsOptions): Promise<CheckpointStore | undefined> {
  const store = options.checkpointStore;
  if (store === undefined) return undefined;
  if (store === "memory") return new MemoryCheckpointStore();
  if (store !== "blob") return store;
  const container = new ContainerClient(options.blobConnectionString!, options.container!);
  try {
    await container.createIfNotExists();
  } catch (err) {
    throw toEventHubsBrookError(err, `open the checkpoint container "${options.container}"`);
  }
  return new FencedBlobCheckpointStore(container);
}

/** A conditional checkpoint write lost to another writer: the partition moved to another member. */
export class CheckpointFenced extends Error {
  constructor(partition: string) {
    super(`the checkpoint of partition ${partition} was written by another member since this one started it`);
    this.name = "CheckpointFenced";
  }
}

/**
 * The SDK's blob checkpoint store (same blob names and metadata, so raw SDK consumers and
 * Brook share it) with conditional checkpoint writes, what `checkpointStore=blob` opens. A
 * member that starts a partition first rewrites its checkpoint blob as it is (fence), taking a
 * new ETag; each of its checkpoint writes is conditional on the ETag of its previous one. A
 * member that lost the partition writes against an ETag that is no longer current and is
 * refused (412), however late its ownership check answered: the new owner's fence came first.
 */
export class FencedBlobCheckpointStore extends BlobCheckpointStore {
  constructor(private readonly container: ContainerClient) {
    super(container);
  }

  /**
   * Rewrites the checkpoint blob's metadata unchanged (If-Match its current ETag, so a write
   * landing in between is kept, never overwritten) and returns the new ETag; null when the
   * partition has no checkpoint yet.
   */
  async fence(c: CheckpointKey): Promise<string | null> {
    const blob = this.container.getBlockBlobClient(checkpointBlobName(c));
    for (let attempt = 0; ; attempt++) {
      let props;
      try {
        props = await blob.getProperties();
      } catch (err) {
        if (statusOf(err) === 404) return null;
        throw err;
      }
      try {
        return (await blob.setMetadata(props.metadata, { conditions: { ifMatch: props.etag! } })).etag!;
      } catch (err) {
        // Another write landed between the read and this one: read it again (bounded).
        if (statusOf(err) !== 412 || attempt >= 4) throw err;
      }
    }
  }

  /**
   * Writes the checkpoint if the blob is still at `etag` (null: if it still does not exist);
   * resolves with the new ETag, rejects with CheckpointFenced when another member wrote since.
   */
  async writeCheckpoint(c: Checkpoint, etag: string | null): Promise<string> {
    const blob = this.container.getBlockBlobClient(checkpointBlobName(c));
    const metadata = { sequencenumber: String(c.sequenceNumber), offset: String(c.offset) };
    try {
      const r = etag === null ? await blob.upload("", 0, { metadata, conditions: { ifNoneMatch: "*" } }) : await blob.setMetadata(metadata, { conditions: { ifMatch: etag } });
      return r.etag!;
    } catch (err) {
      const status = statusOf(err);
      if (status === 412 || status === 409) throw new CheckpointFenced(c.partitionId);
      throw err;
    }
  }
}

type CheckpointKey = Pick<Checkpoint, "fullyQualifiedNamespace" | "eventHubName" | "consumerGroup" | "partitionId">;

/** The SDK's blob name of a checkpoint (as BlobCheckpointStore.getBlobPrefix names it). */
function checkpointBlobName(c: CheckpointKey): string {
  return `${c.fullyQualifiedNamespace.toLowerCase()}/${c.eventHubName.toLowerCase()}/${c.consumerGroup.toLowerCase()}/checkpoint/${c.partitionId}`;
}

function statusOf(err: unknown): number | undefined {
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === "number" ? status : undefined;
}

export interface CheckpointStoreHooks {
  /** the load balancer listed ownership: a round begins (or the previous one ended) */
  listedOwnership(ownerships: PartitionOwnership[]): void;
  claimed(requested: PartitionOwnership[]): void;
}

/**
 * The subscription's view of the group's checkpoint store. It sees the SDK's load-balancing
 * rounds (to know when subscribe() may resolve), remembers the checkpoint each partition starts
 * from (core's lastCommitted), and hides the checkpoint of a partition whose start Brook moved
 * (a seek), so the SDK falls back to the start position Brook set for it.
 */
export class SubscriptionCheckpointStore implements CheckpointStore {
  /** partitions whose stored checkpoint the SDK must not start from (a seek is pending) */
  readonly hidden = new Set<string>();
  /** the checkpoint each partition's last start was read from */
  readonly startedFrom = new Map<string, Checkpoint | undefined>();

  constructor(
    private readonly inner: CheckpointStore,
    private readonly hooks: CheckpointStoreHooks,
  ) {}

  async listOwnership(namespace: string, hub: string, group: string): Promise<PartitionOwnership[]> {
    const ownerships = await this.inner.listOwnership(namespace, hub, group);
    this.hooks.listedOwnership(ownerships);
    return ownerships;
  }

  claimOwnership(ownerships: PartitionOwnership[]): Promise<PartitionOwnership[]> {
    this.hooks.claimed(ownerships);
    return this.inner.claimOwnership(ownerships);
  }

  async listCheckpoints(namespace: string, hub: string, group: string): Promise<Checkpoint[]> {
    const all = await this.inner.listCheckpoints(namespace, hub, group);
    // The SDK lists checkpoints right before it starts a partition's receiver.
    const visible = all.filter((c) => !this.hidden.has(c.partitionId));
    for (const c of all) if (!this.hidden.has(c.partitionId)) this.startedFrom.set(c.partitionId, c);
    return visible;
  }

  /** per partition: the checkpoint blob's ETag after this subscription's fence or last write */
  private readonly etags = new Map<string, string | null>();

  /**
   * Called when this member starts a partition, before its receiver: on the fenced blob store,
   * a checkpoint write of a previous owner after this is refused (CheckpointFenced).
   */
  async fence(c: CheckpointKey): Promise<void> {
    this.etags.delete(c.partitionId);
    if (this.inner instanceof FencedBlobCheckpointStore) this.etags.set(c.partitionId, await this.inner.fence(c));
  }

  /** The partition stopped here: its writes are no longer fenced by this subscription. */
  unfence(partition: string): void {
    this.etags.delete(partition);
  }

  async updateCheckpoint(checkpoint: Checkpoint): Promise<void> {
    const etag = this.etags.get(checkpoint.partitionId);
    if (etag === undefined || !(this.inner instanceof FencedBlobCheckpointStore)) return this.inner.updateCheckpoint(checkpoint);
    this.etags.set(checkpoint.partitionId, await this.inner.writeCheckpoint(checkpoint, etag));
  }

  /** The inner store's ownership records, without telling the hooks (Brook's own checks). */
  ownership(namespace: string, hub: string, group: string): Promise<PartitionOwnership[]> {
    return this.inner.listOwnership(namespace, hub, group);
  }

  /**
   * Gives up this owner's claim on a partition (without one: on every partition it owns) so the
   * next round (of any member) claims it at once.
   */
  async abandon(namespace: string, hub: string, group: string, ownerId: string, partition?: string): Promise<void> {
    const mine = (await this.inner.listOwnership(namespace, hub, group)).filter((o) => o.ownerId === ownerId && (partition === undefined || o.partitionId === partition));
    if (mine.length === 0) return;
    await this.inner.claimOwnership(mine.map((o) => ({ ...o, ownerId: "" })));
  }
}

/**
 * Checkpoints and ownership in this process's memory ("checkpointStore=memory"): members of a
 * group balance only among the subscriptions of one broker, and nothing survives a restart.
 * Claims are conditional on the etag, as in the blob store.
 */
export class MemoryCheckpointStore implements CheckpointStore {
  private readonly ownerships = new Map<string, PartitionOwnership>();
  private readonly checkpoints = new Map<string, Checkpoint>();

  async listOwnership(namespace: string, hub: string, group: string): Promise<PartitionOwnership[]> {
    const prefix = `${namespace}/${hub}/${group}/`.toLowerCase();
    return [...this.ownerships].filter(([k]) => k.startsWith(prefix)).map(([, o]) => ({ ...o }));
  }

  async claimOwnership(requested: PartitionOwnership[]): Promise<PartitionOwnership[]> {
    const claimed: PartitionOwnership[] = [];
    for (const r of requested) {
      const key = `${r.fullyQualifiedNamespace}/${r.eventHubName}/${r.consumerGroup}/${r.partitionId}`.toLowerCase();
      const current = this.ownerships.get(key);
      if (current !== undefined && current.etag !== r.etag) continue;
      const next = { ...r, etag: randomUUID(), lastModifiedTimeInMs: Date.now() };
      this.ownerships.set(key, next);
      claimed.push({ ...next });
    }
    return claimed;
  }

  async listCheckpoints(namespace: string, hub: string, group: string): Promise<Checkpoint[]> {
    const prefix = `${namespace}/${hub}/${group}/`.toLowerCase();
    return [...this.checkpoints].filter(([k]) => k.startsWith(prefix)).map(([, c]) => ({ ...c }));
  }

  async updateCheckpoint(c: Checkpoint): Promise<void> {
    this.checkpoints.set(`${c.fullyQualifiedNamespace}/${c.eventHubName}/${c.consumerGroup}/${c.partitionId}`.toLowerCase(), { ...c });
  }
}
