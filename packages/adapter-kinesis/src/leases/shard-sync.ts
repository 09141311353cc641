import type { StartFrom } from "@brook/core";
import type { ChildShard, KinesisClient, Shard } from "@aws-sdk/client-kinesis";
import { isOpen, listAllShards } from "../shard-map.js";
import { parseOffset } from "../records.js";
import { newLeaseItem, type Lease, type LeaseKeys } from "./lease.js";
import type { LeaseTable } from "./lease-table.js";

export interface ShardSyncContext {
  kinesis: KinesisClient;
  stream: string;
  table: LeaseTable;
  keys: LeaseKeys;
  /** where shards that start this group's lineage begin (subscribe's startFrom) */
  startFrom: StartFrom;
}

type NewLease = Pick<Lease, "shardId" | "checkpoint" | "parents" | "startingHashKey" | "endingHashKey" | "startTimestamp" | "startSequence">;

function parentsOf(shard: Shard): string[] {
  return [shard.ParentShardId, shard.AdjacentParentShardId].filter((p): p is string => p !== undefined);
}

/**
 * Creates the leases the group is missing, from the stream's shard list. A shard whose parent
 * has a lease gets one at TRIM_HORIZON (every record of a tracked lineage is read, children
 * after parents). A shard that starts the group's lineage (no parent with a lease) begins
 * where startFrom says: earliest → TRIM_HORIZON for every shard still retained; latest →
 * LATEST for open shards (closed ones hold only older records and get none); a time →
 * AT_TIMESTAMP; positions → that sequence number for the shards named, as latest for the rest.
 * A shard with a leased descendant is never leased again (its records were read). Creation is
 * conditional, so workers syncing at once create each lease once. Returns how many it created.
 */
export async function syncShardLeases(ctx: ShardSyncContext, leases: Map<string, Lease>): Promise<number> {
  const shards = await listAllShards(ctx.kinesis, ctx.stream);
  await deleteTrimmedLeases(ctx, leases, new Set(shards.map((s) => s.ShardId ?? "")));
  const children = new Map<string, string[]>();
  for (const s of shards) {
    for (const p of parentsOf(s)) children.set(p, [...(children.get(p) ?? []), s.ShardId ?? ""]);
  }
  const leased = new Set(leases.keys());
  const descendantLeased = (id: string, depth = 0): boolean =>
    depth < 1_000 && (children.get(id) ?? []).some((c) => leased.has(c) || descendantLeased(c, depth + 1));
  // Shard ids grow with creation, so parents come before their children.
  const ordered = [...shards].sort((a, b) => (a.ShardId ?? "").localeCompare(b.ShardId ?? ""));
  let created = 0;
  for (const shard of ordered) {
    const id = shard.ShardId;
    if (id === undefined || leased.has(id) || descendantLeased(id)) continue;
    const parents = parentsOf(shard);
    const start = parents.some((p) => leased.has(p)) ? { checkpoint: "TRIM_HORIZON" } : rootStart(ctx.startFrom, shard);
    if (start === undefined) continue;
    const lease: NewLease = {
      shardId: id,
      parents,
      startingHashKey: shard.HashKeyRange?.StartingHashKey,
      endingHashKey: shard.HashKeyRange?.EndingHashKey,
      startTimestamp: undefined,
      startSequence: undefined,
      ...start,
    };
    if (await ctx.table.create(newLeaseItem(ctx.keys, lease))) created += 1;
    leased.add(id);
  }
  return created;
}

/**
 * Deletes the leases of finished shards that retention removed from the stream: nobody reads
 * them again, and a child whose parent has no lease treats the parent as finished.
 */
async function deleteTrimmedLeases(ctx: ShardSyncContext, leases: Map<string, Lease>, listed: Set<string>): Promise<void> {
  for (const lease of leases.values()) {
    if (lease.checkpoint === "SHARD_END" && lease.owner === undefined && lease.checkpointOwner === undefined && !listed.has(lease.shardId)) {
      if (await ctx.table.deleteFinished(lease)) leases.delete(lease.shardId);
    }
  }
}

function rootStart(startFrom: StartFrom, shard: Shard): Pick<Lease, "checkpoint" | "startTimestamp" | "startSequence"> | undefined {
  if (startFrom === "earliest") return { checkpoint: "TRIM_HORIZON", startTimestamp: undefined, startSequence: undefined };
  if (startFrom === "latest") return isOpen(shard) ? { checkpoint: "LATEST", startTimestamp: undefined, startSequence: undefined } : undefined;
  if ("time" in startFrom) return { checkpoint: "AT_TIMESTAMP", startTimestamp: startFrom.time.getTime(), startSequence: undefined };
  const position = startFrom.positions.find((p) => p.partition === shard.ShardId);
  if (position !== undefined) {
    // Read from the position on; the KCL (which knows no such start) would read from the shard's start.
    return { checkpoint: "TRIM_HORIZON", startTimestamp: undefined, startSequence: position.offset };
  }
  return isOpen(shard) ? { checkpoint: "LATEST", startTimestamp: undefined, startSequence: undefined } : undefined;
}

/**
 * Leases for the children of a shard that ended (from GetRecords' ChildShards, else from the
 * shard list), created before the parent is checkpointed SHARD_END so the lineage never has a
 * gap. Returns the child shard ids.
 */
export async function createChildLeases(ctx: ShardSyncContext, parent: string, childShards: ChildShard[] | undefined): Promise<string[]> {
  let children: NewLease[];
  if (childShards !== undefined && childShards.length > 0) {
    children = childShards.map((c) => ({
      shardId: c.ShardId ?? "",
      parents: c.ParentShards ?? [parent],
      startingHashKey: c.HashKeyRange?.StartingHashKey,
      endingHashKey: c.HashKeyRange?.EndingHashKey,
      checkpoint: "TRIM_HORIZON",
      startTimestamp: undefined,
      startSequence: undefined,
    }));
  } else {
    const shards = await listAllShards(ctx.kinesis, ctx.stream);
    children = shards
      .filter((s) => parentsOf(s).includes(parent))
      .map((s) => ({
        shardId: s.ShardId ?? "",
        parents: parentsOf(s),
        startingHashKey: s.HashKeyRange?.StartingHashKey,
        endingHashKey: s.HashKeyRange?.EndingHashKey,
        checkpoint: "TRIM_HORIZON",
        startTimestamp: undefined,
        startSequence: undefined,
      }));
  }
  for (const child of children) if (child.shardId.length > 0) await ctx.table.create(newLeaseItem(ctx.keys, child));
  return children.map((c) => c.shardId).filter((id) => id.length > 0);
}

/** Checks a startFrom position's offset early, so a bad one fails subscribe() and not a reader. */
export function checkStartPositions(startFrom: StartFrom): void {
  if (typeof startFrom === "object" && "positions" in startFrom) {
    startFrom.positions.forEach((p, i) => parseOffset(p.offset, `startFrom.positions[${i}].offset`));
  }
}
