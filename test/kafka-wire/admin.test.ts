/** kafkajs admin (CreateTopics, DeleteTopics, DescribeConfigs, ListGroups) and SASL PLAIN against kafka-wire. */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { ConfigResourceTypes, Kafka, logLevel } from "kafkajs";
import { startKafkaWire, type KafkaWireServer } from "@brook/kafka-wire";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDirectoryEngine } from "@brook/local-broker/server";
import { LogEngine, MemoryStore } from "@brook/local-broker/engine";

let engine: LogEngine;
let server: KafkaWireServer;
let secured: KafkaWireServer;
const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

beforeAll(async () => {
  engine = await LogEngine.open(new MemoryStore());
  server = await startKafkaWire({ engine, port: 0, logger: quiet });
  secured = await startKafkaWire({ engine, port: 0, token: "s3cret", logger: quiet });
});
afterAll(async () => {
  await server.close();
  await secured.close();
  await engine.close();
});

const client = (address: string, password?: string) =>
  new Kafka({
    clientId: "wire-admin",
    brokers: [address],
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    ...(password === undefined ? {} : { sasl: { mechanism: "plain" as const, username: "anyone", password } }),
  });

describe("kafkajs admin against kafka-wire", () => {
  it("creates topics in the engine, refuses a second creation and a replication factor above 1, deletes them", async () => {
    const admin = client(server.address).admin();
    await admin.connect();
    try {
      expect(await admin.createTopics({ topics: [{ topic: "adm-a", numPartitions: 3, configEntries: [{ name: "retention.ms", value: "60000" }] }] })).toBe(true);
      const details = await engine.describeTopic("adm-a");
      expect([details.partitions.length, details.config.retentionMs]).toEqual([3, 60000]);
      await expect(admin.createTopics({ topics: [{ topic: "adm-a" }], validateOnly: false })).resolves.toBe(false); // kafkajs: false when it already exists
      const kafkaError = (type: string) => expect.objectContaining({ errors: [expect.objectContaining({ type })] });
      await expect(admin.createTopics({ topics: [{ topic: "adm-b", replicationFactor: 3 }] })).rejects.toEqual(kafkaError("INVALID_REPLICATION_FACTOR"));
      await expect(admin.createTopics({ topics: [{ topic: "adm-c", configEntries: [{ name: "cleanup.policy", value: "compact" }] }] })).rejects.toEqual(kafkaError("INVALID_CONFIG"));
      await expect(admin.createTopics({ topics: [{ topic: "adm-d", numPartitions: 0 }] })).rejects.toEqual(kafkaError("INVALID_PARTITIONS"));
      expect((await admin.listTopics()).sort()).toEqual(["adm-a"]);
      const configs = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: "adm-a" }], includeSynonyms: false });
      const entries = Object.fromEntries(configs.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]));
      expect(entries).toMatchObject({ "retention.ms": "60000", "message.timestamp.type": "LogAppendTime" });
      await admin.deleteTopics({ topics: ["adm-a"] });
      expect(await engine.listTopics()).toEqual([]);
      await expect(admin.deleteTopics({ topics: ["adm-a"] })).rejects.toThrow();
    } finally {
      await admin.disconnect();
    }
  });
});

/** The Kafka error type of each partition of a rejected kafkajs deleteTopicRecords. */
const partitionErrors = (err: unknown): string[] =>
  ((err as { cause?: { partitions?: Array<{ error: { type: string } }> } }).cause?.partitions ?? []).map((p) => p.error.type);

describe("DeleteRecords", () => {
  it("moves the log start: reads below it are OUT_OF_RANGE, earliest is the new start, the rest stays", async () => {
    await engine.createTopic("adm-del", { partitions: 1 }, false);
    await engine.append("adm-del", Array.from({ length: 10 }, (_, i) => ({ key: undefined, idempotencyKey: undefined, headers: {}, value: Buffer.from(String(i)) })));
    const admin = client(server.address).admin();
    await admin.connect();
    try {
      await admin.fetchTopicMetadata({ topics: ["adm-del"] });
      await admin.deleteTopicRecords({ topic: "adm-del", partitions: [{ partition: 0, offset: "6" }] });
      expect(await admin.fetchTopicOffsets("adm-del")).toEqual([expect.objectContaining({ partition: 0, low: "6", high: "10" })]);
      await expect(engine.fetch("adm-del", 0, 5, 10, 0)).rejects.toMatchObject({ code: "OUT_OF_RANGE" });
      expect((await engine.fetch("adm-del", 0, 6, 10, 0)).records.map((r) => r.value.toString())).toEqual(["6", "7", "8", "9"]);
      // past the end: refused, nothing changes
      const past = await admin.deleteTopicRecords({ topic: "adm-del", partitions: [{ partition: 0, offset: "11" }] }).catch((e: unknown) => e);
      expect(partitionErrors(past)).toEqual(["OFFSET_OUT_OF_RANGE"]);
      expect((await engine.describeTopic("adm-del")).partitions[0]).toMatchObject({ start: 6, end: 10 });
    } finally {
      await admin.disconnect();
    }
  });

  it("is refused on the file store (whole segments only), which keeps every record", async () => {
    const dir = await mkdtemp(join(tmpdir(), "brook-wire-del-"));
    const fileEngine = await openDirectoryEngine(dir, { logger: quiet });
    const fileServer = await startKafkaWire({ engine: fileEngine, port: 0, logger: quiet });
    const admin = client(fileServer.address).admin();
    try {
      await fileEngine.createTopic("adm-file", { partitions: 1 }, false);
      await fileEngine.append("adm-file", [{ key: undefined, idempotencyKey: undefined, headers: {}, value: Buffer.from("x") }]);
      await admin.connect();
      await admin.fetchTopicMetadata({ topics: ["adm-file"] });
      const refused = await admin.deleteTopicRecords({ topic: "adm-file", partitions: [{ partition: 0, offset: "1" }] }).catch((e: unknown) => e);
      expect(partitionErrors(refused)).toEqual(["POLICY_VIOLATION"]);
      expect((await fileEngine.describeTopic("adm-file")).partitions[0]).toMatchObject({ start: 0, end: 1 });
    } finally {
      await admin.disconnect();
      await fileServer.close();
      await fileEngine.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("SASL PLAIN with a token", () => {
  it("lets in a client whose password is the token and refuses a wrong one and one without SASL", async () => {
    const good = client(secured.address, "s3cret").admin();
    await good.connect();
    await good.createTopics({ topics: [{ topic: "sasl-t" }] });
    expect(await good.listTopics()).toContain("sasl-t");
    await good.disconnect();
    const bad = client(secured.address, "wrong").admin();
    await expect(bad.connect()).rejects.toThrow(/SASL PLAIN authentication failed: authentication failed: wrong token/);
    await bad.disconnect();
    // without SASL the first request past ApiVersions closes the connection
    const none = client(secured.address).admin();
    await expect(none.connect().then(() => none.listTopics())).rejects.toThrow();
    await none.disconnect();
  });
});
