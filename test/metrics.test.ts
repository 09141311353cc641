// OpenTelemetry metrics with the SDK's in-memory reader: what a dashboard of a Brook service
// shows — messages sent and consumed, acked, retried, dead-lettered, deduplicated, in flight and
// lag per partition, send and process durations — named per the messaging semantic conventions.
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { metrics } from "@opentelemetry/api";
import { MeterProvider, MetricReader, type DataPoint, type Histogram } from "@opentelemetry/sdk-metrics";
import { connect, MemoryDedupeStore, PermanentError, type Broker } from "@brook/core";
import "@brook/local-broker";
import { waitFor } from "@brook/contract-tests";

class TestReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

const reader = new TestReader();
const provider = new MeterProvider({ readers: [reader] });
let broker: Broker;

beforeAll(async () => {
  metrics.setGlobalMeterProvider(provider);
  broker = await connect("memory:");
});
afterAll(async () => {
  await broker.close();
  await provider.shutdown();
  metrics.disable();
});

/** Every data point of a metric, by name. */
async function read(): Promise<Map<string, DataPoint<number | Histogram>[]>> {
  const { resourceMetrics } = await reader.collect();
  const out = new Map<string, DataPoint<number | Histogram>[]>();
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) out.set(metric.descriptor.name, [...(out.get(metric.descriptor.name) ?? []), ...(metric.dataPoints as DataPoint<number | Histogram>[])]);
  }
  return out;
}
const sum = (points: DataPoint<number | Histogram>[] | undefined, match: Record<string, unknown> = {}): number =>
  (points ?? [])
    .filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v))
    .reduce((n, p) => n + (typeof p.value === "number" ? p.value : p.value.count), 0);

test("counts, gauges and durations of a publisher and a subscription, by topic, group, partition and error type", async () => {
  await broker.admin.createTopic("metered", { partitions: 2 });
  await broker.admin.createTopic("metered.dlq");
  const store = new MemoryDedupeStore();
  await store.claim("id-5", 60_000);
  await store.complete("id-5"); // n=5 was handled before: the dedupe store drops it
  const seen = new Set<number>();
  const handled: number[] = [];
  const sub = await broker.subscribe<{ n: number }>("metered", {
    group: "billing",
    startFrom: "earliest",
    retry: { maxAttempts: 3, minDelayMs: 5, maxDelayMs: 10 },
    deadLetter: { topic: "metered.dlq" },
    dedupe: { store },
    handler: (m) => {
      if (m.data.n === 3 && !seen.has(3)) {
        seen.add(3);
        throw new Error("transient"); // one retry
      }
      if (m.data.n === 7) throw new PermanentError("bad"); // dead-lettered
      handled.push(m.data.n);
    },
  });
  const pub = broker.publisher<{ n: number }>("metered");
  for (let n = 0; n < 10; n++) await pub.publish({ key: `k${n}`, idempotencyKey: `id-${n}`, data: { n } });
  await waitFor(() => handled.length >= 8 && sub.stats().acked >= 10, 10_000, "every message settled");
  const m = await read();
  const topic = { "messaging.destination.name": "metered", "messaging.system": "brook" };
  const group = { ...topic, "messaging.consumer.group.name": "billing" };
  expect(sum(m.get("messaging.client.sent.messages"), topic)).toBe(10);
  expect(sum(m.get("messaging.client.sent.messages"), { "messaging.destination.name": "metered.dlq" })).toBe(1);
  expect(sum(m.get("messaging.client.operation.duration"), topic)).toBe(10); // one send per awaited publish
  expect(sum(m.get("messaging.client.consumed.messages"), group)).toBe(10);
  expect(sum(m.get("brook.messages.acked"), group)).toBe(10);
  expect(sum(m.get("brook.messages.retried"), group)).toBe(1); // n=3 once; PermanentError is not retried
  expect(sum(m.get("brook.messages.dead_lettered"), group)).toBe(1);
  expect(sum(m.get("brook.messages.deduplicated"), group)).toBe(1);
  // handler calls: 9 first attempts (the duplicate runs none) + 1 retry; failures carry error.type
  expect(sum(m.get("messaging.process.duration"), group)).toBe(10);
  expect(sum(m.get("messaging.process.duration"), { ...group, "error.type": "Error" })).toBe(1);
  expect(sum(m.get("messaging.process.duration"), { ...group, "error.type": "PermanentError" })).toBe(1);
  const lag = m.get("brook.subscription.lag") ?? [];
  expect(lag.map((p) => p.attributes["messaging.destination.partition.id"]).sort()).toEqual(["0", "1"]);
  expect(sum(lag, group)).toBe(0);
  expect(sum(m.get("brook.subscription.in_flight"), group)).toBe(0);
  await sub.close();
  await pub.close();
});

test("lag per partition rises with unconsumed messages and drains to 0; in-flight counts messages being handled", async () => {
  await broker.admin.createTopic("lagging", { partitions: 1 });
  const pub = broker.publisher<number>("lagging");
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  let started = 0;
  const sub = await broker.subscribe<number>("lagging", {
    group: "slow",
    startFrom: "earliest",
    maxInFlight: 4,
    ordering: "none",
    handler: async () => {
      started++;
      await gate;
    },
  });
  for (let i = 0; i < 20; i++) await pub.publish({ data: i });
  await waitFor(() => started >= 4, 10_000, "four handlers running");
  const group = { "messaging.destination.name": "lagging", "messaging.consumer.group.name": "slow" };
  // The consumer is blocked on its in-flight window; the backlog still shows (refreshed each second).
  await waitFor(async () => sum((await read()).get("brook.subscription.lag"), group) === 20, 10_000, "lag 20");
  let m = await read();
  expect(sum(m.get("brook.subscription.in_flight"), group)).toBe(4);
  release();
  await waitFor(() => sub.stats().acked >= 20, 10_000, "all acked");
  await waitFor(async () => sum((await read()).get("brook.subscription.lag"), group) === 0, 10_000, "lag back to 0");
  m = await read();
  expect(sum(m.get("brook.subscription.in_flight"), group)).toBe(0);
  await sub.close();
  await pub.close();
});
