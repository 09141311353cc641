/**
 * What a team running the Java KCL (or the KPL, or aws-kinesis-agg) relies on when it moves to
 * Brook: a lease table the KCL wrote is adopted in place, aggregated records are read, and what
 * Brook writes is read by the KPL format's reference decoder.
 */
import { createRequire } from "node:module";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { connect } from "@brook/core";
import { type KinesisBroker } from "@brook/adapter-kinesis";
import { sleep, uniqueTopic, waitFor } from "@brook/contract-tests";
import { CreateStreamCommand, PutRecordCommand, PutRecordsCommand } from "@aws-sdk/client-kinesis";
import { PutItemCommand } from "@aws-sdk/client-dynamodb";
import { describeKinesis, stopAfterAll, useKinesis } from "./emulator.js";
import { createLeaseTable, midHash, rawClients, readShard, scanTable, shards, waitActive } from "./helpers.js";

const requireRoot = createRequire(`${process.cwd()}/package.json`);
const agg = requireRoot("aws-kinesis-agg") as {
  aggregate(
    records: Array<{ partitionKey: string; data: Buffer }>,
    onRecord: (encoded: { partitionKey: string; explicitHashKey?: string; data: Buffer }, callback: (err?: Error) => void) => void,
    afterAll: () => void,
    onError: (err: Error) => void,
  ): void;
  deaggregateSync(record: { partitionKey: string; data: string; sequenceNumber: string }, checksums: boolean, done: (err: Error | null, records?: Array<{ partitionKey: string; data: string; subSequenceNumber?: number }>) => void): void;
};
const aggProto = (requireRoot("aws-kinesis-agg/lib/common.js") as { loadBuilder(): { decode(b: Buffer): { records: Array<{ tags: Array<{ key: string; value?: string }> }> } } }).loadBuilder();

describeKinesis("KCL compatibility", () => {
  const k = useKinesis();
  let raw: ReturnType<typeof rawClients>;
  let broker: KinesisBroker;

  beforeAll(async () => {
    raw = rawClients(k);
    broker = await connect(k.url("&failoverTimeMs=3000&takeIntervalMs=1000&pollIntervalMs=200"));
  });
  afterAll(async () => {
    await broker?.close();
    raw?.close();
  });
  stopAfterAll(k);

  async function stream(shardCount: number): Promise<string> {
    const name = uniqueTopic("kcl");
    await raw.kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: shardCount }));
    await waitActive(raw.kinesis, name);
    return name;
  }

  test("a lease table the KCL wrote is adopted: its checkpoints are resumed, a live KCL worker's lease is taken only after it expires, and checkpoints land in the same items", async () => {
    const name = await stream(2);
    const [s0, s1] = await shards(raw.kinesis, name);
    const seqs = new Map<string, string[]>();
    for (const shard of [s0!, s1!]) {
      const put = await raw.kinesis.send(
        new PutRecordsCommand({
          StreamName: name,
          Records: Array.from({ length: 10 }, (_, i) => ({ Data: Buffer.from(`${shard.ShardId}#${i}`), PartitionKey: `k${i}`, ExplicitHashKey: midHash(shard) })),
        }),
      );
      seqs.set(shard.ShardId!, put.Records!.map((r) => r.SequenceNumber!));
    }
    // The KCL 2.x single-stream table: application "orders-kcl", shard 0 held by a KCL worker
    // that processed records 0-4, shard 1 released at TRIM_HORIZON.
    const table = uniqueTopic("orders-kcl");
    await createLeaseTable(raw.dynamo, table);
    const kclItem = (shard: typeof s0, extra: Record<string, { S: string } | { N: string }>) => ({
      leaseKey: { S: shard!.ShardId! },
      leaseCounter: { N: "42" },
      checkpointSubSequenceNumber: { N: "0" },
      ownerSwitchesSinceCheckpoint: { N: "0" },
      startingHashKey: { S: shard!.HashKeyRange!.StartingHashKey! },
      endingHashKey: { S: shard!.HashKeyRange!.EndingHashKey! },
      ...extra,
    });
    await raw.dynamo.send(new PutItemCommand({ TableName: table, Item: kclItem(s0, { leaseOwner: { S: "kcl-worker-1" }, checkpoint: { S: seqs.get(s0!.ShardId!)![4]! } }) }));
    await raw.dynamo.send(new PutItemCommand({ TableName: table, Item: kclItem(s1, { checkpoint: { S: "TRIM_HORIZON" } }) }));

    const got: Array<{ data: string; at: number }> = [];
    const subscribedAt = Date.now();
    const sub = await connect(k.url(`&failoverTimeMs=3000&takeIntervalMs=500&pollIntervalMs=200&leaseTable=${table}`)).then((b) =>
      b.subscribe<string>(name, { group: "orders-kcl", codec: "string", startFrom: "latest", commitIntervalMs: 100, handler: (m) => void got.push({ data: m.data, at: Date.now() }) }).then((s) => ({ s, b })),
    );
    try {
      await waitFor(() => got.length >= 15, 60_000, `15 records (got ${got.map((g) => g.data).join(", ")})`);
      await sleep(500);
      const data = got.map((g) => g.data);
      // Shard 1 from its start; shard 0 after the KCL's checkpoint (record 4), nothing before it.
      expect([...data].sort()).toEqual([...Array.from({ length: 5 }, (_, i) => `${s0!.ShardId}#${i + 5}`), ...Array.from({ length: 10 }, (_, i) => `${s1!.ShardId}#${i}`)].sort());
      // The live worker's lease moved only once its counter had stood still for failoverTimeMs.
      const firstOfShard0 = Math.min(...got.filter((g) => g.data.startsWith(s0!.ShardId!)).map((g) => g.at));
      expect(firstOfShard0 - subscribedAt).toBeGreaterThanOrEqual(3_000);
      await waitFor(async () => (await scanTable(raw.dynamo, table)).some((i) => i.leaseKey?.S === s0!.ShardId && i.checkpoint?.S === seqs.get(s0!.ShardId!)![9]), 20_000, "the checkpoint of shard 0 at its last record");
      const items = await scanTable(raw.dynamo, table);
      expect(items.map((i) => i.leaseKey?.S).sort()).toEqual([s0!.ShardId, s1!.ShardId].sort());
      const item0 = items.find((i) => i.leaseKey?.S === s0!.ShardId)!;
      expect(item0.leaseOwner?.S).toBeDefined();
      expect(item0.leaseOwner?.S).not.toBe("kcl-worker-1");
      expect(Number(item0.leaseCounter?.N)).toBeGreaterThan(42);
      expect(item0.checkpointSubSequenceNumber?.N).toBe("0");
      expect(item0.ownerSwitchesSinceCheckpoint?.N).toBe("0");
      // Single-stream items stay single-stream: no multi-stream attributes were added.
      expect(item0.streamName).toBeUndefined();
      const item1 = items.find((i) => i.leaseKey?.S === s1!.ShardId)!;
      expect(item1.checkpoint?.S).toBe(seqs.get(s1!.ShardId!)![9]);
    } finally {
      await sub.s.close();
      await sub.b.close();
    }
    // A closing worker lets its leases go at once (a KCL or Brook worker can take them now).
    const after = await scanTable(raw.dynamo, table);
    expect(after.map((i) => i.leaseOwner?.S)).toEqual([undefined, undefined]);
  }, 120_000);

  test("records aws-kinesis-agg aggregated are read one message each, with data and keys intact", async () => {
    const name = await stream(1);
    const input = Array.from({ length: 60 }, (_, i) => ({ partitionKey: `user-${i % 7}`, data: Buffer.from(`payload ${i} ${"x".repeat(i)}`) }));
    const encoded: Array<{ partitionKey: string; explicitHashKey?: string; data: Buffer }> = [];
    await new Promise<void>((resolve, reject) => agg.aggregate(input, (r, cb) => (encoded.push(r), cb()), resolve, reject));
    for (const e of encoded) {
      await raw.kinesis.send(new PutRecordCommand({ StreamName: name, PartitionKey: e.partitionKey, Data: e.data, ...(e.explicitHashKey === undefined ? {} : { ExplicitHashKey: e.explicitHashKey }) }));
    }
    // Plus a plain record from a producer that does not aggregate.
    await raw.kinesis.send(new PutRecordCommand({ StreamName: name, PartitionKey: "plain", Data: Buffer.from("plain record") }));
    const got: Array<{ key: string | undefined; data: string; offset: string }> = [];
    await broker.subscribe<Uint8Array>(name, { group: "agg-reader", codec: "bytes", startFrom: "earliest", ordering: "partition", handler: (m) => void got.push({ key: m.key, data: Buffer.from(m.data).toString(), offset: m.position.offset }) });
    await waitFor(() => got.length >= 61, 30_000, `61 messages (got ${got.length})`);
    await sleep(300);
    expect(got.map((g) => g.data)).toEqual([...input.map((i) => i.data.toString()), "plain record"]);
    expect(got.map((g) => g.key)).toEqual([...input.map((i) => i.partitionKey), "plain"]);
    if (encoded.length === 1) expect(got.slice(0, 60).every((g, i) => g.offset.endsWith(`:${i}`))).toBe(true);
    expect(got[60]!.offset).toMatch(/^\d+$/);
  });

  test("records Brook writes are de-aggregated by aws-kinesis-agg with data, keys and tags intact (enveloped, aggregated and raw)", async () => {
    const name = await stream(1);
    await broker.publisher<string>(name, { codec: "string" }).publish({ data: "with headers", key: "cust-1", idempotencyKey: "order-1", headers: { source: "web", traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" } });
    await broker.publisher<string>(name, { codec: "string" }).publish({ data: "raw", key: "cust-2" });
    const aggregated = broker.publisher<string>(name, { codec: "string", aggregate: true });
    const results = await aggregated.publishBatch(Array.from({ length: 30 }, (_, i) => ({ data: `agg-${i}`, key: `k${i % 4}`, headers: { n: String(i) } })));
    expect(results.every((r) => r.ok)).toBe(true);
    const [shard] = await shards(raw.kinesis, name);
    const records = await readShard(raw.kinesis, name, shard!.ShardId!);
    const users: Array<{ partitionKey: string; data: string; tags: Array<[string, string]> }> = [];
    for (const r of records) {
      const data = Buffer.from(r.Data!);
      agg.deaggregateSync({ partitionKey: r.PartitionKey!, data: data.toString("base64"), sequenceNumber: r.SequenceNumber! }, true, (err, out) => {
        if (err) throw err;
        const tags = data.subarray(0, 4).toString("hex") === "f3899ac2" ? aggProto.decode(data.subarray(4, data.length - 16)).records.map((x) => x.tags.map((t) => [t.key, t.value ?? ""] as [string, string])) : [];
        out!.forEach((u, i) => users.push({ partitionKey: u.partitionKey, data: Buffer.from(u.data, "base64").toString(), tags: tags[i] ?? [] }));
      });
    }
    expect(records.length).toBeLessThan(32); // the 30 aggregated messages took fewer records than messages
    expect(users.map((u) => u.data)).toEqual(["with headers", "raw", ...Array.from({ length: 30 }, (_, i) => `agg-${i}`)]);
    expect(users.map((u) => u.partitionKey)).toEqual(["cust-1", "cust-2", ...Array.from({ length: 30 }, (_, i) => `k${i % 4}`)]);
    expect(Object.fromEntries(users[0]!.tags)).toEqual({ source: "web", traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "brook-idempotency-key": "order-1" });
    expect(users[1]!.tags).toEqual([]);
    users.slice(2).forEach((u, i) => expect(u.tags).toEqual([["n", String(i)]]));
    // Positions name the sub-record: "<sequence number>:<n>" inside an aggregate.
    const first = results[0]!;
    expect(first.ok && first.position.offset).toMatch(/^\d+:0$/);
  });

  test("envelope \"none\" writes raw records and refuses a message whose headers it would drop", async () => {
    const name = await stream(1);
    const pub = broker.publisher<string>(name, { codec: "string", envelope: "none" });
    await expect(pub.publish({ data: "x", headers: { a: "b" } })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/envelope/) });
    await expect(pub.publish({ data: "x", idempotencyKey: "i-1" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    // The auto codec's content-type is a header too: refused, with the way to raw records named.
    await expect(broker.publisher(name, { envelope: "none" }).publish({ data: { a: 1 } })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/content-type.*auto codec/) });
    const ok = await pub.publish({ data: "plain", key: "k" });
    const always = broker.publisher<string>(name, { codec: "string", envelope: "kpl" });
    await always.publish({ data: "wrapped", key: "k" });
    const [shard] = await shards(raw.kinesis, name);
    const records = await readShard(raw.kinesis, name, shard!.ShardId!);
    expect(records.map((r) => Buffer.from(r.Data!).subarray(0, 4).toString("hex"))).toEqual([Buffer.from("plai").toString("hex"), "f3899ac2"]);
    expect(records[0]!.SequenceNumber).toBe(ok.position.offset);
  });
});
