/**
 * Keys inside one Kafka partition run in parallel through core's keyed executor, each key
 * strictly in publish order, never two of one key at a time, and never more than maxInFlight.
 */
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { connect, type Broker } from "@brook/core";
import "@brook/adapter-kafka";
import { sleep, uniqueTopic, waitFor } from "@brook/contract-tests";
import { useKafkaBroker } from "./broker.js";

const kafka = useKafkaBroker();
let broker: Broker;

beforeAll(async () => {
  broker = await connect(kafka.url("clientId=key-order"));
});
afterAll(async () => {
  await broker?.close();
});
afterAll(() => kafka.stop(), 30_000);

test("one partition, 100 keys, random delays: per-key order, keys concurrent, maxInFlight respected", async () => {
  const topic = uniqueTopic("keyorder");
  await broker.admin.createTopic(topic, { partitions: 1 });
  const keys = 100;
  const perKey = 40;
  const total = keys * perKey;
  const maxInFlight = 48;
  const seen = new Map<string, number[]>();
  const runningKeys = new Set<string>();
  let running = 0;
  let maxRunning = 0;
  let maxDistinctKeys = 0;
  let sameKeyOverlap = 0;
  let handled = 0;
  const partitions = new Set<string>();

  const sub = await broker.subscribe<{ k: string; i: number }>(topic, {
    group: "order",
    startFrom: "earliest",
    ordering: "key",
    maxInFlight,
    handler: async (m) => {
      partitions.add(m.position.partition);
      if (runningKeys.has(m.data.k)) sameKeyOverlap += 1;
      runningKeys.add(m.data.k);
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      maxDistinctKeys = Math.max(maxDistinctKeys, runningKeys.size);
      const list = seen.get(m.data.k) ?? [];
      list.push(m.data.i);
      seen.set(m.data.k, list);
      const delay = Math.floor(Math.random() * 6);
      await sleep(delay);
      running -= 1;
      runningKeys.delete(m.data.k);
      handled += 1;
    },
  });
  const pub = broker.publisher<{ k: string; i: number }>(topic);
  for (let i = 0; i < perKey; i++) {
    const results = await pub.publishBatch(Array.from({ length: keys }, (_, k) => ({ key: `k${k}`, data: { k: `k${k}`, i } })));
    expect(results.every((r) => r.ok && r.position.partition === "0")).toBe(true);
  }
  await waitFor(() => handled >= total, 120_000, `${total} messages handled (got ${handled})`);
  await sleep(200);

  expect(handled).toBe(total);
  expect([...partitions]).toEqual(["0"]);
  expect(sameKeyOverlap).toBe(0);
  for (let k = 0; k < keys; k++) expect(seen.get(`k${k}`)).toEqual(Array.from({ length: perKey }, (_, i) => i));
  expect(maxRunning).toBeLessThanOrEqual(maxInFlight);
  // Concurrency inside the single partition: many keys' handlers running at once (counted, not
  // timed: a wall-clock bound fails on a loaded machine and proves nothing more).
  expect(maxDistinctKeys).toBeGreaterThan(10);
  await sub.commit();
  expect(sub.health()[0]?.committed).toBe(String(total - 1));
  await pub.close();
}, 180_000);
