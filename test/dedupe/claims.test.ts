/**
 * How a subscription uses a DedupeStore's claims (core's handler runner), on memory:: a claim
 * that expires while the handler runs is FENCED at complete and never re-runs the handler, and
 * a store that is briefly unavailable is reported (typed) and retried, never skipped.
 */
import { afterEach, expect, test } from "@jest/globals";
import { BrookError, MemoryDedupeStore, connect, silentLogger, type Broker, type ClaimResult, type DedupeStore } from "@brook/core";
import "@brook/local-broker";
import { runDedupeStoreSuite, sleep, uniqueTopic, waitFor } from "@brook/contract-tests";

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

runDedupeStoreSuite("MemoryDedupeStore", (options) => new MemoryDedupeStore(options));

async function memoryBroker(): Promise<Broker> {
  const broker = await connect("memory:", { logger: silentLogger });
  cleanups.push(() => broker.close());
  return broker;
}

test("a handler that outlives its claim: complete is FENCED (reported), the handler is not run again, the key ends done", async () => {
  const broker = await memoryBroker();
  const topic = uniqueTopic("fenced");
  await broker.admin.createTopic(topic, { partitions: 1 });
  const store = new MemoryDedupeStore({ claimTimeoutMs: 50 });
  const runs: string[] = [];
  const errors: BrookError[] = [];
  const sub = await broker.subscribe<string>(topic, {
    group: "g",
    startFrom: "earliest",
    dedupe: { store, ttlMs: 60_000 },
    handler: async (m) => {
      runs.push(m.data);
      await sleep(200); // longer than the 50 ms claim
    },
  });
  sub.on("error", (e) => void errors.push(e));
  cleanups.push(() => sub.close());
  await broker.publisher<string>(topic).publish({ data: "a", idempotencyKey: "order-1" });
  await waitFor(() => sub.stats().acked === 1, 10_000, "the message to be acked");
  expect(runs).toEqual(["a"]);
  expect(errors.map((e) => e.code)).toEqual(["FENCED"]);
  expect(await store.claim("order-1", 60_000, "someone-else")).toBe("done");
});

/** Wraps a store; `failures` calls of claim/complete throw UNAVAILABLE first. */
class FlakyStore implements DedupeStore {
  failures = 0;
  calls: string[] = [];
  constructor(private readonly inner: DedupeStore) {}
  private fail(what: string): void {
    this.calls.push(what);
    if (this.failures > 0) {
      this.failures -= 1;
      throw new BrookError("UNAVAILABLE", `store down during ${what}`);
    }
  }
  async claim(key: string, ttlMs: number, token?: string): Promise<ClaimResult> {
    this.fail("claim");
    return this.inner.claim(key, ttlMs, token);
  }
  async complete(key: string, token?: string): Promise<void> {
    this.fail("complete");
    return this.inner.complete(key, token);
  }
  async release(key: string, token?: string): Promise<void> {
    return this.inner.release(key, token);
  }
}

test("a dedupe store that is unavailable for a while: each failure is reported as UNAVAILABLE and retried; the handler runs once and the message is acked", async () => {
  const broker = await memoryBroker();
  const topic = uniqueTopic("flaky");
  await broker.admin.createTopic(topic, { partitions: 1 });
  const store = new FlakyStore(new MemoryDedupeStore());
  store.failures = 3;
  const runs: string[] = [];
  const errors: BrookError[] = [];
  const sub = await broker.subscribe<string>(topic, {
    group: "g",
    startFrom: "earliest",
    dedupe: { store },
    handler: async (m) => {
      runs.push(m.data);
      store.failures = 2; // the store goes away again before complete
    },
  });
  sub.on("error", (e) => void errors.push(e));
  cleanups.push(() => sub.close());
  const pub = broker.publisher<string>(topic);
  await pub.publish({ data: "a", idempotencyKey: "k-1" });
  await waitFor(() => sub.stats().acked === 1, 20_000, "the message to be acked");
  expect(runs).toEqual(["a"]);
  expect(errors.map((e) => e.code)).toEqual(["UNAVAILABLE", "UNAVAILABLE", "UNAVAILABLE", "UNAVAILABLE", "UNAVAILABLE"]);
  expect(store.calls.filter((c) => c === "complete")).toHaveLength(3);
  expect(await store.claim("k-1", 60_000, "another-worker")).toBe("done");
});
