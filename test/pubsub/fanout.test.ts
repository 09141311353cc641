// Groups are subscriptions: two groups on one topic each receive everything; a missing topic is
// TOPIC_NOT_FOUND unless createIfMissing; health() has one unit "*" with lag unknown.
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { connect } from "@brook/core";
import { uniqueTopic, waitFor, sleep } from "@brook/contract-tests";
import type { PubSubBroker, PubSubSubscription } from "@brook/adapter-pubsub";
import "@brook/adapter-pubsub";
import { describePubSub, pubsubUrl } from "./emulator.js";

describePubSub("pubsub: fanout", (emulator) => {
  let broker: PubSubBroker;

  beforeAll(async () => {
    broker = (await connect(pubsubUrl(emulator))) as PubSubBroker;
  });
  afterAll(async () => {
    await broker?.close();
  });

  test("two subscriptions on one topic both receive every message", async () => {
    const topic = uniqueTopic("fanout");
    await broker.admin.createTopic(topic);
    const billing: number[] = [];
    const shipping: number[] = [];
    const a = (await broker.subscribe<number>(topic, { group: "billing", handler: (m) => void billing.push(m.data) })) as PubSubSubscription;
    const b = (await broker.subscribe<number>(topic, { group: "shipping", handler: (m) => void shipping.push(m.data) })) as PubSubSubscription;
    expect([a.subscriptionName, b.subscriptionName]).toEqual([`${topic}.billing`, `${topic}.shipping`]);
    const pub = broker.publisher<number>(topic);
    const results = await pub.publishBatch(Array.from({ length: 500 }, (_, i) => ({ data: i, key: `k${i % 13}` })));
    expect(results.every((r) => r.ok && r.position.partition === "*" && /^\d+$/.test(r.position.offset))).toBe(true);
    await waitFor(() => billing.length >= 500 && shipping.length >= 500, 30_000, "both groups to receive 500");
    await sleep(300);
    const all = Array.from({ length: 500 }, (_, i) => i);
    expect([...billing].sort((x, y) => x - y)).toEqual(all);
    expect([...shipping].sort((x, y) => x - y)).toEqual(all);
    expect(a.assignment()).toEqual(["*"]);
    expect(a.health()).toEqual([expect.objectContaining({ partition: "*", lag: undefined, committed: undefined, inFlight: 0, stalled: false })]);
    await pub.close();
  });

  test("subscribe to a missing topic: TOPIC_NOT_FOUND, or created with createIfMissing", async () => {
    const topic = uniqueTopic("missing");
    await expect(broker.subscribe(topic, { group: "g", handler: () => undefined })).rejects.toMatchObject({ code: "TOPIC_NOT_FOUND" });
    expect(await broker.admin.topicExists(topic)).toBe(false);
    const got: string[] = [];
    await broker.subscribe<string>(topic, { group: "g", codec: "string", createIfMissing: true, handler: (m) => void got.push(m.data) });
    expect(await broker.admin.topicExists(topic)).toBe(true);
    await broker.publisher<string>(topic, { codec: "string" }).publish({ data: "hello" });
    await waitFor(() => got.length === 1, 20_000, "the message");
    expect(got).toEqual(["hello"]);
  });

  test("admin: topics have no partitions; describe, list, delete", async () => {
    const topic = uniqueTopic("admin");
    await broker.admin.createTopic(topic, { partitions: 4, retentionMs: 3_600_000 });
    await expect(broker.admin.createTopic(topic)).rejects.toMatchObject({ code: "ALREADY_EXISTS" });
    await broker.admin.createTopic(topic, { ifNotExists: true });
    expect(await broker.admin.describeTopic(topic)).toEqual({ name: topic, partitions: undefined, retentionMs: 3_600_000 });
    expect(await broker.admin.listTopics()).toContain(topic);
    await broker.admin.deleteTopic(topic);
    await expect(broker.admin.deleteTopic(topic)).rejects.toMatchObject({ code: "TOPIC_NOT_FOUND" });
    await expect(broker.admin.describeTopic(topic)).rejects.toMatchObject({ code: "TOPIC_NOT_FOUND" });
  });
});
