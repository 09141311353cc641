// deadLetter "native": Pub/Sub's dead-letter policy counts the delivery attempts (each failed
// handler call nacks) and forwards the message to the dead-letter topic after maxAttempts.
// The emulator forwards nothing (its streaming pull fails with UNKNOWN after the last attempt)
// when the subscription has message ordering or a retryPolicy; the real service does both.
// So this file's broker has messageOrdering=false and retryPolicy=false.
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { connect, type ReceivedMessage } from "@brook/core";
import { uniqueTopic, waitFor, sleep } from "@brook/contract-tests";
import type { PubSubBroker } from "@brook/adapter-pubsub";
import "@brook/adapter-pubsub";
import { describePubSub, pubsubUrl } from "./emulator.js";

describePubSub("pubsub: dead-letter", (emulator) => {
  let broker: PubSubBroker;

  beforeAll(async () => {
    broker = (await connect(pubsubUrl(emulator, "&messageOrdering=false&retryPolicy=false"))) as PubSubBroker;
  });
  afterAll(async () => {
    await broker?.close();
  });

  test("native dead letter: deliveryAttempt 1..N from Pub/Sub, then the message is on the dead-letter topic", async () => {
    const topic = uniqueTopic("native-dlq");
    await broker.admin.createTopic(topic);
    const attempts: number[] = [];
    const handled: string[] = [];
    await broker.subscribe<string>(topic, {
      group: "g",
      codec: "string",
      ordering: "none",
      deadLetter: "native",
      retry: { maxAttempts: 5, minDelayMs: 10, maxDelayMs: 100 },
      handler: (m) => {
        if (m.data === "poison") {
          attempts.push(m.deliveryAttempt);
          throw new Error("cannot process poison");
        }
        handled.push(m.data);
      },
    });
    // Brook created the dead-letter topic "<subscription>.dlq"; Pub/Sub keeps what is forwarded
    // to it only for subscriptions that exist, so read it before anything fails.
    const dlqTopic = `${topic}.g.dlq`;
    expect(await broker.admin.topicExists(dlqTopic)).toBe(true);
    const dead: ReceivedMessage<string>[] = [];
    await broker.subscribe<string>(dlqTopic, { group: "reader", codec: "string", ordering: "none", handler: (m) => void dead.push(m) });

    const pub = broker.publisher<string>(topic, { codec: "string" });
    await pub.publish({ data: "poison", key: "p", headers: { trace: "t1" } });
    await pub.publish({ data: "fine", key: "ok" });
    await waitFor(() => dead.length >= 1 && handled.includes("fine"), 30_000, "the dead letter and the fine message").catch((e) => { throw new Error(`${e.message}: ${JSON.stringify({ attempts, handled, dead: dead.length })}`); });
    await pub.publish({ data: "sentinel", key: "p" });
    await waitFor(() => handled.includes("sentinel"), 20_000, "the sentinel after the poison");
    await sleep(500);

    expect(attempts).toEqual([1, 2, 3, 4, 5]);
    expect(dead).toHaveLength(1);
    const letter = dead[0]!;
    expect(letter.data).toBe("poison");
    expect(letter.headers.trace).toBe("t1");
    expect(letter.headers.CloudPubSubDeadLetterSourceSubscription).toBe(`${topic}.g`);
    expect(letter.headers.CloudPubSubDeadLetterSourceDeliveryCount).toBe("5");
    expect(handled.filter((d) => d === "fine")).toHaveLength(1);
    await pub.close();
  });

  test("native dead letter needs 5..100 attempts (Pub/Sub's bounds): INVALID_ARGUMENT before anything is created", async () => {
    const topic = uniqueTopic("native-dlq-bad");
    await broker.admin.createTopic(topic);
    await expect(
      broker.subscribe(topic, { group: "g", ordering: "none", deadLetter: "native", retry: { maxAttempts: 3 }, handler: () => undefined }),
    ).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/retry\.maxAttempts/) });
    expect(await broker.admin.topicExists(`${topic}.g.dlq`)).toBe(false);
  });
});
