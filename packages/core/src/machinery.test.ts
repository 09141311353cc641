import { describe, expect, test } from "@jest/globals";
import { Batcher } from "./batcher.js";
import { bytesCodec, jsonCodec, resolveCodec, stringCodec } from "./codec.js";
import { ContiguousCommitTracker } from "./commit-tracker.js";
import { MemoryDedupeStore } from "./dedupe.js";
import { BrookError, PermanentError } from "./errors.js";
import { KeyedExecutor } from "./keyed-executor.js";
import { murmur2, partitionForKey } from "./partitioner.js";
import { resolveRetryPolicy, runWithRetry } from "./retry.js";
import { formatTraceparent, parseTraceparent } from "./tracing.js";
import { connect, registerBackend, schemeOf } from "./registry.js";

const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("codecs", () => {
  test("round trip bytes, string and json", () => {
    const b = bytesCodec();
    expect(b.decode(b.encode(Uint8Array.of(1, 2, 3)))).toEqual(Uint8Array.of(1, 2, 3));
    const s = stringCodec();
    expect(s.decode(s.encode("ünï ✓"))).toBe("ünï ✓");
    const j = jsonCodec<{ a: number[] }>();
    expect(j.decode(j.encode({ a: [1, 2] }))).toEqual({ a: [1, 2] });
  });

  test("values a codec cannot encode are INVALID_ARGUMENT naming data", () => {
    expect(() => bytesCodec().encode("x" as unknown as Uint8Array)).toThrow(/data: expected a Uint8Array/);
    expect(() => stringCodec().encode(5 as unknown as string)).toThrow(/data: expected a string/);
    expect(() => jsonCodec().encode(undefined)).toThrow(BrookError);
    expect(() => jsonCodec().encode({ big: 1n })).toThrow(/data: cannot be encoded as JSON/);
  });

  test("bytes that do not decode are CORRUPT_DATA", () => {
    expect(() => jsonCodec().decode(Buffer.from("{not json"))).toThrow(expect.objectContaining({ code: "CORRUPT_DATA" }) as unknown as Error);
    expect(() => stringCodec().decode(Uint8Array.of(0xff, 0xfe))).toThrow(/UTF-8/);
  });

  test("resolveCodec rejects unknown names", () => {
    expect(() => resolveCodec("xml" as never)).toThrow(/codec: expected "auto", "bytes", "string", "json"/);
  });
});

describe("ContiguousCommitTracker", () => {
  test("the watermark never passes an unsettled offset", () => {
    const t = new ContiguousCommitTracker();
    t.reset("0", undefined);
    const epoch = t.delivered("0", "10");
    for (const o of ["11", "12", "13"]) t.delivered("0", o);
    expect(t.settled("0", "11", epoch)).toBe(false);
    expect(t.settled("0", "13", epoch)).toBe(false);
    expect(t.watermark("0")).toBeUndefined();
    expect(t.settled("0", "10", epoch)).toBe(true);
    expect(t.watermark("0")).toBe("11");
    expect(t.inFlight("0")).toBe(2);
    t.settled("0", "12", epoch);
    expect(t.watermark("0")).toBe("13");
    expect(t.inFlight("0")).toBe(0);
  });

  test("offsets with gaps (Kafka compaction, Kinesis sequence numbers) are fine", () => {
    const t = new ContiguousCommitTracker();
    t.reset("s", "49590338271490256608559692538361571095921575989136588898");
    const e = t.delivered("s", "49590338271490256608559692540925702759324208523137515618");
    t.delivered("s", "49590338271490256608559692541574357433528131767223480418");
    t.settled("s", "49590338271490256608559692541574357433528131767223480418", e);
    expect(t.watermark("s")).toBe("49590338271490256608559692538361571095921575989136588898");
    t.settled("s", "49590338271490256608559692540925702759324208523137515618", e);
    expect(t.watermark("s")).toBe("49590338271490256608559692541574357433528131767223480418");
  });

  test("settles from before a reset (seek, revoke) are ignored", () => {
    const t = new ContiguousCommitTracker();
    t.reset("0", "4");
    const old = t.delivered("0", "5");
    t.reset("0", "1");
    expect(t.settled("0", "5", old)).toBe(false);
    expect(t.watermark("0")).toBe("1");
  });

  test("a large window stays correct after compaction of its head", () => {
    const t = new ContiguousCommitTracker();
    t.reset("0");
    const e = t.delivered("0", "0");
    for (let i = 1; i < 5000; i++) t.delivered("0", String(i));
    for (let i = 4999; i >= 1; i--) t.settled("0", String(i), e);
    expect(t.watermark("0")).toBeUndefined();
    t.settled("0", "0", e);
    expect(t.watermark("0")).toBe("4999");
  });
});

describe("ContiguousCommitTracker runs (integer offsets)", () => {
  test("gaps between fetches: each gap starts a run; the watermark walks across them", () => {
    const t = new ContiguousCommitTracker();
    t.reset("0", "9");
    const e = t.delivered("0", "10");
    for (const o of ["11", "20", "21", "40"]) t.delivered("0", o);
    expect(t.inFlight("0")).toBe(5);
    expect(t.settled("0", "20", e)).toBe(false);
    expect(t.settled("0", "40", e)).toBe(false);
    expect(t.watermark("0")).toBe("9");
    expect(t.settled("0", "10", e)).toBe(true);
    expect(t.watermark("0")).toBe("10");
    expect(t.settled("0", "11", e)).toBe(true);
    // 20 was settled early: the watermark runs on to 20, stops at 21 (in flight), 40 waits
    expect(t.watermark("0")).toBe("20");
    expect(t.inFlight("0")).toBe(2);
    expect(t.settled("0", "21", e)).toBe(true);
    expect(t.watermark("0")).toBe("40");
    expect(t.inFlight("0")).toBe(0);
  });

  test("out-of-order settles inside one run; unknown and repeated settles move nothing", () => {
    const t = new ContiguousCommitTracker();
    t.reset("0");
    const e = t.delivered("0", "0");
    for (let i = 1; i < 8; i++) t.delivered("0", String(i));
    for (const o of ["5", "3", "7", "3", "99", "x"]) expect(t.settled("0", o, e)).toBe(false);
    expect(t.watermark("0")).toBeUndefined();
    expect(t.settled("0", "0", e)).toBe(true);
    expect(t.settled("0", "1", e)).toBe(true);
    expect(t.settled("0", "2", e)).toBe(true);
    expect(t.watermark("0")).toBe("3");
    expect(t.settled("0", "4", e)).toBe(true);
    expect(t.watermark("0")).toBe("5");
    expect(t.inFlight("0")).toBe(2);
    // already popped: ignored
    expect(t.settled("0", "4", e)).toBe(false);
    expect(t.settled("0", "6", e)).toBe(true);
    expect(t.watermark("0")).toBe("7");
    expect(t.inFlight("0")).toBe(0);
  });

  test("a redelivery of an offset in flight is not counted twice; of a popped one, it is tracked again", () => {
    const t = new ContiguousCommitTracker();
    t.reset("0");
    const e = t.delivered("0", "1");
    t.delivered("0", "2");
    t.delivered("0", "3");
    t.delivered("0", "2");
    expect(t.inFlight("0")).toBe(3);
    t.settled("0", "1", e);
    expect(t.watermark("0")).toBe("1");
    // 1 comes again (same epoch) after it was popped: in flight again, behind 2 and 3
    t.delivered("0", "1");
    expect(t.inFlight("0")).toBe(3);
    expect(t.settled("0", "1", e)).toBe(false);
    t.settled("0", "2", e);
    t.settled("0", "3", e);
    expect(t.watermark("0")).toBe("1");
    expect(t.inFlight("0")).toBe(0);
  });

  test("huge runs: 200,000 offsets settled in order, then one settled last of a second run", () => {
    const t = new ContiguousCommitTracker();
    t.reset("0", "999");
    const e = t.delivered("0", "1000");
    for (let i = 1001; i < 201_000; i++) t.delivered("0", String(i));
    expect(t.inFlight("0")).toBe(200_000);
    for (let i = 1000; i < 200_999; i++) t.settled("0", String(i), e);
    expect(t.watermark("0")).toBe("200998");
    expect(t.inFlight("0")).toBe(1);
    for (let i = 2_000_000; i < 2_000_100; i++) t.delivered("0", String(i));
    for (let i = 2_000_099; i >= 2_000_000; i--) t.settled("0", String(i), e);
    expect(t.watermark("0")).toBe("200998");
    expect(t.settled("0", "200999", e)).toBe(true);
    expect(t.watermark("0")).toBe("2000099");
    expect(t.inFlight("0")).toBe(0);
  });

  test("offsets beyond 2^53 and non-canonical ones switch the partition to strings, state kept", () => {
    const t = new ContiguousCommitTracker();
    t.reset("0");
    const e = t.delivered("0", "7");
    t.delivered("0", "8");
    t.settled("0", "8", e);
    t.delivered("0", "9007199254740993");
    t.delivered("0", "007");
    expect(t.inFlight("0")).toBe(4);
    expect(t.settled("0", "7", e)).toBe(true);
    expect(t.watermark("0")).toBe("8");
    t.settled("0", "007", e);
    expect(t.watermark("0")).toBe("8");
    t.settled("0", "9007199254740993", e);
    expect(t.watermark("0")).toBe("007");
    expect(t.inFlight("0")).toBe(0);
  });

  test("random deliveries, redeliveries and settles agree with a plain model of the window", () => {
    let seed = 19;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    for (let round = 0; round < 20; round++) {
      const t = new ContiguousCommitTracker();
      t.reset("0");
      // the model: delivery order of offsets not yet popped, and the settled ones among them
      let order: string[] = [];
      const settled = new Set<string>();
      let mark: string | undefined;
      let next = rand(5);
      let e = 0;
      for (let step = 0; step < 200; step++) {
        const op = rand(10);
        if (op < 5) {
          const offset = String(rand(8) === 0 ? Math.max(0, next - 1 - rand(6)) : next);
          if (offset === String(next)) next += 1 + (rand(6) === 0 ? rand(4) : 0);
          e = t.delivered("0", offset);
          if (!order.includes(offset)) order.push(offset);
        } else if (order.length > 0) {
          const offset = order[rand(order.length)]!;
          const moved = t.settled("0", offset, e);
          settled.add(offset);
          let popped = false;
          while (order.length > 0 && settled.has(order[0]!)) {
            settled.delete(order[0]!);
            mark = order[0]!;
            order = order.slice(1);
            popped = true;
          }
          expect(moved).toBe(popped);
        }
        expect(t.watermark("0")).toBe(mark);
        expect(t.inFlight("0")).toBe(order.length);
      }
    }
  });

  test("a reset mid-run starts over at the committed position", () => {
    const t = new ContiguousCommitTracker();
    t.reset("0");
    const old = t.delivered("0", "0");
    for (let i = 1; i < 100; i++) t.delivered("0", String(i));
    t.settled("0", "0", old);
    t.reset("0", "49");
    const e = t.delivered("0", "50");
    expect(t.settled("0", "1", old)).toBe(false);
    expect(t.inFlight("0")).toBe(1);
    expect(t.watermark("0")).toBe("49");
    t.settled("0", "50", e);
    expect(t.watermark("0")).toBe("50");
  });
});

describe("ContiguousCommitTracker whole runs (deliveredRun / settledRun)", () => {
  test("a run settled as a whole moves the watermark to its last offset", () => {
    const t = new ContiguousCommitTracker();
    t.reset("0", "99");
    const e = t.delivered("0", "100");
    t.deliveredRun("0", 101, 4_095);
    t.deliveredRun("0", 4_196, 4_096);
    expect(t.inFlight("0")).toBe(8_192);
    expect(t.settledRun("0", 100, 4_096, e)).toBe(true);
    expect(t.watermark("0")).toBe("4195");
    expect(t.inFlight("0")).toBe(4_096);
    expect(t.settledRun("0", 4_196, 4_096, e)).toBe(true);
    expect(t.watermark("0")).toBe("8291");
    expect(t.inFlight("0")).toBe(0);
  });

  test("one message of a run retried or dead-lettered in the middle: the commit stops before it", () => {
    const t = new ContiguousCommitTracker();
    t.reset("0");
    const e = t.deliveredRun("0", 0, 10);
    // 0..3 handled, 4 is retrying, 5..9 handled meanwhile (ordering "key": other keys go on)
    expect(t.settledRun("0", 0, 4, e)).toBe(true);
    expect(t.settledRun("0", 5, 5, e)).toBe(false);
    expect(t.watermark("0")).toBe("3");
    expect(t.inFlight("0")).toBe(6);
    // 4 is dead-lettered (settled): the watermark runs over the rest of the run
    expect(t.settled("0", "4", e)).toBe(true);
    expect(t.watermark("0")).toBe("9");
    expect(t.inFlight("0")).toBe(0);
  });

  test("a partly settled run; a later run settled before it waits; settles already out of order inside the run", () => {
    const t = new ContiguousCommitTracker();
    t.reset("0", "9");
    const e = t.deliveredRun("0", 10, 100);
    t.deliveredRun("0", 110, 50);
    expect(t.settledRun("0", 110, 50, e)).toBe(false);
    expect(t.settled("0", "50", e)).toBe(false);
    expect(t.settledRun("0", 10, 30, e)).toBe(true);
    expect(t.watermark("0")).toBe("39");
    expect(t.settledRun("0", 40, 20, e)).toBe(true);
    expect(t.watermark("0")).toBe("59");
    expect(t.inFlight("0")).toBe(100);
    expect(t.settledRun("0", 60, 50, e)).toBe(true);
    expect(t.watermark("0")).toBe("159");
    expect(t.inFlight("0")).toBe(0);
    // settling again, or what was never delivered, moves nothing
    expect(t.settledRun("0", 10, 200, e)).toBe(false);
    expect(t.watermark("0")).toBe("159");
  });

  test("revoke or seek (reset) mid-run: settles of the old run are ignored", () => {
    const t = new ContiguousCommitTracker();
    t.reset("0");
    const old = t.deliveredRun("0", 0, 1_000);
    t.settledRun("0", 0, 10, old);
    t.reset("0", "499");
    const e = t.deliveredRun("0", 500, 100);
    expect(t.settledRun("0", 10, 990, old)).toBe(false);
    expect(t.watermark("0")).toBe("499");
    expect(t.inFlight("0")).toBe(100);
    expect(t.settledRun("0", 500, 100, e)).toBe(true);
    expect(t.watermark("0")).toBe("599");
    t.remove("0");
    expect(t.settledRun("0", 600, 1, e)).toBe(false);
    expect(t.inFlight("0")).toBe(0);
  });

  test("a run redelivered while in flight is not counted twice; runs agree with per-offset calls", () => {
    const t = new ContiguousCommitTracker();
    t.reset("0");
    const e = t.deliveredRun("0", 0, 5);
    t.deliveredRun("0", 3, 5);
    expect(t.inFlight("0")).toBe(8);
    t.settledRun("0", 0, 8, e);
    expect(t.watermark("0")).toBe("7");
    expect(t.inFlight("0")).toBe(0);
    // against the string form (a partition whose offsets stopped being integers)
    const s = new ContiguousCommitTracker();
    s.reset("0");
    const se = s.delivered("0", "x");
    s.deliveredRun("0", 1, 3);
    expect(s.settledRun("0", 1, 3, se)).toBe(false);
    expect(s.settled("0", "x", se)).toBe(true);
    expect(s.watermark("0")).toBe("3");
  });
});

describe("KeyedExecutor", () => {
  test("in order per key, concurrent across keys, bounded by maxInFlight", async () => {
    const ex = new KeyedExecutor(4);
    const order = new Map<string, number[]>();
    let running = 0;
    let maxRunning = 0;
    const all: Promise<void>[] = [];
    for (let i = 0; i < 40; i++) {
      await ex.waitForCapacity();
      const key = `k${i % 8}`;
      all.push(
        ex.submit(key, async () => {
          running += 1;
          maxRunning = Math.max(maxRunning, running);
          await tick(Math.random() * 3);
          order.set(key, [...(order.get(key) ?? []), i]);
          running -= 1;
        }),
      );
    }
    await Promise.all(all);
    expect(maxRunning).toBeLessThanOrEqual(4);
    expect(maxRunning).toBeGreaterThan(1);
    for (const [key, list] of order) expect(list).toEqual([...list].sort((a, b) => a - b).filter(() => key !== ""));
  });

  test("a slow task holds back only its own key", async () => {
    const ex = new KeyedExecutor(10);
    let release!: () => void;
    const blocked = new Promise<void>((r) => (release = r));
    const done: string[] = [];
    void ex.submit("slow", () => blocked.then(() => void done.push("slow-1")));
    void ex.submit("slow", async () => void done.push("slow-2"));
    await ex.submit("fast", async () => void done.push("fast-1"));
    await ex.submit("fast", async () => void done.push("fast-2"));
    expect(done).toEqual(["fast-1", "fast-2"]);
    release();
    await ex.waitForIdle();
    expect(done).toEqual(["fast-1", "fast-2", "slow-1", "slow-2"]);
  });

  test("maxInFlight below 1 is INVALID_ARGUMENT", () => {
    expect(() => new KeyedExecutor(0)).toThrow(/maxInFlight/);
  });
});

describe("retry policy (p-retry)", () => {
  test("retries until success, counting attempts", async () => {
    const seen: number[] = [];
    const result = await runWithRetry({ maxAttempts: 5, minDelayMs: 1, maxDelayMs: 2 }, async (attempt) => {
      seen.push(attempt);
      if (attempt < 3) throw new TypeError("a bug that might be transient");
      return "ok";
    });
    expect(result).toBe("ok");
    expect(seen).toEqual([1, 2, 3]);
  });

  test("stops at maxAttempts and rethrows the last error; shouldRetry can stop early", async () => {
    let calls = 0;
    await expect(
      runWithRetry({ maxAttempts: 3, minDelayMs: 1, maxDelayMs: 1 }, async () => {
        calls += 1;
        throw new Error(`fail ${calls}`);
      }),
    ).rejects.toThrow("fail 3");
    calls = 0;
    await expect(
      runWithRetry(
        { maxAttempts: 3, minDelayMs: 1, maxDelayMs: 1 },
        async () => {
          calls += 1;
          throw new PermanentError("no");
        },
        { shouldRetry: (e) => !(e instanceof PermanentError) },
      ),
    ).rejects.toBeInstanceOf(PermanentError);
    expect(calls).toBe(1);
  });

  test("bad policies name the field", () => {
    expect(() => resolveRetryPolicy({ maxAttempts: 0 })).toThrow(/retry.maxAttempts/);
    expect(() => resolveRetryPolicy({ minDelayMs: 10, maxDelayMs: 5 })).toThrow(/retry.maxDelayMs/);
  });
});

describe("MemoryDedupeStore", () => {
  test("claim → complete → done; release frees the key; abandoned claims expire", async () => {
    let now = 1_000;
    const store = new MemoryDedupeStore({ claimTimeoutMs: 100, now: () => now });
    expect(await store.claim("a", 10_000)).toBe("claimed");
    expect(await store.claim("a", 10_000)).toBe("busy");
    await store.complete("a");
    expect(await store.claim("a", 10_000)).toBe("done");
    expect(await store.claim("b", 10_000)).toBe("claimed");
    await store.release("b");
    expect(await store.claim("b", 10_000)).toBe("claimed");
    now += 101; // the worker holding b died
    expect(await store.claim("b", 10_000)).toBe("claimed");
    now += 20_000; // a's ttl passed
    expect(await store.claim("a", 10_000)).toBe("claimed");
  });
});

describe("MemoryDedupeStore ownership", () => {
  test("a complete by a token whose claim expired or was taken over is FENCED; the holder's complete and a repeat of it succeed", async () => {
    let now = 1_000;
    const store = new MemoryDedupeStore({ claimTimeoutMs: 100, now: () => now });
    expect(await store.claim("k", 10_000, "w1")).toBe("claimed");
    now += 101; // w1 stalled past its claim
    await expect(store.complete("k", "w1")).rejects.toMatchObject({ code: "FENCED", retriable: false });
    expect(await store.claim("k", 10_000, "w2")).toBe("claimed");
    await expect(store.complete("k", "w1")).rejects.toMatchObject({ code: "FENCED" });
    await store.release("k", "w1"); // not w1's claim any more: nothing happens
    expect(await store.claim("k", 10_000, "w3")).toBe("busy");
    await store.complete("k", "w2");
    await store.complete("k", "w2"); // a retried complete is accepted
    expect(await store.claim("k", 10_000, "w3")).toBe("done");
  });
});

describe("MemoryDedupeStore bounds", () => {
  test("remembers at most maxEntries keys, forgetting the least recently written first, and counts what it forgot", async () => {
    const store = new MemoryDedupeStore({ maxEntries: 3 });
    for (const k of ["a", "b", "c"]) {
      await store.claim(k, 60_000, k);
      await store.complete(k, k);
    }
    await store.claim("a", 60_000, "x"); // "done": a read does not refresh it
    await store.claim("d", 60_000, "d");
    expect(store.size).toBe(3);
    expect(store.evictions).toBe(1);
    expect(await store.claim("a", 60_000, "y")).toBe("claimed"); // forgotten: handled again
    expect(await store.claim("c", 60_000, "y")).toBe("done");
  });

  test("a completed key is remembered at most maxTtlMs, whatever ttl the claim asked for", async () => {
    let now = 0;
    const store = new MemoryDedupeStore({ maxTtlMs: 1_000, now: () => now });
    await store.claim("k", 24 * 3600_000, "w");
    await store.complete("k", "w");
    now += 999;
    expect(await store.claim("k", 60_000, "v")).toBe("done");
    now += 2;
    expect(await store.claim("k", 60_000, "v")).toBe("claimed");
  });

  test("bad bounds are INVALID_ARGUMENT naming the option", () => {
    expect(() => new MemoryDedupeStore({ maxEntries: 0 })).toThrow(/maxEntries/);
  });
});

describe("Batcher", () => {
  test("packs by count and bytes, one result per entry, in order", async () => {
    const batches: number[][] = [];
    const b = new Batcher<number, string>({ lingerMs: 0, maxBatchCount: 3, maxBatchBytes: 100 }, async (items) => {
      batches.push(items);
      return items.map((i) => `r${i}`);
    });
    const results = await Promise.all([1, 2, 3, 4, 5, 6, 7].map((i) => b.add(i, i === 5 ? 95 : 10)));
    expect(results).toEqual(["r1", "r2", "r3", "r4", "r5", "r6", "r7"]);
    expect(batches.flat()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(batches.every((x) => x.length <= 3)).toBe(true);
    expect(batches).toContainEqual([4]); // 4 + 5 would pass 100 bytes
  });

  test("with maxInFlightBatches 2, two batches overlap and every entry still gets its own result", async () => {
    let concurrent = 0;
    let maxConcurrent = 0;
    const sent: number[][] = [];
    const b = new Batcher<number, number>({ lingerMs: 0, maxBatchCount: 2, maxBatchBytes: 1e6, maxInFlightBatches: 2 }, async (items) => {
      concurrent += 1;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      sent.push(items);
      await tick(5);
      concurrent -= 1;
      return items.map((i) => i * 10);
    });
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => b.add(i, 1)));
    expect(results).toEqual([10, 20, 30, 40, 50, 60]);
    expect(maxConcurrent).toBe(2);
    expect(sent.flat()).toEqual([1, 2, 3, 4, 5, 6]);
    await b.flush();
  });

  test("addMany runs larger than a batch are split, mixed with single adds, and answered in order", async () => {
    const batches: number[][] = [];
    const b = new Batcher<number, number>({ lingerMs: 0, maxBatchCount: 4, maxBatchBytes: 1e6 }, async (items) => {
      batches.push([...items]);
      return items.map((i) => -i);
    });
    const single = b.add(0, 1);
    const many = b.addMany([1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, 1]);
    const whole = b.addMany([7, 8], [1, 1]);
    const last = b.add(9, 1);
    expect(await single).toBe(-0);
    expect(await many).toEqual([-1, -2, -3, -4, -5, -6]);
    expect(await whole).toEqual([-7, -8]);
    expect(await last).toBe(-9);
    expect(batches).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    // A run that is a batch on its own is answered with that batch's results.
    const alone = await b.addMany([10, 11], [1, 1]);
    expect(alone).toEqual([-10, -11]);
    await b.close();
  });

  test("linger waits for company; flush sends at once", async () => {
    const batches: number[][] = [];
    const b = new Batcher<number, number>({ lingerMs: 10_000, maxBatchCount: 100, maxBatchBytes: 1e6 }, async (items) => {
      batches.push(items);
      return items;
    });
    const p = [b.add(1, 1), b.add(2, 1)];
    await tick(20);
    expect(batches).toEqual([]);
    await b.flush();
    await Promise.all(p);
    expect(batches).toEqual([[1, 2]]);
    await b.close();
    await expect(b.add(3, 1)).rejects.toMatchObject({ code: "CLOSED" });
  });
});

describe("partitioner", () => {
  test("murmur2 matches Kafka's Java implementation", () => {
    // Vectors from Apache Kafka's UtilsTest.testMurmur2.
    const vectors: Array<[string, number]> = [
      ["21", -973932308],
      ["foobar", -790332482],
      ["a-little-bit-long-string", -985981536],
      ["a-little-bit-longer-string", -1486304829],
      ["lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971],
      ["abc", 479470107],
    ];
    for (const [text, expected] of vectors) expect(murmur2(Buffer.from(text))).toBe(expected);
  });

  test("partitionForKey is stable and in range", () => {
    for (let i = 0; i < 200; i++) {
      const p = partitionForKey(`cust-${i}`, 7);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(7);
      expect(partitionForKey(`cust-${i}`, 7)).toBe(p);
    }
  });
});

describe("traceparent", () => {
  test("parses and formats W3C trace context, rejecting invalid ids", () => {
    const tp = parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    expect(tp).toEqual({ version: "00", traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", flags: "01" });
    expect(formatTraceparent(tp!)).toBe("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    expect(parseTraceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01")).toBeUndefined();
    expect(parseTraceparent("garbage")).toBeUndefined();
  });
});

describe("connect() URL registry", () => {
  test("bad and unknown URLs are INVALID_URL naming the scheme and what is installed", async () => {
    await expect(connect("")).rejects.toMatchObject({ code: "INVALID_URL" });
    await expect(connect("no-scheme-here")).rejects.toMatchObject({ code: "INVALID_URL", message: expect.stringMatching(/no scheme/) });
    await expect(connect("nosuch://x")).rejects.toMatchObject({ code: "INVALID_URL", message: expect.stringMatching(/"nosuch:" is not available/) });
  });

  test("a registered scheme gets the URL and options", async () => {
    let seen: unknown;
    registerBackend("unit-test", async (url, options) => {
      seen = { url, options };
      throw new BrookError("UNAVAILABLE", "not really");
    });
    await expect(connect("unit-test://a", { x: 1 })).rejects.toMatchObject({ code: "UNAVAILABLE" });
    expect(seen).toEqual({ url: "unit-test://a", options: { x: 1 } });
    expect(schemeOf("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k")).toBe("eventhubs");
  });
});
