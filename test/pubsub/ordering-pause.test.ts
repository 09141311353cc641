// Ordering keys: a publish that fails permanently pauses its key until resumeKey(); other keys
// and unkeyed messages go on. The failure is made real by deleting the topic.
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { connect, type ReceivedMessage } from "@brook/core";
import { uniqueTopic, waitFor, sleep } from "@brook/contract-tests";
import type { PubSubBroker, PubSubPublisher } from "@brook/adapter-pubsub";
import "@brook/adapter-pubsub";
import { describePubSub, pubsubUrl } from "./emulator.js";

describePubSub("pubsub: ordering-pause", (emulator) => {
  let broker: PubSubBroker;

  beforeAll(async () => {
    broker = (await connect(pubsubUrl(emulator))) as PubSubBroker;
  });
  afterAll(async () => {
    await broker?.close();
  });

  test("a failed publish pauses its ordering key until resumeKey(); other keys are not held back", async () => {
    const topic = uniqueTopic("pause");
    await broker.admin.createTopic(topic);
    const pub = broker.publisher<string>(topic, { codec: "string" }) as PubSubPublisher<string>;
    await pub.publish({ key: "k", data: "k1" });

    await broker.admin.deleteTopic(topic);
    await expect(pub.publish({ key: "k", data: "k2-lost" })).rejects.toMatchObject({ code: "TOPIC_NOT_FOUND", retriable: false });
    expect(pub.pausedKeys()).toEqual(["k"]);

    // The topic is back, but "k" stays paused: k3 must not overtake the failed k2.
    await broker.admin.createTopic(topic);
    const got: ReceivedMessage<string>[] = [];
    // A subscription of the deleted topic is detached from the new one, so read with a new group.
    await broker.subscribe<string>(topic, { group: "after", codec: "string", handler: (m) => void got.push(m) });
    const refused = pub.publish({ key: "k", data: "k3-refused" });
    await expect(refused).rejects.toMatchObject({ code: "UNAVAILABLE", retriable: false });
    await expect(refused).rejects.toThrow(/resumeKey\("k"\)/);
    const batch = await pub.publishBatch([
      { key: "k", data: "k4-refused" },
      { key: "other", data: "other1" },
      { data: "unkeyed1" },
    ]);
    expect(batch.map((r) => r.ok)).toEqual([false, true, true]);

    pub.resumeKey("k");
    expect(pub.pausedKeys()).toEqual([]);
    await pub.publish({ key: "k", data: "k5" });
    await waitFor(() => got.length >= 3, 20_000, "other1, unkeyed1 and k5");
    await sleep(300);
    expect(got.map((m) => m.data).sort()).toEqual(["k5", "other1", "unkeyed1"]);
    expect(got.find((m) => m.data === "k5")?.key).toBe("k");
    await pub.close();
  });
});
