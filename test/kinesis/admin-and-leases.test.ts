/**
 * Stream admin on kinesis-local, and the lease table a group gets: one DynamoDB table per
 * group (on-demand), created when missing, holding KCL-format lease items for every stream the
 * group reads.
 */
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { connect } from "@brook/core";
import type { KinesisBroker } from "@brook/adapter-kinesis";
import { sleep, uniqueTopic, waitFor } from "@brook/contract-tests";
import { DescribeTableCommand } from "@aws-sdk/client-dynamodb";
import { describeKinesis, stopAfterAll, useKinesis } from "./emulator.js";
import { rawClients, scanTable } from "./helpers.js";

const HOUR = 3_600_000;

describeKinesis("admin and lease tables", () => {
  const k = useKinesis();
  let broker: KinesisBroker;
  let raw: ReturnType<typeof rawClients>;

  beforeAll(async () => {
    broker = (await connect(k.url("&failoverTimeMs=6000&takeIntervalMs=1000&pollIntervalMs=200"))) as KinesisBroker;
    raw = rawClients(k);
  });
  afterAll(async () => {
    await broker?.close();
    raw?.close();
  });
  stopAfterAll(k);

  test("streams are created, described, listed and deleted, each call waiting for the stream's state; errors are typed", async () => {
    const name = uniqueTopic("admin");
    await broker.admin.createTopic(name, { partitions: 3, retentionMs: 48 * HOUR });
    expect(await broker.admin.describeTopic(name)).toEqual({ name, partitions: 3, retentionMs: 48 * HOUR });
    expect(await broker.admin.listTopics()).toContain(name);
    expect(await broker.admin.topicExists(name)).toBe(true);
    await expect(broker.admin.createTopic(name)).rejects.toMatchObject({ code: "ALREADY_EXISTS" });
    await broker.admin.createTopic(name, { ifNotExists: true });
    // Publishing works at once: createTopic returned an ACTIVE stream.
    await broker.publisher<string>(name, { codec: "string" }).publish({ data: "x" });
    await broker.admin.deleteTopic(name);
    expect(await broker.admin.topicExists(name)).toBe(false);
    await expect(broker.admin.deleteTopic(name)).rejects.toMatchObject({ code: "TOPIC_NOT_FOUND" });
    await expect(broker.admin.describeTopic(name)).rejects.toMatchObject({ code: "TOPIC_NOT_FOUND" });
    await expect(broker.admin.createTopic(uniqueTopic("short"), { retentionMs: HOUR })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/retentionMs/) });
    await expect(broker.admin.createTopic("x".repeat(129))).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/128/) });
    await expect(broker.admin.createTopic(uniqueTopic("zero"), { partitions: 0 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  test("a group's lease table is named after the group, created on demand, and serves every stream the group reads (KCL multi-stream keys)", async () => {
    const group = uniqueTopic("billing");
    const [a, b] = [uniqueTopic("orders"), uniqueTopic("refunds")];
    await broker.admin.createTopic(a, { partitions: 2 });
    await broker.admin.createTopic(b, { partitions: 1 });
    const got: string[] = [];
    const subA = await broker.subscribe<string>(a, { group, codec: "string", startFrom: "earliest", commitIntervalMs: 100, handler: (m) => void got.push(m.data) });
    const subB = await broker.subscribe<string>(b, { group, codec: "string", startFrom: "earliest", commitIntervalMs: 100, handler: (m) => void got.push(m.data) });
    await broker.publisher<string>(a, { codec: "string" }).publishBatch([{ data: "a1", key: "x" }, { data: "a2", key: "y" }]);
    await broker.publisher<string>(b, { codec: "string" }).publish({ data: "b1" });
    await waitFor(() => got.length >= 3, 20_000, "three messages from two streams");
    await sleep(400); // a commit interval or two
    const table = (await raw.dynamo.send(new DescribeTableCommand({ TableName: group }))).Table!;
    expect(table.KeySchema).toEqual([{ AttributeName: "leaseKey", KeyType: "HASH" }]);
    const items = await scanTable(raw.dynamo, group);
    expect(items).toHaveLength(3);
    for (const item of items) {
      const stream = item.streamName!.S!;
      expect(stream).toMatch(new RegExp(`^\\d{12}:(${a}|${b}):\\d+$`));
      expect(item.leaseKey!.S).toBe(`${stream}:${item.shardId!.S}`);
      expect(item.leaseOwner!.S).toEqual(expect.any(String));
      expect(Number(item.leaseCounter!.N)).toBeGreaterThan(0);
      expect(item.checkpoint!.S).toMatch(/^(\d+|TRIM_HORIZON)$/);
      expect(item.checkpointSubSequenceNumber!.N).toBe("0");
      expect(item.ownerSwitchesSinceCheckpoint!.N).toBe("0");
      expect(item.startingHashKey!.S).toMatch(/^\d+$/);
      expect(item.endingHashKey!.S).toMatch(/^\d+$/);
    }
    // Checkpoints name the last message handled, as the KCL's do.
    expect(items.filter((i) => /^\d+$/.test(i.checkpoint!.S!))).toHaveLength(3 - items.filter((i) => i.checkpoint!.S === "TRIM_HORIZON").length);
    await subA.close();
    await subB.close();
    expect((await scanTable(raw.dynamo, group)).map((i) => i.leaseOwner?.S)).toEqual([undefined, undefined, undefined]);
  });

  test("leaseKeys=shard writes KCL single-stream items (leaseKey = shard id) into a table of the template's name", async () => {
    const single = (await connect(k.url("&failoverTimeMs=6000&pollIntervalMs=200&leaseKeys=shard&leaseTable=app-{group}-{topic}"))) as KinesisBroker;
    try {
      const name = uniqueTopic("single");
      await single.admin.createTopic(name, { partitions: 2 });
      const got: string[] = [];
      const sub = await single.subscribe<string>(name, { group: "kcl", codec: "string", startFrom: "earliest", commitIntervalMs: 100, handler: (m) => void got.push(m.data) });
      await single.publisher<string>(name, { codec: "string" }).publish({ data: "one", key: "k" });
      await waitFor(() => got.length === 1, 20_000, "the message");
      await sleep(300);
      const items = await scanTable(raw.dynamo, `app-kcl-${name}`);
      expect(items.map((i) => i.leaseKey!.S).sort()).toEqual(["shardId-000000000000", "shardId-000000000001"]);
      expect(items.every((i) => i.streamName === undefined)).toBe(true);
      await sub.close();
    } finally {
      await single.close();
    }
  });
});
