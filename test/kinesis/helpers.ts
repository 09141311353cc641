/** Raw AWS SDK access for the Kinesis tests: what a KCL application or another producer would do. */
import { DescribeStreamSummaryCommand, GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand, type KinesisClient, type Shard, type _Record } from "@aws-sdk/client-kinesis";
import { CreateTableCommand, DescribeTableCommand, ScanCommand, type AttributeValue, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { kinesisClients, parseKinesisUrl, resolveKinesisOptions } from "@brook/adapter-kinesis";
import type { KinesisUnderTest } from "./emulator.js";

export function rawClients(k: KinesisUnderTest): { kinesis: KinesisClient; dynamo: DynamoDBClient; close(): void } {
  const { kinesis, dynamo } = kinesisClients(resolveKinesisOptions(parseKinesisUrl(k.url()), {}));
  return { kinesis, dynamo, close: () => (kinesis.destroy(), dynamo.destroy()) };
}

export async function waitActive(kinesis: KinesisClient, stream: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
    if (s.StreamDescriptionSummary?.StreamStatus === "ACTIVE") return;
    if (Date.now() > deadline) throw new Error(`stream ${stream} not ACTIVE within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function shards(kinesis: KinesisClient, stream: string): Promise<Shard[]> {
  return (await kinesis.send(new ListShardsCommand({ StreamName: stream }))).Shards ?? [];
}

/** Every record of a shard from its start, as GetRecords returns them. */
export async function readShard(kinesis: KinesisClient, stream: string, shardId: string): Promise<_Record[]> {
  const it = await kinesis.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shardId, ShardIteratorType: "TRIM_HORIZON" }));
  let iterator = it.ShardIterator;
  const out: _Record[] = [];
  for (let i = 0; i < 100 && iterator !== undefined; i++) {
    const r = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator }));
    out.push(...(r.Records ?? []));
    if ((r.Records ?? []).length === 0 && (r.MillisBehindLatest ?? 0) === 0) break;
    iterator = r.NextShardIterator;
  }
  return out;
}

export type Item = Record<string, AttributeValue>;

/**
 * Creates a lease table the way the KCL does (hash key leaseKey, on demand) and waits until it
 * is ACTIVE: dynalite answers a write to a table still CREATING with ResourceNotFoundException.
 */
export async function createLeaseTable(dynamo: DynamoDBClient, table: string, timeoutMs = 10_000): Promise<void> {
  await dynamo.send(new CreateTableCommand({ TableName: table, KeySchema: [{ AttributeName: "leaseKey", KeyType: "HASH" }], AttributeDefinitions: [{ AttributeName: "leaseKey", AttributeType: "S" }], BillingMode: "PAY_PER_REQUEST" }));
  const deadline = Date.now() + timeoutMs;
  while ((await dynamo.send(new DescribeTableCommand({ TableName: table }))).Table?.TableStatus !== "ACTIVE") {
    if (Date.now() > deadline) throw new Error(`lease table ${table} not ACTIVE within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function scanTable(dynamo: DynamoDBClient, table: string): Promise<Item[]> {
  return (await dynamo.send(new ScanCommand({ TableName: table, ConsistentRead: true }))).Items ?? [];
}

/** The hash key in the middle of a shard's range (an ExplicitHashKey that lands on it). */
export function midHash(shard: Shard): string {
  const lo = BigInt(shard.HashKeyRange!.StartingHashKey!);
  const hi = BigInt(shard.HashKeyRange!.EndingHashKey!);
  return ((lo + hi) / 2n).toString();
}

/** Per key, the order messages were handled in; checks "each key once, in publish order". */
export class KeyLog {
  private readonly seen = new Map<string, number[]>();
  count = 0;

  record(key: string, i: number): void {
    const list = this.seen.get(key) ?? [];
    list.push(i);
    this.seen.set(key, list);
    this.count += 1;
  }

  /** Keys whose messages were not handled exactly once each, in order 0..n-1. */
  outOfOrder(perKey: number): Array<{ key: string; got: number[] }> {
    const bad: Array<{ key: string; got: number[] }> = [];
    for (const [key, got] of this.seen) {
      if (got.length !== perKey || got.some((v, i) => v !== i)) bad.push({ key, got });
    }
    return bad;
  }

  /** Keys with a message handled before an earlier one of the same key (repeats allowed). */
  reordered(): Array<{ key: string; got: number[] }> {
    const bad: Array<{ key: string; got: number[] }> = [];
    for (const [key, got] of this.seen) {
      let max = -1;
      for (const v of got) {
        if (v > max + 1) {
          bad.push({ key, got });
          break;
        }
        max = Math.max(max, v);
      }
    }
    return bad;
  }

  keys(): number {
    return this.seen.size;
  }
}
