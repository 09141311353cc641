import { expect } from "@jest/globals";
import type { ReceivedMessage } from "@brook/core";
import { needs, type ContractContext } from "./context.js";
import { settledAssignments, sleep, waitFor } from "./helpers.js";

/** What arrives, and who gets it: payloads and metadata, fan-out across groups, work shared within one. */
export function deliveryCases(ctx: ContractContext): void {
  const { when, wait } = ctx;

  when("a message arrives as published: bytes, string and json data with its key, idempotency key, headers and position", needs.nothing, async () => {
    const cases: Array<{ codec: "bytes" | "string" | "json"; data: unknown }> = [
      { codec: "bytes", data: Buffer.from([0, 1, 2, 250, 255]) },
      { codec: "string", data: "héllo wörld ✓" },
      { codec: "json", data: { total: 12, items: ["a", "b"], nested: { ok: true } } },
    ];
    for (const c of cases) {
      const name = await ctx.topic(`rt-${c.codec}`);
      const got: ReceivedMessage<unknown>[] = [];
      await ctx.subscribe<unknown>(name, { group: "g", codec: c.codec, handler: (m) => void got.push(m) });
      const pub = ctx.broker.publisher<unknown>(name, { codec: c.codec });
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

  when("every group receives every message (fan-out)", needs.consumerGroups, async () => {
    const name = await ctx.topic("fanout");
    const a: number[] = [];
    const b: number[] = [];
    await ctx.subscribe<number>(name, { group: "billing", handler: (m) => void a.push(m.data) });
    await ctx.subscribe<number>(name, { group: "shipping", handler: (m) => void b.push(m.data) });
    const pub = ctx.broker.publisher<number>(name);
    await pub.publishBatch(Array.from({ length: 100 }, (_, i) => ({ data: i, key: `k${i % 7}` })));
    await waitFor(() => a.length >= 100 && b.length >= 100, wait(30_000), "both groups to receive 100");
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect([...b].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    await pub.close();
  });

  when("members of one group share the work and each message is handled by one of them, once", needs.consumerGroups, async () => {
    const name = await ctx.topic("compete");
    const handledBy = new Map<number, string[]>();
    const record = (member: string) => async (m: ReceivedMessage<number>) => {
      const list = handledBy.get(m.data) ?? [];
      list.push(member);
      handledBy.set(m.data, list);
      await sleep(2);
    };
    const one = await ctx.subscribe<number>(name, { group: "workers", maxInFlight: 8, handler: record("one") });
    const two = await ctx.subscribe<number>(name, { group: "workers", maxInFlight: 8, handler: record("two") });
    await waitFor(() => one.assignment().length > 0 && two.assignment().length > 0, wait(30_000), "both members to get an assignment");
    // "Once" holds while the group stands still: a partition that moves carries its in-flight
    // messages to the new owner (at-least-once). Balancing that claims one partition at a time
    // (Event Hubs) may still be moving after both members own some: wait until it settles.
    await settledAssignments([one, two], wait(30_000));
    const pub = ctx.broker.publisher<number>(name);
    const total = 400;
    await pub.publishBatch(Array.from({ length: total }, (_, i) => ({ data: i, key: `k${i}` })));
    await waitFor(() => handledBy.size >= total, wait(60_000), `${total} messages handled`);
    await sleep(200);
    expect(handledBy.size).toBe(total);
    for (const members of handledBy.values()) expect(members).toHaveLength(1);
    // Where the group assigns partitions, each member owns some, so both get work. Without
    // partitions (Pub/Sub) the service balances its streams as it likes: a member that connects
    // first may take a whole burst, which is allowed; every message once is what holds.
    if (ctx.caps.partitions !== "none") {
      const byOne = [...handledBy.values()].filter((m) => m[0] === "one").length;
      expect(byOne).toBeGreaterThan(0);
      expect(byOne).toBeLessThan(total);
    }
    await pub.close();
  });

  when("a batch handler gets every message once, in batches of at most maxBatchSize, and a failed batch is retried whole", needs.nothing, async () => {
    const name = await ctx.topic("batch", 1);
    const seen: number[] = [];
    const sizes: number[] = [];
    let failedOnce = false;
    const attemptsOfFirst: number[] = [];
    await ctx.subscribe<number>(name, {
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
    const pub = ctx.broker.publisher<number>(name);
    await pub.publishBatch(Array.from({ length: 300 }, (_, i) => ({ data: i })));
    await waitFor(() => seen.length >= 300, wait(30_000), "300 messages in batches");
    await sleep(100);
    // One partition keeps publish order; without partitions (Pub/Sub) unkeyed order is not promised.
    const expected = Array.from({ length: 300 }, (_, i) => i);
    expect(ctx.caps.partitions === "none" ? [...seen].sort((a, b) => a - b) : seen).toEqual(expected);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(50);
    expect(attemptsOfFirst).toEqual([1, 2]);
    await pub.close();
  });
}
