// Seek to a time replays acknowledged messages (subscriptions Brook creates retain them), and
// snapshots as an adapter extra. The emulator does not implement seek to a time on
// subscriptions with message ordering and rounds the time down to whole seconds, so the time
// case runs on a messageOrdering=false broker with a second boundary between the two halves.
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { connect } from "@brook/core";
import { uniqueTopic, waitFor, sleep } from "@brook/contract-tests";
import type { PubSubBroker, PubSubSubscription } from "@brook/adapter-pubsub";
import "@brook/adapter-pubsub";
import { describePubSub, pubsubUrl } from "./emulator.js";

describePubSub("pubsub: seek", (emulator) => {
  let ordered: PubSubBroker;
  let unordered: PubSubBroker;

  beforeAll(async () => {
    ordered = (await connect(pubsubUrl(emulator))) as PubSubBroker;
    unordered = (await connect(pubsubUrl(emulator, "&messageOrdering=false"))) as PubSubBroker;
  });
  afterAll(async () => {
    await Promise.all([ordered?.close(), unordered?.close()]);
  });

  test("seek to a time replays the acknowledged messages published since", async () => {
    expect(unordered.capabilities.seek).toEqual({ offset: false, time: true });
    expect(unordered.capabilities.replayAfterAck).toBe(true);
    const topic = uniqueTopic("seek-time");
    await unordered.admin.createTopic(topic);
    const got: number[] = [];
    const sub = await unordered.subscribe<number>(topic, { group: "g", ordering: "none", handler: (m) => void got.push(m.data) });
    const pub = unordered.publisher<number>(topic);
    await pub.publishBatch([0, 1].map((data) => ({ data })));
    await sleep(1_050 - (Date.now() % 1_000)); // into the next whole second (the emulator's resolution)
    const middle = new Date();
    await pub.publishBatch([2, 3].map((data) => ({ data })));
    await waitFor(() => got.length >= 4, 20_000, "four messages");
    await sleep(300); // their acks reach the emulator
    await sub.seek({ time: middle });
    await waitFor(() => got.length >= 6, 20_000, "the replay of 2 and 3");
    await sleep(500);
    expect([...got.slice(0, 4)].sort()).toEqual([0, 1, 2, 3]);
    expect([...got.slice(4)].sort()).toEqual([2, 3]);
    await pub.close();
  });

  test("snapshot: seekToSnapshot replays what was acknowledged after it (ordered subscription)", async () => {
    const topic = uniqueTopic("snapshot");
    await ordered.admin.createTopic(topic);
    const got: string[] = [];
    const sub = (await ordered.subscribe<string>(topic, { group: "g", codec: "string", handler: (m) => void got.push(m.data) })) as PubSubSubscription;
    expect(sub.subscriptionName).toBe(`${topic}.g`);
    const pub = ordered.publisher<string>(topic, { codec: "string" });
    await pub.publish({ key: "k", data: "a" });
    await pub.publish({ key: "k", data: "b" });
    await waitFor(() => got.length >= 2, 20_000, "a and b");
    await sleep(300);
    const snapshot = `${topic}.snap`;
    await sub.createSnapshot(snapshot);
    await pub.publish({ key: "k", data: "c" });
    await waitFor(() => got.length >= 3, 20_000, "c");
    await sleep(300);
    await sub.seekToSnapshot(snapshot);
    await waitFor(() => got.length >= 4, 20_000, "the replay of c");
    await sleep(500);
    expect(got).toEqual(["a", "b", "c", "c"]);
    await ordered.admin.deleteSnapshot(snapshot);
    await expect(sub.seekToSnapshot(snapshot)).rejects.toMatchObject({ code: "TOPIC_NOT_FOUND" });
    await pub.close();
  });

  test("seek to positions is UNSUPPORTED (Pub/Sub has message ids, not offsets)", async () => {
    const topic = uniqueTopic("seek-pos");
    await ordered.admin.createTopic(topic);
    const sub = await ordered.subscribe(topic, { group: "g", handler: () => undefined });
    await expect(sub.seek({ positions: [{ partition: "*", offset: "1" }] })).rejects.toMatchObject({ code: "UNSUPPORTED" });
    await expect(ordered.subscribe(topic, { group: "g2", startFrom: { positions: [] }, handler: () => undefined })).rejects.toMatchObject({
      code: "UNSUPPORTED",
    });
  });
});
