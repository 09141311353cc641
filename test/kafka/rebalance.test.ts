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
