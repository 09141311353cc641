import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import {
  BrookError,
  DLQ_HEADERS,
  MemoryDedupeStore,
  PermanentError,
  type Broker,
  type Capabilities,
  type OutgoingMessage,
  type ReceivedMessage,
  type SubscribeOptions,
  type Subscription,
} from "@brook/core";
import { gate, sleep, uniqueTopic, waitFor } from "./helpers.js";

export { gate, sleep, uniqueTopic, waitFor } from "./helpers.js";

export interface ContractBackend {
  /** shown in test names */
  name: string;
  /** opens a new connection to the backend under test */
  connect(): Promise<Broker>;
  /** partitions for test topics where the backend has them (default 4) */
  partitions?: number;
  /** multiplies every wait (slow emulators) */
  timeoutScale?: number;
  /**
   * The capabilities the backend declares. With them, cases it cannot support are reported
   * by jest as skipped (named by the capability); the suite also checks that the connected
   * broker reports exactly these. Without them, such cases pass early and log the skip.
   */
  capabilities?: Capabilities;
}

type Need = (caps: Capabilities) => string | undefined;

/**
 * The universal suite: every backend's jest file calls this with a way to connect. Cases that a
 * backend cannot support are skipped by capability, and the skip names the capability.
 */
export function runContractSuite(backend: ContractBackend): void {
  const scale = backend.timeoutScale ?? 1;
  const wait = (ms: number): number => ms * scale;
  const partitions = backend.partitions ?? 4;
  let broker: Broker;
  let caps: Capabilities;
  const open: Subscription[] = [];

  beforeAll(async () => {
    broker = await backend.connect();
    caps = broker.capabilities;
  });

  if (backend.capabilities !== undefined) {
    const declared = backend.capabilities;
    test("the broker reports the capabilities the suite was told", () => {
      expect(caps).toEqual(declared);
    });
  }

  afterAll(async () => {
    await Promise.allSettled(open.map((s) => s.close({ drain: false })));
    await broker?.close();
  });

  async function topic(prefix: string, parts = partitions): Promise<string> {
    const name = uniqueTopic(prefix);
    await broker.admin.createTopic(name, { partitions: parts });
    return name;
  }

  async function subscribe<T>(name: string, options: SubscribeOptions<T>, on: Broker = broker): Promise<Subscription> {
    const sub = await on.subscribe<T>(name, { startFrom: "earliest", ...options });
    open.push(sub);
    return sub;
  }

  /** Runs a case only when the backend has what it needs; otherwise logs which capability skipped it. */
  function when(name: string, need: Need, fn: () => Promise<void>, timeout?: number): void {
    const missing = backend.capabilities === undefined ? undefined : need(backend.capabilities);
    if (missing !== undefined) {
      test.skip(`${name} [skipped by capability ${missing}]`, () => undefined);
      return;
    }
    test(
      name,
      async () => {
        const missing = need(caps);
        if (missing !== undefined) {
          console.log(`[contract:${backend.name}] skipped "${name}": capability ${missing}`);
          return;
        }
        await fn();
      },
      timeout ?? wait(60_000),
    );
  }
  const always: Need = () => undefined;

  describe(`contract suite: ${backend.name}`, () => {
    // 1
    test("round trip of bytes, string and json with headers, key and idempotency key", async () => {
      const cases: Array<{ codec: "bytes" | "string" | "json"; data: unknown }> = [
        { codec: "bytes", data: Buffer.from([0, 1, 2, 250, 255]) },
        { codec: "string", data: "héllo wörld ✓" },
        { codec: "json", data: { total: 12, items: ["a", "b"], nested: { ok: true } } },
      ];
      for (const c of cases) {
        const name = await topic(`rt-${c.codec}`);
        const got: ReceivedMessage<unknown>[] = [];
        await subscribe<unknown>(name, { group: "g", codec: c.codec, handler: (m) => void got.push(m) });
        const pub = broker.publisher<unknown>(name, { codec: c.codec });
        const r = await pub.publish({ data: c.data, key: "cust-42", idempotencyKey: `order-${c.codec}`, headers: { source: "web", "x-n": "1" } });
        expect(r.duplicate).toBe(false);
        expect(typeof r.position.partition).toBe("string");
        expect(typeof r.position.offset).toBe("string");
        await waitFor(() => got.length === 1, wait(20_000), `the ${c.codec} message`);
        const m = got[0]!;
        if (c.codec === "bytes") expect(Buffer.from(m.data as Uint8Array).equals(c.data as Buffer)).toBe(true);
        else expect(m.data).toEqual(c.data);
        expect(m.key).toBe("cust-42");
        expect(m.idempotencyKey).toBe(`order-${c.codec}`);
        expect(m.headers).toMatchObject({ source: "web", "x-n": "1" });
        expect(m.topic).toBe(name);
        expect(m.deliveryAttempt).toBe(1);
        expect(m.publishTime).toBeInstanceOf(Date);
        expect(Math.abs(m.publishTime.getTime() - Date.now())).toBeLessThan(wait(60_000));
        expect(m.position).toEqual(r.position);
        await pub.close();
      }
    });

    // 2
    test("per-key order under concurrency: 50 keys x 200 messages, maxInFlight 64, random delays", async () => {
      const keys = 50;
      const perKey = 200;
      const name = await topic("order");
      const seen = new Map<string, number[]>();
      let running = 0;
      let maxRunning = 0;
      const runningKeys = new Set<string>();
      let maxDistinctKeys = 0;
      let handled = 0;
      await subscribe<{ k: string; i: number }>(name, {
        group: "g",
        maxInFlight: 64,
        ordering: "key",
        handler: async (m) => {
          running += 1;
          runningKeys.add(m.data.k);
          maxRunning = Math.max(maxRunning, running);
          maxDistinctKeys = Math.max(maxDistinctKeys, runningKeys.size);
          const list = seen.get(m.data.k) ?? [];
          list.push(m.data.i);
          seen.set(m.data.k, list);
          await sleep(Math.random() < 0.5 ? 0 : Math.floor(Math.random() * 3));
          runningKeys.delete(m.data.k);
          running -= 1;
          handled += 1;
        },
      });
      const pub = broker.publisher<{ k: string; i: number }>(name);
      const batch: OutgoingMessage<{ k: string; i: number }>[] = [];
      for (let i = 0; i < perKey; i++) for (let k = 0; k < keys; k++) batch.push({ key: `key-${k}`, data: { k: `key-${k}`, i } });
      for (let i = 0; i < batch.length; i += 500) {
        const results = await pub.publishBatch(batch.slice(i, i + 500));
        expect(results.every((r) => r.ok)).toBe(true);
      }
      await waitFor(() => handled >= keys * perKey, wait(120_000), `${keys * perKey} messages handled`);
      await sleep(100);
      expect(handled).toBe(keys * perKey);
      for (let k = 0; k < keys; k++) {
        expect(seen.get(`key-${k}`)).toEqual(Array.from({ length: perKey }, (_, i) => i));
      }
      expect(maxRunning).toBeLessThanOrEqual(64);
      expect(maxDistinctKeys).toBeGreaterThan(1);
      await pub.close();
    }, wait(180_000));

    // 3
    when("fan-out: two groups each receive every message", (c) => (c.consumerGroups ? undefined : "consumerGroups"), async () => {
      const name = await topic("fanout");
      const a: number[] = [];
      const b: number[] = [];
      await subscribe<number>(name, { group: "billing", handler: (m) => void a.push(m.data) });
      await subscribe<number>(name, { group: "shipping", handler: (m) => void b.push(m.data) });
      const pub = broker.publisher<number>(name);
      await pub.publishBatch(Array.from({ length: 100 }, (_, i) => ({ data: i, key: `k${i % 7}` })));
      await waitFor(() => a.length >= 100 && b.length >= 100, wait(30_000), "both groups to receive 100");
      expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
      expect([...b].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
      await pub.close();
    });

    when("competing consumers: two members of one group split the work, each message once", (c) => (c.consumerGroups ? undefined : "consumerGroups"), async () => {
      const name = await topic("compete");
      const handledBy = new Map<number, string[]>();
      const record = (member: string) => async (m: ReceivedMessage<number>) => {
        const list = handledBy.get(m.data) ?? [];
        list.push(member);
        handledBy.set(m.data, list);
        await sleep(2);
      };
      const one = await subscribe<number>(name, { group: "workers", maxInFlight: 8, handler: record("one") });
      const two = await subscribe<number>(name, { group: "workers", maxInFlight: 8, handler: record("two") });
      await waitFor(() => one.assignment().length > 0 && two.assignment().length > 0, wait(30_000), "both members to get an assignment");
      const pub = broker.publisher<number>(name);
      const total = 400;
      await pub.publishBatch(Array.from({ length: total }, (_, i) => ({ data: i, key: `k${i}` })));
      await waitFor(() => handledBy.size >= total, wait(60_000), `${total} messages handled`);
      await sleep(200);
      expect(handledBy.size).toBe(total);
      for (const members of handledBy.values()) expect(members).toHaveLength(1);
      const byOne = [...handledBy.values()].filter((m) => m[0] === "one").length;
      expect(byOne).toBeGreaterThan(0);
      expect(byOne).toBeLessThan(total);
      await pub.close();
    });

    // 4
    test("a throwing handler is retried with deliveryAttempt + 1", async () => {
      const name = await topic("retry", 1);
      const attempts: number[] = [];
      await subscribe<string>(name, {
        group: "g",
        retry: { maxAttempts: 5, minDelayMs: 5, maxDelayMs: 20 },
        handler: (m) => {
          attempts.push(m.deliveryAttempt);
          if (attempts.length < 3) throw new Error("transient");
        },
      });
      await broker.publisher<string>(name).publish({ data: "x" });
      await waitFor(() => attempts.length >= 3, wait(20_000), "three attempts");
      await sleep(100);
      expect(attempts).toEqual([1, 2, 3]);
    });

    test("attempts exhausted or PermanentError: dead-lettered with brook-* headers, not redelivered", async () => {
      const name = await topic("dlq", 1);
      const dlq = await topic("dlq-target", 1);
      const calls = new Map<string, number>();
      const handled: string[] = [];
      await subscribe<string>(name, {
        group: "g",
        retry: { maxAttempts: 3, minDelayMs: 5, maxDelayMs: 20 },
        deadLetter: { topic: dlq },
        ordering: "none",
        handler: (m) => {
          calls.set(m.data, (calls.get(m.data) ?? 0) + 1);
          if (m.data === "poison") throw new Error("cannot process poison");
          if (m.data === "fatal") throw new PermanentError("fatal input");
          handled.push(m.data);
        },
      });
      const dead: ReceivedMessage<string>[] = [];
      await subscribe<string>(dlq, { group: "dlq-reader", codec: "string", handler: (m) => void dead.push(m) });
      const pub = broker.publisher<string>(name);
      await pub.publish({ data: "poison", key: "p", headers: { trace: "t1" } });
      await pub.publish({ data: "fatal", key: "f" });
      await pub.publish({ data: "fine", key: "ok" });
      await waitFor(() => dead.length >= 2 && handled.includes("fine"), wait(30_000), "two dead letters and the fine message");
      // A later message proves the subscriber moved on; the poison one must not come back.
      await pub.publish({ data: "sentinel" });
      await waitFor(() => handled.includes("sentinel"), wait(20_000), "the sentinel");
      await sleep(200);
      expect(calls.get("poison")).toBe(3);
      expect(calls.get("fatal")).toBe(1);
      const poison = dead.find((m) => m.data.includes("poison"))!;
      expect(poison).toBeDefined();
      expect(poison.headers[DLQ_HEADERS.reason]).toContain("cannot process poison");
      expect(poison.headers[DLQ_HEADERS.originalTopic]).toBe(name);
      expect(poison.headers[DLQ_HEADERS.originalPosition]).toMatch(/.+:.+/);
      expect(poison.headers[DLQ_HEADERS.attempts]).toBe("3");
      expect(poison.headers.trace).toBe("t1");
      expect(poison.key).toBe("p");
      const fatal = dead.find((m) => m.data.includes("fatal"))!;
      expect(fatal.headers[DLQ_HEADERS.attempts]).toBe("1");
      expect(fatal.headers[DLQ_HEADERS.reason]).toContain("fatal input");
      expect(dead).toHaveLength(2);
      await pub.close();
    });

    test("batchHandler: every message once, batches within maxBatchSize, a throwing batch retried whole", async () => {
      const name = await topic("batch", 1);
      const seen: number[] = [];
      const sizes: number[] = [];
      let failedOnce = false;
      const attemptsOfFirst: number[] = [];
      await subscribe<number>(name, {
        group: "g",
        maxBatchSize: 50,
        retry: { maxAttempts: 3, minDelayMs: 5, maxDelayMs: 20 },
        batchHandler: (messages) => {
          if (messages.some((m) => m.data === 0)) attemptsOfFirst.push(messages[0]!.deliveryAttempt);
          if (!failedOnce && messages.some((m) => m.data === 0)) {
            failedOnce = true;
            throw new Error("first batch fails once");
          }
          sizes.push(messages.length);
          for (const m of messages) seen.push(m.data);
        },
      });
      const pub = broker.publisher<number>(name);
      await pub.publishBatch(Array.from({ length: 300 }, (_, i) => ({ data: i })));
      await waitFor(() => seen.length >= 300, wait(30_000), "300 messages in batches");
      await sleep(100);
      // One partition keeps publish order; without partitions (Pub/Sub) unkeyed order is not promised.
      const expected = Array.from({ length: 300 }, (_, i) => i);
      expect(caps.partitions === "none" ? [...seen].sort((a, b) => a - b) : seen).toEqual(expected);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(50);
      expect(attemptsOfFirst).toEqual([1, 2]);
      await pub.close();
    });

    // 5
    test("at-least-once across an abandoned subscriber: nothing unacknowledged is lost; the commit never passes a slow message", async () => {
      const name = await topic("crash", 1);
      const total = 300;
      const slowIndex = 50;
      const acked = new Set<number>();
      const never = gate();
      const first = await subscribe<number>(name, {
        group: "g",
        ordering: "none",
        maxInFlight: 256,
        commitIntervalMs: 20,
        handler: async (m) => {
          if (m.data === slowIndex || m.data >= 200) await never.promise; // in flight, never settles
          acked.add(m.data);
        },
      });
      const pub = broker.publisher<number>(name);
      await pub.publishBatch(Array.from({ length: total }, (_, i) => ({ data: i })));
      await waitFor(() => acked.size >= 199, wait(30_000), "messages around the slow one to be acked");
      // n+1 … n+100 (and more) are acked while n is still in flight.
      for (let i = slowIndex + 1; i <= slowIndex + 100; i++) expect(acked.has(i)).toBe(true);
      await sleep(100); // several commit intervals pass
      await first.close({ drain: false });
      const second: number[] = [];
      await subscribe<number>(name, { group: "g", ordering: "none", handler: (m) => void second.push(m.data) });
      await waitFor(() => second.includes(slowIndex) && second.filter((i) => i >= 200).length >= 100, wait(30_000), "redelivery of unacknowledged messages");
      const union = new Set([...acked, ...second]);
      for (let i = 0; i < total; i++) expect(union.has(i)).toBe(true);
      expect(second).toContain(slowIndex);
      never.open();
      await pub.close();
    });

    // 6
    when("publish dedupe: a repeated idempotency key within the window is dropped", (c) => (c.publishDedupe === "window" ? undefined : "publishDedupe"), async () => {
      const name = await topic("pubdedupe");
      const got: string[] = [];
      await subscribe<string>(name, { group: "g", handler: (m) => void got.push(m.data) });
      const pub = broker.publisher<string>(name);
      const first = await pub.publish({ data: "a", key: "k", idempotencyKey: "order-1001" });
      const again = await pub.publish({ data: "a-again", key: "k", idempotencyKey: "order-1001" });
      expect(first.duplicate).toBe(false);
      expect(again.duplicate).toBe(true);
      expect(again.position).toEqual(first.position);
      const batch = await pub.publishBatch([
        { data: "b", idempotencyKey: "order-1002" },
        { data: "b-again", idempotencyKey: "order-1002" },
      ]);
      expect(batch.map((r) => r.ok && r.duplicate)).toEqual([false, true]);
      await pub.publish({ data: "end" });
      await waitFor(() => got.includes("end"), wait(20_000), "the last message");
      await sleep(100);
      expect(got.sort()).toEqual(["a", "b", "end"]);
      await pub.close();
    });

    when(
      "consumer dedupe: each idempotency key reaches the handler once even when redelivered",
      (c) => (c.publishDedupe === "none" || c.seek.offset || c.seek.time ? undefined : "seek or publishDedupe none"),
      async () => {
        const name = await topic("dedupe", 1);
        const store = new MemoryDedupeStore();
        const calls = new Map<string, number>();
        const sub = await subscribe<string>(name, {
          group: "g",
          dedupe: { store, ttlMs: 60_000 },
          handler: (m) => void calls.set(m.idempotencyKey!, (calls.get(m.idempotencyKey!) ?? 0) + 1),
        });
        const pub = broker.publisher<string>(name);
        const since = new Date(Date.now() - 1_000);
        for (let i = 0; i < 10; i++) await pub.publish({ data: `m${i}`, idempotencyKey: `id-${i}` });
        await waitFor(() => calls.size === 10, wait(20_000), "ten keys handled");
        // Make the broker deliver everything again.
        if (caps.publishDedupe === "none") {
          for (let i = 0; i < 10; i++) await pub.publish({ data: `m${i}`, idempotencyKey: `id-${i}` });
        } else if (caps.seek.offset) {
          const first = (await Promise.resolve(sub.health()))[0]!;
          await sub.seek({ positions: [{ partition: first.partition, offset: "0" }] });
        } else {
          await sub.seek({ time: since });
        }
        await pub.publish({ data: "after", idempotencyKey: "id-after" });
        await waitFor(() => calls.has("id-after"), wait(20_000), "the message after the redelivery");
        await sleep(200);
        for (let i = 0; i < 10; i++) expect(calls.get(`id-${i}`)).toBe(1);
        await pub.close();
      },
    );

    test("consumer dedupe: a failed handler releases its claim so the retry runs", async () => {
      const name = await topic("dedupe-fail", 1);
      const store = new MemoryDedupeStore();
      let calls = 0;
      let done = false;
      await subscribe<string>(name, {
        group: "g",
        dedupe: { store },
        retry: { maxAttempts: 3, minDelayMs: 5, maxDelayMs: 10 },
        handler: () => {
          calls += 1;
          if (calls === 1) throw new Error("first try fails");
          done = true;
        },
      });
      await broker.publisher<string>(name).publish({ data: "x", idempotencyKey: "once" });
      await waitFor(() => done, wait(20_000), "the retry to succeed");
      expect(calls).toBe(2);
      expect(await store.claim("once", 60_000)).toBe("done");
    });

    // 7
    when("startFrom earliest, latest and time", (c) => (c.replayAfterAck && c.seek.time ? undefined : "replayAfterAck + seek.time"), async () => {
      const name = await topic("start", 1);
      const pub = broker.publisher<number>(name);
      await pub.publishBatch([0, 1, 2].map((i) => ({ data: i })));
      await sleep(50);
      const middle = new Date();
      await sleep(50);
      await pub.publishBatch([3, 4].map((i) => ({ data: i })));
      const earliest: number[] = [];
      const latest: number[] = [];
      const fromTime: number[] = [];
      await subscribe<number>(name, { group: "e", startFrom: "earliest", handler: (m) => void earliest.push(m.data) });
      const late = await subscribe<number>(name, { group: "l", startFrom: "latest", handler: (m) => void latest.push(m.data) });
      await subscribe<number>(name, { group: "t", startFrom: { time: middle }, handler: (m) => void fromTime.push(m.data) });
      await waitFor(() => late.assignment().length > 0, wait(20_000), "the latest subscriber's assignment");
      await pub.publish({ data: 5 });
      await waitFor(() => earliest.length >= 6 && latest.length >= 1 && fromTime.length >= 3, wait(20_000), "all three groups");
      await sleep(100);
      expect(earliest).toEqual([0, 1, 2, 3, 4, 5]);
      expect(latest).toEqual([5]);
      expect(fromTime).toEqual([3, 4, 5]);
      await pub.close();
    });

    when("seek by time replays acknowledged messages", (c) => (c.replayAfterAck && c.seek.time ? undefined : "replayAfterAck + seek.time"), async () => {
      const name = await topic("seektime", 1);
      const got: number[] = [];
      const sub = await subscribe<number>(name, { group: "g", handler: (m) => void got.push(m.data) });
      const pub = broker.publisher<number>(name);
      await pub.publishBatch([0, 1].map((i) => ({ data: i })));
      await sleep(50);
      const middle = new Date();
      await sleep(50);
      await pub.publishBatch([2, 3].map((i) => ({ data: i })));
      await waitFor(() => got.length >= 4, wait(20_000), "four messages");
      await sub.seek({ time: middle });
      await waitFor(() => got.length >= 6, wait(20_000), "the replay");
      await sleep(100);
      expect(got).toEqual([0, 1, 2, 3, 2, 3]);
      await pub.close();
    });

    when("seek by positions replays from the given offset", (c) => (c.seek.offset ? undefined : "seek.offset"), async () => {
      const name = await topic("seekpos", 1);
      const got: ReceivedMessage<number>[] = [];
      const sub = await subscribe<number>(name, { group: "g", handler: (m) => void got.push(m) });
      const pub = broker.publisher<number>(name);
      const results = await pub.publishBatch([0, 1, 2, 3].map((i) => ({ data: i })));
      await waitFor(() => got.length >= 4, wait(20_000), "four messages");
      const third = results[2]!;
      if (!third.ok) throw third.error;
      await sub.seek({ positions: [third.position] });
      await waitFor(() => got.length >= 6, wait(20_000), "the replay");
      await sleep(100);
      expect(got.map((m) => m.data)).toEqual([0, 1, 2, 3, 2, 3]);
      await pub.close();
    });

    test("seek is refused with UNSUPPORTED where the backend cannot do it", async () => {
      if (caps.seek.offset && caps.seek.time) return; // nothing to refuse
      const name = await topic("seekno", 1);
      const sub = await subscribe<number>(name, { group: "g", handler: () => undefined });
      const target = caps.seek.offset ? { time: new Date() } : { positions: [{ partition: "0", offset: "0" }] };
      await expect(sub.seek(target)).rejects.toMatchObject({ code: "UNSUPPORTED" });
    });

    // 8
    test("publishBatch partial failure: an oversize entry gets MESSAGE_TOO_LARGE, the rest are published", async () => {
      const name = await topic("partial", 1);
      const got: string[] = [];
      await subscribe<Uint8Array>(name, { group: "g", codec: "bytes", handler: (m) => void got.push(Buffer.from(m.data).toString()) });
      const pub = broker.publisher<Uint8Array>(name, { codec: "bytes" });
      const big = Buffer.alloc(caps.maxMessageBytes + 1, 0x61);
      const results = await pub.publishBatch([Buffer.from("m0"), Buffer.from("m1"), big, Buffer.from("m3")].map((data) => ({ data })));
      expect(results.map((r) => r.ok)).toEqual([true, true, false, true]);
      const failed = results[2]!;
      expect(!failed.ok && failed.error).toBeInstanceOf(BrookError);
      expect(!failed.ok && failed.error.code).toBe("MESSAGE_TOO_LARGE");
      expect(!failed.ok && failed.error.message).toMatch(/messages\[2\]/);
      await waitFor(() => got.length >= 3, wait(20_000), "three messages");
      await sleep(100);
      expect(got).toEqual(["m0", "m1", "m3"]);
      await expect(pub.publish({ data: big })).rejects.toMatchObject({ code: "MESSAGE_TOO_LARGE" });
      await pub.close();
    });

    // 9
    test("bad input gets a typed BrookError naming the field", async () => {
      await expect(broker.admin.createTopic("")).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
      let thrown: unknown;
      try {
        broker.publisher("bad topic!");
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/topic/) });
      const missing = uniqueTopic("missing");
      await expect(broker.publisher(missing).publish({ data: 1 })).rejects.toMatchObject({ code: "TOPIC_NOT_FOUND" });
      await expect(broker.subscribe(missing, { group: "g", handler: () => undefined })).rejects.toMatchObject({ code: "TOPIC_NOT_FOUND" });
      const name = await topic("badinput", 1);
      const json = broker.publisher<unknown>(name);
      await expect(json.publish({ data: { n: 10n } })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/data/) });
      const circular: Record<string, unknown> = {};
      circular.self = circular;
      await expect(json.publish({ data: circular })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
      await expect(broker.publisher<unknown>(name, { codec: "bytes" }).publish({ data: "not bytes" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
      await expect(json.publish({ data: 1, headers: { n: 5 as unknown as string } })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/headers\.n/) });
      await expect(broker.subscribe(name, { group: "g", maxInFlight: 0, handler: () => undefined })).rejects.toMatchObject({
        code: "INVALID_ARGUMENT",
        message: expect.stringMatching(/maxInFlight/),
      });
      await expect(broker.subscribe(name, { group: "", handler: () => undefined })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
      await json.close();
      await expect(json.publish({ data: 1 })).rejects.toMatchObject({ code: "CLOSED" });
    });

    // 10
    test("close({ drain: true }) finishes in-flight work and commits it", async () => {
      const name = await topic("drain", 1);
      const started: number[] = [];
      const finished: number[] = [];
      const first = await subscribe<number>(name, {
        group: "g",
        ordering: "none",
        maxInFlight: 10,
        commitIntervalMs: 60_000,
        handler: async (m) => {
          started.push(m.data);
          await sleep(100);
          finished.push(m.data);
        },
      });
      const pub = broker.publisher<number>(name);
      await pub.publishBatch(Array.from({ length: 10 }, (_, i) => ({ data: i })));
      await waitFor(() => started.length >= 10, wait(20_000), "ten handlers to start");
      await first.close({ drain: true, timeoutMs: wait(10_000) });
      expect([...finished].sort((a, b) => a - b)).toEqual(started.sort((a, b) => a - b));
      const second: number[] = [];
      await subscribe<number>(name, { group: "g", handler: (m) => void second.push(m.data) });
      await pub.publish({ data: 99 });
      await waitFor(() => second.includes(99), wait(20_000), "the next message");
      expect(second).toEqual([99]);
      await pub.close();
    });

    when("health(): lag is what was published minus what was acknowledged", (c) => (c.partitions === "none" ? "partitions" : undefined), async () => {
      const name = await topic("health", 1);
      const hold = gate();
      let acked = 0;
      const sub = await subscribe<number>(name, {
        group: "g",
        ordering: "partition",
        handler: async (m) => {
          if (m.data === 10) await hold.promise;
          acked += 1;
        },
      });
      const pub = broker.publisher<number>(name);
      await pub.publishBatch(Array.from({ length: 25 }, (_, i) => ({ data: i })));
      await waitFor(() => acked === 10 && sub.health()[0]?.lag === 15, wait(20_000), `lag 15 (health: ${JSON.stringify(sub.health())})`);
      const h = sub.health()[0]!;
      expect(h.inFlight).toBeGreaterThanOrEqual(1);
      expect(h.lastProgressAt).toBeInstanceOf(Date);
      hold.open();
      await waitFor(() => sub.health()[0]?.lag === 0, wait(20_000), "lag 0");
      expect(acked).toBe(25);
      await pub.close();
    });

    test("a subscription emits stalled when a partition with lag makes no progress", async () => {
      const name = await topic("stall", 1);
      const hold = gate();
      const stalled: string[] = [];
      const sub = await subscribe<number>(name, { group: "g", stallTimeoutMs: 300, handler: () => hold.promise });
      sub.on("stalled", (h) => stalled.push(h.partition));
      await broker.publisher<number>(name).publishBatch([1, 2].map((data) => ({ data })));
      await waitFor(() => stalled.length > 0, wait(20_000), "a stalled event");
      expect(sub.health().some((h) => h.stalled)).toBe(true);
      hold.open();
    });
  });
}
