/**
 * Hand-over under load on a real broker: a second member joins and then the first leaves while
 * messages keep flowing. Nothing may be lost, and one key's messages must run one at a time and
 * in publish order across both members (the old owner drains and commits before the partitions
 * move).
 */
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { connect, type Broker, type Subscription } from "@brook/core";
import "@brook/adapter-kafka";
import { sleep, uniqueTopic, waitFor } from "@brook/contract-tests";
import { useKafkaBroker } from "./broker.js";

const kafka = useKafkaBroker();
let first: Broker;
let second: Broker;

beforeAll(async () => {
  // Two connections, as two processes would have.
  first = await connect(kafka.url("clientId=rebalance-a"));
  second = await connect(kafka.url("clientId=rebalance-b"));
});

afterAll(async () => {
  await first?.close();
  await second?.close();
});
afterAll(() => kafka.stop(), 30_000);

interface Msg {
  k: string;
  i: number;
}

test("a member joins and the first leaves while messages flow: no loss, key order holds across the hand-over", async () => {
  const topic = uniqueTopic("rebalance");
  await first.admin.createTopic(topic, { partitions: 6 });
  const keys = 24;
  const perKey = 150;
  const total = keys * perKey;

  /** per key: the sequence numbers in the order handlers started, across both members */
  const started = new Map<string, number[]>();
  const running = new Map<string, string>();
  const handledBy = new Map<string, number>();
  const overlaps: string[] = [];
  let handled = 0;
  const handler = (member: string) => async (m: { data: Msg }): Promise<void> => {
    const { k, i } = m.data;
    const other = running.get(k);
    if (other !== undefined) overlaps.push(`${k}#${i} on ${member} while ${other} runs it`);
    running.set(k, member);
    const list = started.get(k) ?? [];
    list.push(i);
    started.set(k, list);
    await sleep(Math.floor(Math.random() * 4));
    running.delete(k);
    handledBy.set(member, (handledBy.get(member) ?? 0) + 1);
    handled += 1;
  };
  const options = { group: "workers", startFrom: "earliest" as const, maxInFlight: 32, commitIntervalMs: 200 };
  const a: Subscription = await first.subscribe<Msg>(topic, { ...options, handler: handler("a") });

  // Publish in rounds of one message per key, paced so the hand-over happens mid-stream.
  const pub = first.publisher<Msg>(topic);
  const publishing = (async () => {
    for (let i = 0; i < perKey; i++) {
      const results = await pub.publishBatch(Array.from({ length: keys }, (_, k) => ({ key: `key-${k}`, data: { k: `key-${k}`, i } })));
      if (!results.every((r) => r.ok)) throw new Error("publish failed");
      await sleep(10);
    }
  })();

  await waitFor(() => handled >= total * 0.15, 60_000, "the first member to make progress");
  const b = await second.subscribe<Msg>(topic, { ...options, handler: handler("b") });
  await waitFor(() => b.assignment().length > 0 && a.assignment().length > 0, 30_000, "both members to own partitions");
  const atJoin = handled;
  await waitFor(() => (handledBy.get("b") ?? 0) > 0 && handled >= atJoin + total * 0.15, 60_000, "both members to handle messages");
  await a.close({ drain: true, timeoutMs: 10_000 });
  await waitFor(() => b.assignment().length === 6, 30_000, "the second member to take every partition");
  await publishing;
  await waitFor(() => handled >= total, 120_000, `${total} messages handled (got ${handled})`);
  await sleep(300);

  expect(overlaps).toEqual([]);
  for (let k = 0; k < keys; k++) {
    // Exactly once and in order: the hand-over drained and committed before partitions moved.
    expect(started.get(`key-${k}`)).toEqual(Array.from({ length: perKey }, (_, i) => i));
  }
  expect(handled).toBe(total);
  expect(handledBy.get("a")).toBeGreaterThan(0);
  expect(handledBy.get("b")).toBeGreaterThan(0);
  await pub.close();
}, 240_000);

// A rolling switch of driver (driver=kafkajs → driver=platformatic, one instance at a time)
// has members of both drivers in one group for a while: they must agree on the assignor and
// split the partitions. @platformatic/kafka needs Node >= 22.22 (the Node 24 run).
const [nodeMajor, nodeMinor] = process.versions.node.split(".").map(Number) as [number, number];
const platformaticLoads = nodeMajor > 22 || (nodeMajor === 22 && nodeMinor >= 22);
(platformaticLoads ? test : test.skip)("members on different drivers share one group: a rolling switch of driver loses nothing", async () => {
  const brokers = kafka.brokers();
  const onKafkajs = await connect(`kafka://${brokers}?clientId=mixed-kafkajs&driver=kafkajs`);
  const onPlatformatic = await connect(`kafka://${brokers}?clientId=mixed-platformatic&driver=platformatic`);
  try {
    const topic = uniqueTopic("mixed-drivers");
    await onKafkajs.admin.createTopic(topic, { partitions: 4 });
    const total = 400;
    const got = new Map<number, string[]>();
    const handler = (driver: string) => async (m: { data: number }): Promise<void> => {
      got.set(m.data, [...(got.get(m.data) ?? []), driver]);
    };
    const options = { group: "mixed", startFrom: "earliest" as const, commitIntervalMs: 200 };
    const a = await onKafkajs.subscribe<number>(topic, { ...options, handler: handler("kafkajs") });
    const b = await onPlatformatic.subscribe<number>(topic, { ...options, handler: handler("platformatic") });
    const errors: string[] = [];
    a.on("error", (e) => errors.push(`kafkajs: ${e.message}`));
    b.on("error", (e) => errors.push(`platformatic: ${e.message}`));
    await waitFor(() => a.assignment().length > 0 && b.assignment().length > 0, 60_000, `both members to own partitions (kafkajs ${a.assignment()}, platformatic ${b.assignment()}; errors: ${errors.join("; ")})`);
    expect([...a.assignment(), ...b.assignment()].sort()).toEqual(["0", "1", "2", "3"]);
    const pub = onKafkajs.publisher<number>(topic);
    const results = await pub.publishBatch(Array.from({ length: total }, (_, i) => ({ key: `k${i % 16}`, data: i })));
    expect(results.every((r) => r.ok)).toBe(true);
    await waitFor(() => got.size >= total, 60_000, `${total} messages handled (got ${got.size})`);
    // The old instance leaves: the new one takes every partition and nothing is handled twice.
    await a.close({ drain: true, timeoutMs: 10_000 });
    await waitFor(() => b.assignment().length === 4, 60_000, "the platformatic member to take every partition");
    await pub.publishBatch(Array.from({ length: 100 }, (_, i) => ({ key: `k${i % 16}`, data: total + i })));
    await waitFor(() => got.size >= total + 100, 60_000, `${total + 100} messages handled (got ${got.size})`);
    await sleep(300);
    const drivers = new Set([...got.values()].flat());
    expect(drivers).toEqual(new Set(["kafkajs", "platformatic"]));
    expect([...got.values()].filter((by) => by.length !== 1)).toEqual([]);
    expect(errors).toEqual([]);
    await pub.close();
    await b.close();
  } finally {
    await onKafkajs.close();
    await onPlatformatic.close();
  }
}, 240_000);
