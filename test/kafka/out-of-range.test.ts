/**
 * A group whose committed position retention removed is never moved on silently: on a real
 * broker, records the group never read are deleted (DeleteRecords, as retention would), and the
 * next member reports OUT_OF_RANGE naming the lost offsets and resumes by onOutOfRange.
 */
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { connect, type Broker, type BrookError } from "@brook/core";
import "@brook/adapter-kafka";
import { Kafka, logLevel } from "kafkajs";
import { uniqueTopic, waitFor } from "@brook/contract-tests";
import { useKafkaBroker } from "./broker.js";

const kafka = useKafkaBroker();
let broker: Broker;

beforeAll(async () => {
  broker = await connect(kafka.url("clientId=out-of-range"));
});
afterAll(async () => {
  await broker?.close();
});
afterAll(() => kafka.stop(), 30_000);

/** Reads 0..4, commits, leaves; then records 0..7 are deleted: the group never read 5..7. */
async function groupBehindRetention(topic: string, group: string): Promise<void> {
  await broker.admin.createTopic(topic, { partitions: 1 });
  const pub = broker.publisher<number>(topic);
  await pub.publishBatch(Array.from({ length: 12 }, (_, i) => ({ data: i })));
  await pub.close();
  const seen: number[] = [];
  const sub = await broker.subscribe<number>(topic, {
    group,
    startFrom: "earliest",
    ordering: "partition",
    handler: async (m) => {
      if (m.data >= 5) await new Promise(() => undefined); // never finishes: 5 is not committed
      seen.push(m.data);
    },
  });
  await waitFor(() => seen.length === 5, 30_000, "five messages");
  await sub.commit();
  await sub.close({ drain: false });
  const admin = new Kafka({ brokers: [kafka.brokers()], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.fetchTopicMetadata({ topics: [topic] }); // kafkajs needs the partition leaders first
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: "8" }] });
  } finally {
    await admin.disconnect();
  }
}

test('onOutOfRange "earliest" (default): OUT_OF_RANGE names offsets 5–7, the group resumes at 8', async () => {
  const topic = uniqueTopic("oor");
  await groupBehindRetention(topic, "g");
  const errors: BrookError[] = [];
  const got: number[] = [];
  const sub = await broker.subscribe<number>(topic, { group: "g", handler: (m) => void got.push(m.data) });
  sub.on("error", (e) => errors.push(e));
  await waitFor(() => got.length >= 4 && errors.length >= 1, 30_000, "messages 8..11 and the error");
  expect(got).toEqual([8, 9, 10, 11]);
  expect(errors[0]).toMatchObject({ code: "OUT_OF_RANGE", message: expect.stringContaining("offsets 5–7 were removed by retention") });
  await sub.close();
}, 90_000);

test('onOutOfRange "error": the partition is left unread and nothing is committed past the loss', async () => {
  const topic = uniqueTopic("oor-err");
  await groupBehindRetention(topic, "g");
  const errors: BrookError[] = [];
  const got: number[] = [];
  const sub = await broker.subscribe<number>(topic, { group: "g", onOutOfRange: "error", handler: (m) => void got.push(m.data) });
  sub.on("error", (e) => errors.push(e));
  await waitFor(() => errors.length >= 1, 30_000, "the error");
  await new Promise((r) => setTimeout(r, 1_500));
  expect(got).toEqual([]);
  expect(errors[0]!.message).toContain("left unread");
  await sub.close();
  const again = await broker.subscribe<number>(topic, { group: "g", onOutOfRange: "error", handler: (m) => void got.push(m.data) });
  const second: BrookError[] = [];
  again.on("error", (e) => second.push(e));
  await waitFor(() => second.length >= 1, 30_000, "the error again: the position did not move");
  expect(second[0]!.message).toContain("offsets 5–7");
  await again.close();
}, 90_000);
