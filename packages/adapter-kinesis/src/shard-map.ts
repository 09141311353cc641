import { ListShardsCommand, type KinesisClient, type Shard } from "@aws-sdk/client-kinesis";
import { awsErrorName, streamNotFound, toKinesisBrookError } from "./errors.js";

/** Every shard of a stream, closed ones still in retention included, following ListShards' pages. */
export async function listAllShards(kinesis: KinesisClient, stream: string): Promise<Shard[]> {
  const shards: Shard[] = [];
  let nextToken: string | undefined;
  for (let page = 0; page < 1_000; page++) {
    let response;
    try {
      response = await kinesis.send(new ListShardsCommand(nextToken === undefined ? { StreamName: stream } : { NextToken: nextToken }));
    } catch (err) {
      if (awsErrorName(err) === "ResourceNotFoundException") throw streamNotFound(stream, err);
      throw toKinesisBrookError(err, `list the shards of stream "${stream}"`);
    }
    shards.push(...(response.Shards ?? []));
    nextToken = response.NextToken;
    if (nextToken === undefined) break;
  }
  return shards;
}

export function isOpen(shard: Shard): boolean {
  return shard.SequenceNumberRange?.EndingSequenceNumber === undefined;
}

interface Range {
  start: bigint;
  end: bigint;
  shardId: string;
}

/** The open shards of a stream by hash key range, to tell which shard a hash key lands on. */
export class ShardRanges {
  constructor(private readonly ranges: Range[]) {}

  static of(shards: Shard[]): ShardRanges {
    const ranges = shards
      .filter(isOpen)
      .map((s) => ({ start: BigInt(s.HashKeyRange?.StartingHashKey ?? "0"), end: BigInt(s.HashKeyRange?.EndingHashKey ?? "0"), shardId: s.ShardId ?? "" }))
      .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    return new ShardRanges(ranges);
  }

  /** The shard holding `hash`; "" when no open shard does (an empty or changing map). */
  shardFor(hash: bigint): string {
    let lo = 0;
    let hi = this.ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.ranges[mid]!;
      if (hash < r.start) hi = mid - 1;
      else if (hash > r.end) lo = mid + 1;
      else return r.shardId;
    }
    return "";
  }
}

/**
 * The open-shard map a publisher packs aggregates by: loaded on first use, reloaded after a
 * minute or as soon as a record lands on a shard other than the map predicted (a reshard).
 */
export class ShardMap {
  private ranges: ShardRanges | undefined;
  private loadedAt = 0;
  private loading: Promise<ShardRanges> | undefined;

  constructor(
    private readonly kinesis: KinesisClient,
    private readonly stream: string,
    private readonly maxAgeMs = 60_000,
  ) {}

  async current(): Promise<ShardRanges> {
    if (this.ranges !== undefined && Date.now() - this.loadedAt < this.maxAgeMs) return this.ranges;
    this.loading ??= listAllShards(this.kinesis, this.stream)
      .then((shards) => {
        this.ranges = ShardRanges.of(shards);
        this.loadedAt = Date.now();
        return this.ranges;
      })
      .finally(() => (this.loading = undefined));
    return this.loading;
  }

  /** A record sent with `hashKey` landed on `shardId`; a different prediction means the map is stale. */
  observe(hashKey: string | undefined, shardId: string): void {
    if (hashKey === undefined || this.ranges === undefined) return;
    if (this.ranges.shardFor(BigInt(hashKey)) !== shardId) this.loadedAt = 0;
  }
}
