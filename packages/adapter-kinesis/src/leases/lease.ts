/**
 * A shard lease as the Java KCL 2.x keeps it in DynamoDB, one item per shard:
 *
 * | attribute | type | meaning |
 * |---|---|---|
 * | leaseKey | S (hash key) | the shard id (single-stream tables) or `account:stream:creationEpoch:shardId` (multi-stream) |
 * | leaseOwner | S | worker holding the lease; absent: free |
 * | leaseCounter | N | bumped by every write of the owner (renewal, checkpoint); a counter that stops moving for failoverTimeMs means the owner is gone |
 * | checkpoint | S | last processed sequence number, or TRIM_HORIZON / LATEST / AT_TIMESTAMP / SHARD_END |
 * | checkpointSubSequenceNumber | N | sub-record of a KPL aggregate the checkpoint is at (0 for a whole record) |
 * | ownerSwitchesSinceCheckpoint | N | owner changes since the last checkpoint |
 * | parentShardId | SS | parent shard ids (two after a merge) |
 * | childShardIds | SS | child shard ids, written when the shard ends |
 * | startingHashKey, endingHashKey | S | the shard's hash key range |
 * | streamName, shardId | S | multi-stream tables: stream identifier and shard id |
 * | checkpointOwner | S | graceful hand-over (as in KCL 3.x): the worker still processing while leaseOwner is the next owner |
 * | brookStartTimestamp | N | Brook: epoch ms of an AT_TIMESTAMP start (the KCL takes it from its configuration) |
 * | brookStartSequence | S | Brook: start at this sequence number, inclusive (startFrom { positions }) |
 */
import type { AttributeValue } from "@aws-sdk/client-dynamodb";

export const SENTINELS = ["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP", "SHARD_END"] as const;
export type Sentinel = (typeof SENTINELS)[number];

export interface Lease {
  leaseKey: string;
  shardId: string;
  owner: string | undefined;
  counter: number;
  /** a sequence number or a sentinel */
  checkpoint: string;
  subSequence: number;
  ownerSwitches: number;
  parents: string[];
  children: string[];
  startingHashKey: string | undefined;
  endingHashKey: string | undefined;
  checkpointOwner: string | undefined;
  startTimestamp: number | undefined;
  startSequence: string | undefined;
}

export type Item = Record<string, AttributeValue>;

export function isSentinel(checkpoint: string): checkpoint is Sentinel {
  return (SENTINELS as readonly string[]).includes(checkpoint);
}

/** The worker processing the shard now: the hand-over's old owner, else the lease owner. */
export function processingOwner(lease: Lease): string | undefined {
  return lease.checkpointOwner ?? lease.owner;
}

/**
 * How lease keys name shards. Single-stream (the KCL's default): the key is the shard id and the
 * table serves one stream. Multi-stream (the KCL's multi-stream mode): the key is prefixed with
 * the stream identifier `account:stream:creationEpoch`, so one table per group serves every
 * stream the group reads (and a recreated stream never meets its predecessor's leases).
 */
export class LeaseKeys {
  private constructor(
    /** the KCL multi-stream stream identifier; undefined in single-stream mode */
    readonly streamIdentifier: string | undefined,
  ) {}

  static singleStream(): LeaseKeys {
    return new LeaseKeys(undefined);
  }

  static multiStream(account: string, stream: string, creationEpochSeconds: number): LeaseKeys {
    return new LeaseKeys(`${account}:${stream}:${creationEpochSeconds}`);
  }

  get mode(): "shard" | "stream" {
    return this.streamIdentifier === undefined ? "shard" : "stream";
  }

  keyOf(shardId: string): string {
    return this.streamIdentifier === undefined ? shardId : `${this.streamIdentifier}:${shardId}`;
  }

  /** The shard id of an item of this stream, or undefined when the item is not one of its leases. */
  shardOf(item: Item): string | undefined {
    const key = item.leaseKey?.S;
    if (key === undefined) return undefined;
    if (this.streamIdentifier === undefined) return isMultiStreamItem(item) ? undefined : key;
    const prefix = `${this.streamIdentifier}:`;
    if (!key.startsWith(prefix)) return undefined;
    return item.shardId?.S ?? key.slice(prefix.length);
  }

  /** Attributes every lease item of this stream carries beside the KCL's own. */
  extraAttributes(shardId: string): Item {
    return this.streamIdentifier === undefined ? {} : { streamName: { S: this.streamIdentifier }, shardId: { S: shardId } };
  }
}

/** An item written in the KCL's multi-stream form (stream identifier in `streamName`, or in the key). */
export function isMultiStreamItem(item: Item): boolean {
  return item.streamName?.S !== undefined || (item.leaseKey?.S ?? "").includes(":");
}

export function leaseFromItem(item: Item, shardId: string): Lease {
  const num = (name: string): number | undefined => {
    const n = item[name]?.N;
    return n === undefined ? undefined : Number(n);
  };
  return {
    leaseKey: item.leaseKey?.S ?? shardId,
    shardId,
    owner: item.leaseOwner?.S,
    counter: num("leaseCounter") ?? 0,
    checkpoint: item.checkpoint?.S ?? "TRIM_HORIZON",
    subSequence: num("checkpointSubSequenceNumber") ?? 0,
    ownerSwitches: num("ownerSwitchesSinceCheckpoint") ?? 0,
    parents: item.parentShardId?.SS ?? [],
    children: item.childShardIds?.SS ?? [],
    startingHashKey: item.startingHashKey?.S,
    endingHashKey: item.endingHashKey?.S,
    checkpointOwner: item.checkpointOwner?.S,
    startTimestamp: num("brookStartTimestamp"),
    startSequence: item.brookStartSequence?.S,
  };
}

/** A new lease's item, as the KCL creates one: no owner, counter 0. */
export function newLeaseItem(keys: LeaseKeys, lease: Pick<Lease, "shardId" | "checkpoint" | "parents" | "startingHashKey" | "endingHashKey" | "startTimestamp" | "startSequence">): Item {
  const item: Item = {
    leaseKey: { S: keys.keyOf(lease.shardId) },
    leaseCounter: { N: "0" },
    checkpoint: { S: lease.checkpoint },
    checkpointSubSequenceNumber: { N: "0" },
    ownerSwitchesSinceCheckpoint: { N: "0" },
    ...keys.extraAttributes(lease.shardId),
  };
  if (lease.parents.length > 0) item.parentShardId = { SS: lease.parents };
  if (lease.startingHashKey !== undefined) item.startingHashKey = { S: lease.startingHashKey };
  if (lease.endingHashKey !== undefined) item.endingHashKey = { S: lease.endingHashKey };
  if (lease.startTimestamp !== undefined) item.brookStartTimestamp = { N: String(lease.startTimestamp) };
  if (lease.startSequence !== undefined) item.brookStartSequence = { S: lease.startSequence };
  return item;
}
