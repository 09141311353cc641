// exactlyOnceDelivery=true: subscriptions Brook creates have exactly-once delivery, and acks
// wait for the service's confirmation; an acknowledged message is not delivered again.
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { connect, type BrookError } from "@brook/core";
import { uniqueTopic, waitFor, sleep } from "@brook/contract-tests";
import type { PubSubBroker } from "@brook/adapter-pubsub";
import "@brook/adapter-pubsub";
import { describePubSub, pubsubUrl } from "./emulator.js";

describePubSub("pubsub: exactly-once", (emulator) => {
  let broker: PubSubBroker;

  beforeAll(async () => {
    broker = (await connect(pubsubUrl(emulator, "&exactlyOnceDelivery=true"))) as PubSubBroker;
  });
  afterAll(async () => {
    await broker?.close();
  });

  test("exactly-once delivery: each message handled once, nothing comes back after a restart", async () => {
    const topic = uniqueTopic("eod");
    await broker.admin.createTopic(topic);
    const seen: number[] = [];
    const errors: BrookError[] = [];
    const first = await broker.subscribe<number>(topic, { group: "g", handler: (m) => void seen.push(m.data) });
    first.on("error", (e) => errors.push(e));
    const pub = broker.publisher<number>(topic);
    await pub.publishBatch(Array.from({ length: 50 }, (_, i) => ({ data: i, key: `k${i % 5}` })));
    await waitFor(() => seen.length >= 50, 20_000, "50 messages");
    await first.close();
    const again: number[] = [];
    await broker.subscribe<number>(topic, { group: "g", handler: (m) => void again.push(m.data) });
    await pub.publish({ data: 99 });
    await waitFor(() => again.includes(99), 20_000, "the next message");
    await sleep(300);
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(again).toEqual([99]);
    expect(errors).toEqual([]);
    await pub.close();
  });

  test("a group detached by a deleted topic is refused with a way out", async () => {
    const topic = uniqueTopic("detached");
    await broker.admin.createTopic(topic);
    const sub = await broker.subscribe(topic, { group: "g", handler: () => undefined });
    await sub.close();
    await broker.admin.deleteTopic(topic);
    await broker.admin.createTopic(topic);
    await expect(broker.subscribe(topic, { group: "g", handler: () => undefined })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      message: expect.stringMatching(/detached.*deleteSubscription/),
    });
    await broker.admin.deleteSubscription(`${topic}.g`);
    await expect(broker.subscribe(topic, { group: "g", handler: () => undefined })).resolves.toBeDefined();
  });
});
