/** @brook/dedupe-redis on a real Redis: ownership, expiry, fencing, restarts, typed errors. */
import { afterAll, afterEach, describe, expect, test } from "@jest/globals";
import { BrookError, connect, silentLogger } from "@brook/core";
import { RedisDedupeStore } from "@brook/dedupe-redis";
import "@brook/local-broker";
import { runDedupeStoreSuite, sleep, uniqueTopic, waitFor } from "@brook/contract-tests";
import { ownServer, startRedisServer, uniqueName, useRedis } from "./servers";

const redisUrl = useRedis();
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function store(options: ConstructorParameters<typeof RedisDedupeStore>[1] = {}, url = redisUrl()): RedisDedupeStore {
  const s = new RedisDedupeStore(url, { prefix: `${uniqueName("t")}:`, ...options });
  cleanups.push(() => s.close());
  return s;
}

runDedupeStoreSuite("RedisDedupeStore", ({ claimTimeoutMs }) => store({ claimTimeoutMs }));

describe("RedisDedupeStore", () => {
  test("bad arguments are INVALID_ARGUMENT / INVALID_URL naming the field", async () => {
    expect(() => new RedisDedupeStore("http://x")).toThrow(expect.objectContaining({ code: "INVALID_URL" }));
    expect(() => new RedisDedupeStore(redisUrl(), { claimTimeoutMs: 0 })).toThrow(/claimTimeoutMs/);
    await expect(store().claim("", 1000, "w")).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  describe("with a Redis this test restarts", () => {
    let server: Awaited<ReturnType<typeof ownServer>> | undefined;
    afterAll(async () => server?.stop(), 30_000);

    test("claims and completions survive a crash (SIGKILL) and restart of Redis; while it is down every call fails UNAVAILABLE", async () => {
      server = await ownServer(startRedisServer);
      const s = store({ claimTimeoutMs: 60_000 }, server.url);
      expect(await s.claim("live", 600_000, "w1")).toBe("claimed");
      expect(await s.claim("finished", 600_000, "w1")).toBe("claimed");
      await s.complete("finished", "w1");
      await server.down(true);
      const err = await s.claim("other", 60_000, "w2").then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(BrookError);
      expect(err).toMatchObject({ code: "UNAVAILABLE", retriable: true });
      await server.up();
      await waitFor(async () => s.claim("probe", 1000, "p").then(() => true, () => false), 20_000, "the store to reconnect");
      expect(await s.claim("live", 600_000, "w2")).toBe("busy");
      expect(await s.claim("finished", 600_000, "w2")).toBe("done");
      await s.complete("live", "w1"); // the claim's owner can still complete it (its script is loaded again after NOSCRIPT)
      expect(await s.claim("live", 600_000, "w2")).toBe("done");
    }, 60_000);

    test("a subscription using the store keeps going through a Redis restart: every message handled once, the outage reported as UNAVAILABLE", async () => {
      server ??= await ownServer(startRedisServer);
      const s = store({ claimTimeoutMs: 10_000 }, server.url);
      const broker = await connect("memory:", { logger: silentLogger });
      cleanups.push(() => broker.close());
      const topic = uniqueTopic("redis-restart");
      await broker.admin.createTopic(topic, { partitions: 2 });
      const handled = new Map<string, number>();
      const errors: BrookError[] = [];
      const sub = await broker.subscribe<number>(topic, {
        group: "g",
        startFrom: "earliest",
        dedupe: { store: s, ttlMs: 600_000 },
        handler: async (m) => {
          handled.set(m.idempotencyKey!, (handled.get(m.idempotencyKey!) ?? 0) + 1);
        },
      });
      cleanups.push(() => sub.close());
      sub.on("error", (e) => void errors.push(e));
      const pub = broker.publisher<number>(topic);
      const total = 200;
      for (let i = 0; i < total; i++) {
        if (i === 80) await server.down(false);
        if (i === 120) await server.up();
        await pub.publish({ key: `k${i % 7}`, idempotencyKey: `m-${i}`, data: i });
        if (i === 80) await sleep(300); // deliveries meet the stopped server
      }
      await waitFor(() => handled.size === total, 60_000, `${total} messages handled`);
      await waitFor(() => sub.stats().acked === total, 30_000, "every message acked");
      expect([...handled.values()].every((n) => n === 1)).toBe(true);
      expect(errors.length).toBeGreaterThan(0);
      expect(new Set(errors.map((e) => e.code))).toEqual(new Set(["UNAVAILABLE"]));
    }, 120_000);
  });
});
