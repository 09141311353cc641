/**
 * Throttling and partial failure, against a Kinesis endpoint of our own that answers the
 * service's error shapes (kinesis-local never throttles): only the failed entries of a
 * PutRecords are sent again, in order; errors keep their type and the SDK error as cause;
 * a throttled or expired read backs off, gets a new iterator after the last record it read,
 * and loses nothing.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "@jest/globals";
import { BrookError, connect } from "@brook/core";
import { decodeAggregate, type KinesisBroker } from "@brook/adapter-kinesis";
import { sleep, uniqueTopic, waitFor } from "@brook/contract-tests";
import { describeKinesis, stopAfterAll, useKinesis } from "./emulator.js";
import { createLeaseTable } from "./helpers.js";
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

  /** Answers every PutRecords entry with the next sequence number, except where `fail` says so. */
  function acceptPuts(fail: (call: number, index: number) => boolean = () => false): void {
    let n = 0;
    fake.on("PutRecords", (body, call) => {
      const out = (body.Records as PutEntry[]).map((_, i) =>
        fail(call, i) ? { ErrorCode: "ProvisionedThroughputExceededException", ErrorMessage: "Rate exceeded for shard shardId-000000000000." } : { SequenceNumber: seq(n++), ShardId: "shardId-000000000000" },
      );
      return { body: { FailedRecordCount: out.filter((o) => "ErrorCode" in o).length, Records: out } };
    });
  }
  const oneShard = (): void =>
    fake.on("ListShards", () => ({
      body: { Shards: [{ ShardId: "shardId-000000000000", HashKeyRange: { StartingHashKey: "0", EndingHashKey: "340282366920938463463374607431768211455" }, SequenceNumberRange: { StartingSequenceNumber: seq(0) } }] },
    }));
  /** Each PutRecords call's entries: record bytes (data + partition key) and the messages' data (sub-records of aggregates). */
  const putCalls = (): Array<Array<{ bytes: number; messages: string[] }>> =>
    fake.requests
      .filter((r) => r.operation === "PutRecords")
      .map((r) =>
        (r.body.Records as PutEntry[]).map((e) => {
          const data = Buffer.from(e.Data, "base64");
          const subs = decodeAggregate(data);
          return { bytes: data.byteLength + Buffer.byteLength(e.PartitionKey), messages: subs === undefined ? [data.toString()] : subs.map((x) => Buffer.from(x.data).toString()) };
        }),
      );

  test("PutRecords calls hold at most 500 records and 5 MiB; a record over 1 MiB is refused before any call; aggregates carry sub-sequence positions", async () => {
    const stream = uniqueTopic("limits");
    fake.requests.length = 0;
    acceptPuts();
    oneShard();
    const b = await open();
    const small = await b.publisher<string>(stream, { codec: "string" }).publishBatch(Array.from({ length: 1_200 }, (_, i) => ({ data: `s${i}`, key: `k${i % 7}` })));
    expect(small.every((r) => r.ok)).toBe(true);
    let calls = putCalls();
    expect(calls.map((c) => c.length)).toEqual([500, 500, 200]);
    expect(calls.flat().map((r) => r.messages[0])).toEqual(Array.from({ length: 1_200 }, (_, i) => `s${i}`));

    fake.requests.length = 0;
    const big = b.publisher<Buffer>(stream, { codec: "bytes" });
    const mb = (c: string): Buffer => Buffer.alloc(1_000_000, c);
    const bigResults = await big.publishBatch(Array.from({ length: 12 }, (_, i) => ({ data: mb(String.fromCharCode(97 + i)), key: "big" })));
    expect(bigResults.every((r) => r.ok)).toBe(true);
    calls = putCalls();
    expect(calls.flat()).toHaveLength(12);
    for (const call of calls) expect(call.reduce((sum, r) => sum + r.bytes, 0)).toBeLessThanOrEqual(5 * 1_048_576);
    expect(calls.length).toBeGreaterThanOrEqual(3); // 12 MB cannot go in fewer than three 5 MiB calls

    fake.requests.length = 0;
    await expect(big.publish({ data: Buffer.alloc(1_048_576), key: "k" })).rejects.toMatchObject({ code: "MESSAGE_TOO_LARGE" });
    await expect(b.publisher<string>(stream, { codec: "string" }).publish({ data: "x".repeat(1_048_000), key: "k", headers: { note: "y".repeat(1_000) } })).rejects.toMatchObject({
      code: "MESSAGE_TOO_LARGE",
    });
    expect(putCalls()).toEqual([]);

    fake.requests.length = 0;
    acceptPuts(); // sequence numbers from seq(0) again
    const aggregated = await b.publisher<string>(stream, { codec: "string", aggregate: true }).publishBatch(Array.from({ length: 3_000 }, (_, i) => ({ data: `a${i}`.padEnd(100, "."), key: `k${i % 13}` })));
    expect(aggregated.every((r) => r.ok)).toBe(true);
    calls = putCalls();
    expect(calls.flat().flatMap((r) => r.messages)).toEqual(Array.from({ length: 3_000 }, (_, i) => `a${i}`.padEnd(100, ".")));
    expect(calls.flat().length).toBeLessThan(3_000 / 50); // ~500 messages of 100 bytes in a 51,200-byte aggregate
    for (const call of calls) expect(call.length).toBeLessThanOrEqual(500);
    for (const r of calls.flat()) expect(r.bytes).toBeLessThanOrEqual(51_200);
    const offsets = aggregated.map((r) => (r.ok ? r.position.offset : ""));
    expect(offsets[0]).toBe(`${seq(0)}:0`);
    expect(offsets[1]).toBe(`${seq(0)}:1`);
    expect(new Set(offsets).size).toBe(3_000);
  });

  test("explicitHashKey routes a key by hash key; a bad one fails its message alone; unkeyed messages get a random ~brook: partition key", async () => {
    const stream = uniqueTopic("hash-keys");
    fake.requests.length = 0;
    acceptPuts();
    const pub = (await open()).publisher<string>(stream, {
      codec: "string",
      explicitHashKey: (key) => (key === "pinned" ? "170141183460469231731687303715884105728" : key === "bad" ? "-1" : undefined),
    });
    const results = await pub.publishBatch([{ data: "a", key: "pinned" }, { data: "b", key: "bad" }, { data: "c", key: "plain" }, { data: "d" }]);
    expect(results.map((r) => r.ok)).toEqual([true, false, true, true]);
    expect(!results[1]!.ok && results[1]!.error).toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/explicitHashKey.*"bad".*"-1"/) });
    const entries = fake.requests.filter((r) => r.operation === "PutRecords").flatMap((r) => r.body.Records as Array<PutEntry & { ExplicitHashKey?: string }>);
    expect(entries.map((e) => [Buffer.from(e.Data, "base64").toString(), e.ExplicitHashKey])).toEqual([
      ["a", "170141183460469231731687303715884105728"],
      ["c", undefined],
      ["d", undefined],
    ]);
    expect(entries.map((e) => e.PartitionKey).slice(0, 2)).toEqual(["pinned", "plain"]);
    expect(entries[2]!.PartitionKey).toMatch(/^~brook:[0-9a-f]{16}$/);
  });

  test("a key's entry that failed holds back the key's entries in later PutRecords calls of the send, so the key stays in order after the retry", async () => {
    const stream = uniqueTopic("held-back");
    fake.requests.length = 0;
    // The first record of the first call fails once: it carries key K's first message.
    acceptPuts((call, i) => call === 1 && i === 0);
    oneShard();
    const b = await open();
    // Small aggregates (two 100-byte messages each): 1,200 messages need more than 500 records.
    const pub = b.publisher<string>(stream, { codec: "string", aggregate: true, aggregateMaxBytes: 300 });
    const messages = Array.from({ length: 1_200 }, (_, i) => ({ data: `m${i}`.padEnd(100, "."), key: i === 0 || i === 1_199 ? "K" : `u${i}` }));
    const results = await pub.publishBatch(messages);
    expect(results.every((r) => r.ok)).toBe(true);
    const calls = putCalls().map((call) => call.flatMap((r) => r.messages.map((m) => m.slice(0, m.indexOf(".")))));
    expect(calls.length).toBe(3);
    expect(calls[0]![0]).toBe("m0");
    // K's last message was held back from the second call and resent after K's first.
    expect(calls[1]).not.toContain("m1199");
    expect(calls[2]!.indexOf("m0")).toBe(0);
    expect(calls[2]!.indexOf("m1199")).toBeGreaterThan(0);
    const seqOf = (i: number): bigint => BigInt((results[i] as { position: { offset: string } }).position.offset.split(":")[0]!);
    expect(seqOf(1_199) > seqOf(0)).toBe(true);
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
    const { DynamoDBClient, PutItemCommand, ScanCommand } = await import("@aws-sdk/client-dynamodb");
    const dynamo = new DynamoDBClient({ region: "us-east-1", endpoint: k.dynamoEndpoint(), credentials: { accessKeyId: "x", secretAccessKey: "x" } });
    try {
      await createLeaseTable(dynamo, table);
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

  test("a checkpoint whose record retention removed is OUT_OF_RANGE, never silent: earliest resumes at the oldest record, latest at the newest, error leaves the shard unread", async () => {
    const stream = uniqueTopic("trimmed-checkpoint");
    fake.on("DescribeStreamSummary", () => streamSummary(stream));
    fake.on("ListShards", () => ({
      body: { Shards: [{ ShardId: "shardId-000000000000", HashKeyRange: { StartingHashKey: "0", EndingHashKey: "340282366920938463463374607431768211455" }, SequenceNumberRange: { StartingSequenceNumber: seq(0) } }] },
    }));
    const record = (i: number) => ({ SequenceNumber: seq(i), PartitionKey: `k${i}`, Data: Buffer.from(`r${i}`).toString("base64"), ApproximateArrivalTimestamp: 1_700_000_000 + i });
    // The group saved seq(5); retention has removed everything before seq(8).
    fake.on("GetShardIterator", (body) => ({ body: { ShardIterator: `it-${String(body.ShardIteratorType)}` } }));
    fake.on("GetRecords", (body) => {
      const it = String(body.ShardIterator);
      if (it === "it-AT_SEQUENCE_NUMBER") return { body: { Records: [8, 9].map(record), NextShardIterator: "it-tail", MillisBehindLatest: 0 } };
      if (it === "it-LATEST") return { body: { Records: [record(20)], NextShardIterator: "it-tail", MillisBehindLatest: 0 } };
      return { body: { Records: [], NextShardIterator: it, MillisBehindLatest: 0 } };
    });
    const { DynamoDBClient, PutItemCommand } = await import("@aws-sdk/client-dynamodb");
    const dynamo = new DynamoDBClient({ region: "us-east-1", endpoint: k.dynamoEndpoint(), credentials: { accessKeyId: "x", secretAccessKey: "x" } });
    const b = await open("&failoverTimeMs=3000&leaseTable={group}-{topic}");
    try {
      const outcomes: Record<string, { got: string[]; errors: BrookError[] }> = {};
      for (const policy of ["earliest", "latest", "error"] as const) {
        const group = `trim-${policy}`;
        await createLeaseTable(dynamo, `${group}-${stream}`);
        await dynamo.send(
          new PutItemCommand({
            TableName: `${group}-${stream}`,
            Item: { leaseKey: { S: "shardId-000000000000" }, leaseCounter: { N: "3" }, checkpoint: { S: seq(5) }, checkpointSubSequenceNumber: { N: "0" }, ownerSwitchesSinceCheckpoint: { N: "0" } },
          }),
        );
        const outcome = { got: [] as string[], errors: [] as BrookError[] };
        outcomes[policy] = outcome;
        const sub = await b.subscribe<string>(stream, { group, codec: "string", onOutOfRange: policy, handler: (m) => void outcome.got.push(m.data) });
        sub.on("error", (e) => void outcome.errors.push(e));
        await waitFor(() => outcome.errors.length > 0, 10_000, `the OUT_OF_RANGE error (${policy})`);
        await sleep(policy === "error" ? 1_000 : 0);
        await waitFor(() => policy === "error" || outcome.got.length >= (policy === "earliest" ? 2 : 1), 10_000, `messages (${policy})`);
        await sub.close();
      }
      expect(outcomes.earliest!.got).toEqual(["r8", "r9"]);
      expect(outcomes.latest!.got).toEqual(["r20"]);
      expect(outcomes.error!.got).toEqual([]);
      for (const policy of ["earliest", "latest", "error"]) {
        expect(outcomes[policy]!.errors[0]).toMatchObject({ code: "OUT_OF_RANGE", message: expect.stringContaining(seq(5)) });
        expect(outcomes[policy]!.errors[0]!.message).toMatch(new RegExp(`onOutOfRange: "${policy}"`));
      }
      expect(outcomes.earliest!.errors[0]!.message).toContain(seq(8));
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
