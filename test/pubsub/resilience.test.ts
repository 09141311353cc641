// A subscriber whose stream ends on a non-retriable error (its subscription deleted) reports
// it and pulls again after a backoff, so it resumes once the subscription is back.
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { connect, type BrookError } from "@brook/core";
import { uniqueTopic, waitFor } from "@brook/contract-tests";
import type { PubSubBroker, PubSubSubscription } from "@brook/adapter-pubsub";
import "@brook/adapter-pubsub";
import { describePubSub, pubsubUrl } from "./emulator.js";

describePubSub("pubsub: resilience", (emulator) => {
  let broker: PubSubBroker;

  beforeAll(async () => {
    // Topics without retention: the emulator hands a recreated (new) subscription everything its
    // topic retains and cannot seek an ordered one to its creation (history.test.ts pins that),
    // which would redeliver "before" here; this file is about resuming, not about history.
    broker = (await connect(pubsubUrl(emulator, "&topicRetentionMs=0"))) as PubSubBroker;
  });
  afterAll(async () => {
    await broker?.close();
  });

  test("subscription deleted under a subscriber: error reported, pulling resumes when it exists again", async () => {
    const topic = uniqueTopic("resume");
    await broker.admin.createTopic(topic);
    const got: string[] = [];
    const errors: BrookError[] = [];
    const sub = (await broker.subscribe<string>(topic, { group: "g", codec: "string", handler: (m) => void got.push(m.data) })) as PubSubSubscription;
    sub.on("error", (e) => errors.push(e));
    const pub = broker.publisher<string>(topic, { codec: "string" });
    await pub.publish({ data: "before" });
    await waitFor(() => got.includes("before"), 20_000, "the first message");

    await broker.admin.deleteSubscription(sub.subscriptionName);
    await waitFor(() => errors.some((e) => e.code === "TOPIC_NOT_FOUND"), 20_000, "a TOPIC_NOT_FOUND error event");
    // Another member of the group recreates the subscription, then leaves.
    const other = await broker.subscribe<string>(topic, { group: "g", codec: "string", handler: () => undefined });
    await other.close();
    await pub.publish({ data: "after" });
    await waitFor(() => got.includes("after"), 30_000, "the message after the subscription came back");
    expect(got).toEqual(["before", "after"]);
    await pub.close();
  });
});
