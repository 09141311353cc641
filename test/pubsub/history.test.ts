// A group created after messages were published can start before it existed: topics Brook
// creates keep their messages (topic message retention, 7 days by default) and a new
// subscription is sought back for startFrom "earliest" / { time }. Capacity hints (partitions)
// are accepted, as on every backend.
//
// The emulator does not implement seek to a time on subscriptions with message ordering, so the
// history cases run on a messageOrdering=false broker (historyForNewGroups: true there); what
// the ordered emulator does instead is pinned at the end. It rounds seek times down to whole
// seconds, so each case puts a second boundary between "before" and "after". It also hands a
// new subscription everything its topic retains without any seek, so here "earliest" proves the
// retention Brook gives topics, while "latest" and { time } prove the seek (each fails without it).
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { PermanentError, connect, type Logger, type ReceivedMessage } from "@brook/core";
import { uniqueTopic, waitFor, sleep } from "@brook/contract-tests";
import type { PubSubBroker } from "@brook/adapter-pubsub";
import "@brook/adapter-pubsub";
import { describePubSub, pubsubUrl } from "./emulator.js";

const WEEK_MS = 7 * 24 * 3600_000;

interface Logged {
  level: keyof Logger;
  message: string;
}

function recordingLogger(into: Logged[]): Logger {
  return {
    debug: (message) => void into.push({ level: "debug", message }),
    info: (message) => void into.push({ level: "info", message }),
    warn: (message) => void into.push({ level: "warn", message }),
    error: (message) => void into.push({ level: "error", message }),
  };
}

/** Waits until the clock is into the next whole second (the emulator's seek resolution). */
async function nextSecond(): Promise<void> {
  await sleep(1_050 - (Date.now() % 1_000));
}

describePubSub("pubsub: history for new groups", (emulator) => {
  let unordered: PubSubBroker;
  let ordered: PubSubBroker;
  let noRetention: PubSubBroker;
  const unorderedLog: Logged[] = [];
  const orderedLog: Logged[] = [];

  beforeAll(async () => {
    unordered = (await connect(pubsubUrl(emulator, "&messageOrdering=false"), { logger: recordingLogger(unorderedLog) })) as PubSubBroker;
    ordered = (await connect(pubsubUrl(emulator), { logger: recordingLogger(orderedLog) })) as PubSubBroker;
    noRetention = (await connect(pubsubUrl(emulator, "&messageOrdering=false&topicRetentionMs=0"))) as PubSubBroker;
  });
  afterAll(async () => {
    await Promise.all([unordered?.close(), ordered?.close(), noRetention?.close()]);
  });

  test("a new group with startFrom earliest receives what was published before it existed; a new latest group does not", async () => {
    expect(unordered.capabilities.historyForNewGroups).toBe(true);
    const topic = uniqueTopic("hist-earliest");
    await unordered.admin.createTopic(topic);
    expect((await unordered.admin.describeTopic(topic)).retentionMs).toBe(WEEK_MS);
    const pub = unordered.publisher<number>(topic);
    // Published while the topic has no subscription at all.
    expect((await pub.publishBatch([0, 1, 2, 3, 4].map((data) => ({ data })))).every((r) => r.ok)).toBe(true);
    await nextSecond();

    const earliest: number[] = [];
    const latest: number[] = [];
    await unordered.subscribe<number>(topic, { group: "replay", ordering: "none", startFrom: "earliest", handler: (m) => void earliest.push(m.data) });
    await unordered.subscribe<number>(topic, { group: "live", ordering: "none", startFrom: "latest", handler: (m) => void latest.push(m.data) });
    await pub.publish({ data: 5 });
    await waitFor(() => earliest.length >= 6 && latest.length >= 1, 20_000, "history for the earliest group, 5 for both");
    await sleep(500); // anything extra would show up by now
    expect([...earliest].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(latest).toEqual([5]);
    await pub.close();
  });

  test("startFrom { time } starts a new group at the first message published at or after that time", async () => {
    const topic = uniqueTopic("hist-time");
    await unordered.admin.createTopic(topic);
    const pub = unordered.publisher<string>(topic, { codec: "string" });
    await pub.publishBatch(["a", "b"].map((data) => ({ data })));
    await nextSecond();
    const middle = new Date();
    await pub.publishBatch(["c", "d"].map((data) => ({ data })));
    await nextSecond();

    const got: string[] = [];
    await unordered.subscribe<string>(topic, {
      group: "from-middle",
      codec: "string",
      ordering: "none",
      startFrom: { time: middle },
      handler: (m) => void got.push(m.data),
    });
    await pub.publish({ data: "e" });
    await waitFor(() => got.length >= 3, 20_000, "c, d and e");
    await sleep(500);
    expect([...got].sort()).toEqual(["c", "d", "e"]);
    await pub.close();
  });

  test("dead letters published before the DLQ's first subscriber reach it (deadLetter: { topic })", async () => {
    const topic = uniqueTopic("hist-dlq-src");
    const dlq = uniqueTopic("hist-dlq");
    await unordered.admin.createTopic(topic);
    await unordered.admin.createTopic(dlq);
    let poisonCalls = 0;
    const handled: string[] = [];
    const sub = await unordered.subscribe<string>(topic, {
      group: "worker",
      codec: "string",
      ordering: "none",
      deadLetter: { topic: dlq },
      handler: (m) => {
        if (m.data === "poison") {
          poisonCalls += 1;
          throw new PermanentError("cannot process poison");
        }
        handled.push(m.data);
      },
    });
    const pub = unordered.publisher<string>(topic, { codec: "string" });
    await pub.publish({ data: "poison", headers: { trace: "t1" } });
    await pub.publish({ data: "fine" });
    // Settled = the dead letter was published (core publishes it, then acks the original).
    await waitFor(() => poisonCalls === 1 && handled.includes("fine") && sub.health().every((h) => h.inFlight === 0), 20_000, "the poison dead-lettered");

    const dead: ReceivedMessage<string>[] = [];
    await unordered.subscribe<string>(dlq, { group: "audit", codec: "string", ordering: "none", startFrom: "earliest", handler: (m) => void dead.push(m) });
    await waitFor(() => dead.length >= 1, 20_000, "the dead letter published before the audit group existed");
    await sleep(500);
    expect(dead).toHaveLength(1);
    expect(dead[0]!.data).toBe("poison");
    expect(dead[0]!.headers).toMatchObject({
      trace: "t1",
      "brook-original-topic": topic,
      "brook-dlq-reason": "cannot process poison",
    });
    await pub.close();
  });

  test("the native dead-letter topic Brook creates keeps its messages for readers that come later", async () => {
    const topic = uniqueTopic("hist-native");
    await unordered.admin.createTopic(topic);
    await unordered.subscribe(topic, { group: "g", ordering: "none", deadLetter: "native", retry: { maxAttempts: 5 }, handler: () => undefined });
    expect((await unordered.admin.describeTopic(`${topic}.g.dlq`)).retentionMs).toBe(WEEK_MS);
  });

  test("createIfMissing creates the topic with the default retention, and an explicit retentionMs wins", async () => {
    const created = uniqueTopic("hist-cim");
    await unordered.subscribe(created, { group: "g", ordering: "none", createIfMissing: true, handler: () => undefined });
    expect((await unordered.admin.describeTopic(created)).retentionMs).toBe(WEEK_MS);
    const explicit = uniqueTopic("hist-explicit");
    await unordered.admin.createTopic(explicit, { retentionMs: 3_600_000 });
    expect((await unordered.admin.describeTopic(explicit)).retentionMs).toBe(3_600_000);
  });

  test("createTopic accepts partitions (a capacity hint): logged at debug, describeTopic says partitions undefined", async () => {
    const topic = uniqueTopic("hist-parts");
    orderedLog.length = 0;
    await ordered.admin.createTopic(topic, { partitions: 4 });
    expect(await ordered.admin.describeTopic(topic)).toEqual({ name: topic, partitions: undefined, retentionMs: WEEK_MS });
    expect(orderedLog).toContainEqual({ level: "debug", message: expect.stringMatching(new RegExp(`"${topic}".*partitions 4`)) });
    // retentionBytes is a hint too: Pub/Sub retains by time.
    const sized = uniqueTopic("hist-bytes");
    await ordered.admin.createTopic(sized, { partitions: 2, retentionBytes: 1_000_000, ifNotExists: true });
    expect((await ordered.admin.describeTopic(sized)).retentionMs).toBe(WEEK_MS);
    expect(orderedLog).toContainEqual({ level: "debug", message: expect.stringMatching(new RegExp(`"${sized}".*retentionBytes 1000000`)) });
    // Validated as on every backend.
    await expect(ordered.admin.createTopic(uniqueTopic("hist-bad"), { partitions: 0 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(ordered.admin.createTopic(uniqueTopic("hist-bad"), { partitions: 2.5 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(ordered.admin.createTopic(uniqueTopic("hist-bad"), { retentionBytes: 0 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    // The topic works: a keyed message goes through it.
    const got: string[] = [];
    await ordered.subscribe<string>(topic, { group: "g", codec: "string", handler: (m) => void got.push(m.data) });
    await ordered.publisher<string>(topic, { codec: "string" }).publish({ key: "k", data: "x" });
    await waitFor(() => got.length === 1, 20_000, "the message");
  });

  test("earliest on a topic without retention warns naming the topic and starts at the group's creation", async () => {
    const topic = uniqueTopic("hist-noret");
    await noRetention.admin.createTopic(topic);
    expect((await noRetention.admin.describeTopic(topic)).retentionMs).toBeUndefined();
    await noRetention.publisher<number>(topic).publish({ data: 0 });
    const log: Logged[] = [];
    const warned = (await connect(pubsubUrl(emulator, "&messageOrdering=false"), { logger: recordingLogger(log) })) as PubSubBroker;
    try {
      const got: number[] = [];
      await warned.subscribe<number>(topic, { group: "g", ordering: "none", startFrom: "earliest", handler: (m) => void got.push(m.data) });
      expect(log.filter((l) => l.level === "warn").map((l) => l.message)).toEqual([
        expect.stringMatching(new RegExp(`topic "${topic}" has no message retention.*not delivered`)),
      ]);
      await warned.publisher<number>(topic).publish({ data: 1 });
      await waitFor(() => got.length >= 1, 20_000, "the message published after the group");
      await sleep(500);
      expect(got).toEqual([1]);
    } finally {
      await warned.close();
    }
  });

  test("ordered subscriptions on the emulator: earliest still reaches history, { time } is UNSUPPORTED and leaves no group behind", async () => {
    // Measured on emulator jar 0.8.20: seek to a time answers UNIMPLEMENTED on subscriptions with
    // message ordering, and a new subscription gets everything the topic retains without a seek.
    expect(ordered.capabilities.historyForNewGroups).toBe(false);
    const topic = uniqueTopic("hist-ordered");
    await ordered.admin.createTopic(topic);
    const pub = ordered.publisher<string>(topic, { codec: "string" });
    await pub.publish({ key: "k", data: "a" });
    await pub.publish({ key: "k", data: "b" });

    await expect(
      ordered.subscribe(topic, { group: "t", startFrom: { time: new Date(Date.now() - 60_000) }, handler: () => undefined }),
    ).rejects.toMatchObject({ code: "UNSUPPORTED", message: expect.stringMatching(/messageOrdering=false/) });
    const got: string[] = [];
    // The failed group was removed, so its startFrom applies again on the next subscribe.
    await ordered.subscribe<string>(topic, { group: "t", codec: "string", startFrom: "earliest", handler: (m) => void got.push(m.data) });
    await pub.publish({ key: "k", data: "c" });
    await waitFor(() => got.length >= 3, 20_000, "a, b and c");
    expect(got).toEqual(["a", "b", "c"]);

    orderedLog.length = 0;
    await ordered.subscribe(topic, { group: "live", handler: () => undefined });
    expect(orderedLog.filter((l) => l.level === "warn").map((l) => l.message)).toEqual([
      expect.stringMatching(new RegExp(`"latest" for group "live" on topic "${topic}" also delivers`)),
    ]);
    await pub.close();
  });
});
