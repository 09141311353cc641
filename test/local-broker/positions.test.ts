/**
 * Positions that would skip are refused or reported, never silent: a group whose committed
 * position retention removed, a reader that falls behind retention while it runs, seeks and
 * commits past the end, and startFrom positions that name nothing.
 */
import { afterEach, expect, test } from "@jest/globals";
import { silentLogger, type BrookError, type Subscription } from "@brook/core";
import { LocalBroker } from "@brook/local-broker";
import { LogEngine, MemoryStore } from "@brook/local-broker/engine";
import { gate, uniqueTopic, waitFor } from "@brook/contract-tests";

/** The memory store keeps 4,096 records per segment; retention drops whole segments. */
const SEGMENT = 4_096;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function open(): Promise<{ engine: LogEngine; broker: LocalBroker }> {
  const engine = await LogEngine.open(new MemoryStore());
  const broker = new LocalBroker("memory:", engine, silentLogger);
  cleanups.push(() => broker.close());
  return { engine, broker };
}

/** Publishes 0..n-1 to a 1-partition topic with a byte retention that keeps about one segment. */
async function topicWith(broker: LocalBroker, n: number): Promise<string> {
  const topic = uniqueTopic("pos");
  await broker.admin.createTopic(topic, { partitions: 1, retentionBytes: 1_000 });
  const pub = broker.publisher<number>(topic);
  for (let i = 0; i < n; i += 1_000) await pub.publishBatch(Array.from({ length: Math.min(1_000, n - i) }, (_, j) => ({ data: i + j })));
  await pub.close();
  return topic;
}

/** The group reads 0..4 and commits 5; message 5 never finishes. */
async function readFive(broker: LocalBroker, topic: string): Promise<void> {
  const seen: number[] = [];
  const sub = await broker.subscribe<number>(topic, {
    group: "g",
    startFrom: "earliest",
    ordering: "partition",
    maxInFlight: 1,
    handler: async (m) => {
      if (m.data >= 5) await new Promise(() => undefined);
      seen.push(m.data);
    },
  });
  await waitFor(() => seen.length === 5, 10_000, "five messages");
  await sub.commit();
  await sub.close({ drain: false });
}

function collect(sub: Subscription): BrookError[] {
  const errors: BrookError[] = [];
  sub.on("error", (e) => errors.push(e));
  return errors;
}

test('retention removed what the group never read: OUT_OF_RANGE names the range, "earliest" resumes at the log start', async () => {
  const { engine, broker } = await open();
  const topic = await topicWith(broker, 2 * SEGMENT + 10);
  await readFive(broker, topic);
  await engine.applyRetention();
  const start = (await engine.describeTopic(topic)).partitions[0]!.start;
  expect(start).toBe(2 * SEGMENT);
  const got: number[] = [];
  const sub = await broker.subscribe<number>(topic, { group: "g", handler: (m) => void got.push(m.data) });
  const errors = collect(sub);
  await waitFor(() => got.length === 10 && errors.length === 1, 10_000, "the 10 retained messages and the error");
  expect(got[0]).toBe(start);
  expect(errors[0]).toMatchObject({ code: "OUT_OF_RANGE", message: expect.stringContaining(`offsets 5–${start - 1} were removed by retention`) });
  await sub.close();
  // The new position was committed: a restart does not report the same loss again.
  expect((await engine.committed("g", topic)).get(0)).toBe(start + 10);
});

test('onOutOfRange "error": the partition is left unread and the group position does not move', async () => {
  const { engine, broker } = await open();
  const topic = await topicWith(broker, 2 * SEGMENT + 10);
  await readFive(broker, topic);
  await engine.applyRetention();
  let calls = 0;
  const sub = await broker.subscribe<number>(topic, { group: "g", onOutOfRange: "error", handler: () => void (calls += 1) });
  const errors = collect(sub);
  await waitFor(() => errors.length === 1, 10_000, "the error");
  await new Promise((r) => setTimeout(r, 300));
  expect(calls).toBe(0);
  expect(errors[0]!.message).toContain("left unread");
  expect((await engine.committed("g", topic)).get(0)).toBe(5);
  await sub.close();
});

test("a reader that falls behind retention while it runs is told which offsets it lost, then goes on", async () => {
  const { engine, broker } = await open();
  const topic = await topicWith(broker, 2 * SEGMENT + 10);
  const hold = gate();
  const got: number[] = [];
  const sub = await broker.subscribe<number>(topic, {
    group: "g",
    startFrom: "earliest",
    ordering: "partition",
    maxInFlight: 1,
    handler: async (m) => {
      if (m.data === 3) await hold.promise;
      got.push(m.data);
    },
  });
  const errors = collect(sub);
  await waitFor(() => got.length === 3, 10_000, "three messages");
  await engine.applyRetention(); // 4..8191 are gone while the reader waits on message 3
  hold.open();
  await waitFor(() => got.length >= 14 && errors.length === 1, 10_000, "the rest and the error");
  expect(errors[0]).toMatchObject({ code: "OUT_OF_RANGE", message: expect.stringMatching(/offsets \d+–8191 were removed by retention/) });
  expect(got.slice(4)).toEqual(Array.from({ length: 10 }, (_, i) => 2 * SEGMENT + i));
  await sub.close();
});

test("seek past the end, a negative offset, an unassigned partition and a commit past the end are INVALID_ARGUMENT", async () => {
  const { engine, broker } = await open();
  const topic = await topicWith(broker, 20);
  const got: number[] = [];
  const sub = await broker.subscribe<number>(topic, { group: "g", startFrom: "earliest", handler: (m) => void got.push(m.data) });
  await waitFor(() => got.length === 20, 10_000, "twenty messages");
  await expect(sub.seek({ positions: [{ partition: "0", offset: "21" }] })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("past the end") });
  await expect(sub.seek({ positions: [{ partition: "0", offset: "-1" }] })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  await expect(sub.seek({ positions: [{ partition: "7", offset: "0" }] })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("not assigned") });
  await sub.seek({ positions: [{ partition: "0", offset: "20" }] }); // the end itself is fine: the next message
  await expect(engine.commit("other", topic, new Map([[0, 21]]))).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("log's end") });
  await expect(engine.commit("other", topic, new Map([[3, 0]]))).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("no partition 3") });
  await sub.close();
});

test("startFrom positions naming a partition the topic lacks, or a negative offset, are refused at subscribe", async () => {
  const { broker } = await open();
  const topic = await topicWith(broker, 3);
  await expect(broker.subscribe(topic, { group: "g", startFrom: { positions: [{ partition: "4", offset: "0" }] }, handler: () => undefined })).rejects.toMatchObject({
    code: "INVALID_ARGUMENT",
    message: expect.stringContaining("startFrom.positions[0].partition"),
  });
  await expect(broker.subscribe(topic, { group: "g", startFrom: { positions: [{ partition: "0", offset: "-3" }] }, handler: () => undefined })).rejects.toMatchObject({
    code: "INVALID_ARGUMENT",
    message: expect.stringContaining("startFrom.positions[0].offset"),
  });
});
