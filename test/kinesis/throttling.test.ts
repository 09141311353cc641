/**
 * Throttling and partial failure, against a Kinesis endpoint of our own that answers the
 * service's error shapes (kinesis-local never throttles): only the failed entries of a
 * PutRecords are sent again, in order; errors keep their type and the SDK error as cause;
 * a throttled or expired read backs off, gets a new iterator after the last record it read,
 * and loses nothing.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "@jest/globals";
import { BrookError, connect } from "@brook/core";
import type { KinesisBroker } from "@brook/adapter-kinesis";
import { sleep, uniqueTopic, waitFor } from "@brook/contract-tests";
import { describeKinesis, stopAfterAll, useKinesis } from "./emulator.js";
import { startFakeKinesis, streamSummary, type FakeKinesis } from "./fake-kinesis.js";

interface PutEntry {
  Data: string;
  PartitionKey: string;
}

const seq = (n: number): string => (49_590_338_271_490_256_608_559_692_538_361_571_095_921_575_989_136_588_898n + BigInt(n) * 1_000_000n).toString();

describeKinesis("throttling and partial failure (a fake Kinesis endpoint)", () => {
  const k = useKinesis();
  let fake: FakeKinesis;
  let broker: KinesisBroker;

  beforeAll(async () => {
    fake = await startFakeKinesis();
  });
  afterEach(async () => {
    await broker?.close();
  });
  afterAll(async () => {
    await fake?.close();
  });
  stopAfterAll(k);

  async function open(params = ""): Promise<KinesisBroker> {
    broker = (await connect(`kinesis://us-east-1?endpoint=${fake.endpoint}&dynamoEndpoint=${k.dynamoEndpoint()}&pollIntervalMs=100${params}`)) as KinesisBroker;
    return broker;
  }

  test("FailedRecordCount > 0: only the failed entries are sent again, in order, and every message gets its own position", async () => {
    const stream = uniqueTopic("partial");
    fake.requests.length = 0;
    let n = 0;
    fake.on("PutRecords", (body, call) => {
      const records = body.Records as PutEntry[];
      const out = records.map((r, i) => {
        const data = Buffer.from(r.Data, "base64").toString();
        if (call === 1 && i === 1) return { ErrorCode: "ProvisionedThroughputExceededException", ErrorMessage: `Rate exceeded for shard shardId-000000000000 in stream ${stream} under account 123456789012.` };
        if (call === 1 && i === 3) return { ErrorCode: "InternalFailure", ErrorMessage: "Internal service failure." };
        return { SequenceNumber: seq(n++), ShardId: `shardId-00000000000${data.endsWith("3") ? 1 : 0}` };
      });
      return { body: { FailedRecordCount: out.filter((o) => "ErrorCode" in o).length, Records: out } };
    });
    const pub = (await open()).publisher<string>(stream, { codec: "string" });
    const results = await pub.publishBatch(["m0", "m1", "m2", "m3", "m4"].map((data) => ({ data, key: data })));
    expect(results.map((r) => r.ok)).toEqual([true, true, true, true, true]);
    const puts = fake.requests.filter((r) => r.operation === "PutRecords").map((r) => (r.body.Records as PutEntry[]).map((e) => Buffer.from(e.Data, "base64").toString()));
    expect(puts).toEqual([["m0", "m1", "m2", "m3", "m4"], ["m1", "m3"]]);
    const offsets = results.map((r) => (r.ok ? r.position.offset : ""));
    expect(offsets).toEqual([seq(0), seq(3), seq(1), seq(4), seq(2)]);
    expect(results[3]!.ok && results[3]!.position.partition).toBe("shardId-000000000001");
  });

  test("an entry that keeps failing reports its own error (THROTTLED, retriable, SDK-like cause); a non-retriable one is not sent again", async () => {
    const stream = uniqueTopic("throttled");
    fake.requests.length = 0;
    fake.on("PutRecords", (body) => {
      const records = body.Records as PutEntry[];
      const out = records.map((r, i) => {
        const data = Buffer.from(r.Data, "base64").toString();
        if (data === "hot") return { ErrorCode: "ProvisionedThroughputExceededException", ErrorMessage: "Rate exceeded for shard shardId-000000000000." };
        if (data === "kms") return { ErrorCode: "KMSAccessDeniedException", ErrorMessage: "The ciphertext references a key that is not accessible." };
        return { SequenceNumber: seq(i), ShardId: "shardId-000000000000" };
      });
      return { body: { FailedRecordCount: out.filter((o) => "ErrorCode" in o).length, Records: out } };
    });
    const pub = (await open()).publisher<string>(stream, { codec: "string", maxRetries: 2 });
    const results = await pub.publishBatch([{ data: "ok" }, { data: "hot" }, { data: "kms" }]);
    expect(results[0]!.ok).toBe(true);
    const hot = results[1]!;
    const kms = results[2]!;
    expect(!hot.ok && hot.error).toBeInstanceOf(BrookError);
    expect(!hot.ok && hot.error).toMatchObject({ code: "THROTTLED", retriable: true, message: expect.stringMatching(/Rate exceeded/) });
    expect(!hot.ok && (hot.error.cause as Error).name).toBe("ProvisionedThroughputExceededException");
    expect(!kms.ok && kms.error).toMatchObject({ code: "PERMISSION_DENIED", retriable: false });
    const sent = fake.requests.filter((r) => r.operation === "PutRecords").map((r) => (r.body.Records as PutEntry[]).map((e) => Buffer.from(e.Data, "base64").toString()));
    expect(sent).toEqual([["ok", "hot", "kms"], ["hot"], ["hot"]]);
    await expect(pub.publish({ data: "hot" })).rejects.toMatchObject({ code: "THROTTLED" });
  });

  test("a whole call throttled (HTTP 400 ProvisionedThroughputExceededException) is retried until it goes through; a missing stream is TOPIC_NOT_FOUND", async () => {
    const stream = uniqueTopic("call-throttled");
    fake.requests.length = 0;
    fake.on("PutRecords", (body, call) => {
      if (call <= 2) return { error: "ProvisionedThroughputExceededException", message: "Rate exceeded for stream." };
      if ((body.StreamName as string).startsWith("missing")) return { error: "ResourceNotFoundException", message: `Stream ${String(body.StreamName)} under account 123456789012 not found.` };
      return { body: { FailedRecordCount: 0, Records: (body.Records as PutEntry[]).map((_, i) => ({ SequenceNumber: seq(i), ShardId: "shardId-000000000000" })) } };
    });
    const b = await open();
    const r = await b.publisher<string>(stream, { codec: "string" }).publish({ data: "x" });
    expect(r.position).toEqual({ partition: "shardId-000000000000", offset: seq(0) });
    expect(fake.requests.filter((q) => q.operation === "PutRecords").length).toBeGreaterThanOrEqual(3);
    await expect(b.publisher<string>(uniqueTopic("missing"), { codec: "string" }).publish({ data: "x" })).rejects.toMatchObject({ code: "TOPIC_NOT_FOUND" });
  });

  test("reads: throttled GetRecords back off, an expired iterator is replaced after the last record read, nothing is lost or repeated", async () => {
    const stream = uniqueTopic("read-throttled");
    fake.requests.length = 0;
    fake.on("DescribeStreamSummary", () => streamSummary(stream));
    fake.on("ListShards", () => ({
      body: { Shards: [{ ShardId: "shardId-000000000000", HashKeyRange: { StartingHashKey: "0", EndingHashKey: "340282366920938463463374607431768211455" }, SequenceNumberRange: { StartingSequenceNumber: seq(0) } }] },
    }));
    const record = (i: number) => ({ SequenceNumber: seq(i), PartitionKey: `k${i}`, Data: Buffer.from(`r${i}`).toString("base64"), ApproximateArrivalTimestamp: 1_700_000_000 + i });
    let iterators = 0;
    fake.on("GetShardIterator", () => ({ body: { ShardIterator: `it-${++iterators}` } }));
    fake.on("GetRecords", (body, call) => {
      if (call <= 2) return { error: "ProvisionedThroughputExceededException", message: "Rate exceeded for shard shardId-000000000000." };
      if (call === 3) return { body: { Records: [0, 1, 2].map(record), NextShardIterator: "it-next", MillisBehindLatest: 5_000 } };
      if (call === 4) return { error: "ExpiredIteratorException", message: `Iterator expired. The iterator was created at time … while right now it is … which is further in the future than the tolerated delay of 300000 milliseconds.` };
      if (body.ShardIterator === "it-2" && call <= 6) return { body: { Records: call === 5 ? [3, 4].map(record) : [], NextShardIterator: "it-2", MillisBehindLatest: 0 } };
      return { body: { Records: [], NextShardIterator: String(body.ShardIterator), MillisBehindLatest: 0 } };
    });
    const got: string[] = [];
    const sub = await (await open("&failoverTimeMs=3000&leaseTable={group}-{topic}")).subscribe<string>(stream, {
      group: "readers",
      codec: "string",
      startFrom: "earliest",
      handler: (m) => void got.push(m.data),
    });
    await waitFor(() => got.length >= 5, 20_000, `five records (got ${got.join(", ")})`);
    await sleep(300);
    expect(got).toEqual(["r0", "r1", "r2", "r3", "r4"]);
    const iteratorRequests = fake.requests.filter((r) => r.operation === "GetShardIterator").map((r) => [r.body.ShardIteratorType, r.body.StartingSequenceNumber]);
    expect(iteratorRequests).toEqual([
      ["TRIM_HORIZON", undefined],
      ["AFTER_SEQUENCE_NUMBER", seq(2)],
    ]);
    expect(sub.health()[0]).toMatchObject({ partition: "shardId-000000000000", lag: 0, lagMs: 0 });
    await sub.close();
  });

  test("leases of finished shards that retention removed from the stream are deleted at a shard sync; the rest stay", async () => {
    const stream = uniqueTopic("trimmed");
    const group = "cleaners";
    const table = `${group}-${stream}`;
    fake.on("DescribeStreamSummary", () => streamSummary(stream));
    const range = { StartingHashKey: "0", EndingHashKey: "340282366920938463463374607431768211455" };
    // Shard 0 is gone (retention); shard 1 is closed with child 2.
    fake.on("ListShards", () => ({
      body: {
        Shards: [
          { ShardId: "shardId-000000000001", HashKeyRange: range, SequenceNumberRange: { StartingSequenceNumber: seq(1), EndingSequenceNumber: seq(2) } },
          { ShardId: "shardId-000000000002", ParentShardId: "shardId-000000000001", HashKeyRange: range, SequenceNumberRange: { StartingSequenceNumber: seq(3) } },
        ],
      },
    }));
    fake.on("GetShardIterator", () => ({ body: { ShardIterator: "it" } }));
    fake.on("GetRecords", () => ({ body: { Records: [], NextShardIterator: "it", MillisBehindLatest: 0 } }));
    const { DynamoDBClient, CreateTableCommand, PutItemCommand, ScanCommand } = await import("@aws-sdk/client-dynamodb");
    const dynamo = new DynamoDBClient({ region: "us-east-1", endpoint: k.dynamoEndpoint(), credentials: { accessKeyId: "x", secretAccessKey: "x" } });
    try {
      await dynamo.send(new CreateTableCommand({ TableName: table, KeySchema: [{ AttributeName: "leaseKey", KeyType: "HASH" }], AttributeDefinitions: [{ AttributeName: "leaseKey", AttributeType: "S" }], BillingMode: "PAY_PER_REQUEST" }));
      const item = (shard: string, checkpoint: string, parents?: string[]) => ({
        leaseKey: { S: shard },
        leaseCounter: { N: "7" },
        checkpoint: { S: checkpoint },
        checkpointSubSequenceNumber: { N: "0" },
        ownerSwitchesSinceCheckpoint: { N: "0" },
        ...(parents === undefined ? {} : { parentShardId: { SS: parents } }),
      });
      await dynamo.send(new PutItemCommand({ TableName: table, Item: item("shardId-000000000000", "SHARD_END") }));
      await dynamo.send(new PutItemCommand({ TableName: table, Item: item("shardId-000000000001", "SHARD_END", ["shardId-000000000000"]) }));
      await dynamo.send(new PutItemCommand({ TableName: table, Item: item("shardId-000000000002", "TRIM_HORIZON", ["shardId-000000000001"]) }));
      const sub = await (await open("&failoverTimeMs=3000&leaseTable={group}-{topic}")).subscribe<string>(stream, { group, startFrom: "earliest", handler: () => undefined });
      const keys = async (): Promise<string[]> => ((await dynamo.send(new ScanCommand({ TableName: table, ConsistentRead: true }))).Items ?? []).map((i) => i.leaseKey!.S!).sort();
      await waitFor(async () => (await keys()).length === 2, 10_000, "the trimmed shard's lease to be deleted");
      expect(await keys()).toEqual(["shardId-000000000001", "shardId-000000000002"]);
      // The child of a finished parent is read.
      await waitFor(() => sub.assignment().includes("shardId-000000000002"), 10_000, "the child shard to be read");
      await sub.close();
    } finally {
      dynamo.destroy();
    }
  });

  test("an endpoint that does not answer is UNAVAILABLE, named", async () => {
    const dead = (await connect(`kinesis://us-east-1?endpoint=http://127.0.0.1:9&dynamoEndpoint=${k.dynamoEndpoint()}&connectionTimeoutMs=500`)) as KinesisBroker;
    try {
      await expect(dead.admin.listTopics()).rejects.toMatchObject({ code: "UNAVAILABLE", message: expect.stringMatching(/list streams/) });
    } finally {
      await dead.close();
    }
  });
});
