import { expect } from "@jest/globals";
import { MemoryDedupeStore } from "@brook/core";
import { needs, type ContractContext } from "./context.js";
import { sleep, waitFor } from "./helpers.js";

/** Idempotency keys: dropped repeats at publish, and one handler run per key at the consumer. */
export function idempotencyCases(ctx: ContractContext): void {
  const { when, wait } = ctx;

  when(
    "a publish that repeats an idempotency key within the dedupe window is dropped and reported as a duplicate of the original",
    needs.publishDedupe,
    async () => {
      const name = await ctx.topic("pubdedupe");
      const got: string[] = [];
      await ctx.subscribe<string>(name, { group: "g", handler: (m) => void got.push(m.data) });
      const pub = ctx.broker.publisher<string>(name);
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
    },
  );

  when(
    "with consumer dedupe, each idempotency key reaches the handler once even when the message is delivered again",
    needs.redelivery,
    async () => {
      const name = await ctx.topic("dedupe", 1);
      const store = new MemoryDedupeStore();
      const calls = new Map<string, number>();
      const sub = await ctx.subscribe<string>(name, {
        group: "g",
        dedupe: { store, ttlMs: 60_000 },
        handler: (m) => void calls.set(m.idempotencyKey!, (calls.get(m.idempotencyKey!) ?? 0) + 1),
      });
      const pub = ctx.broker.publisher<string>(name);
      const since = new Date(Date.now() - 1_000);
      for (let i = 0; i < 10; i++) await pub.publish({ data: `m${i}`, idempotencyKey: `id-${i}` });
      await waitFor(() => calls.size === 10, wait(20_000), "ten keys handled");
      // Make the broker deliver everything again.
      if (ctx.caps.publishDedupe === "none") {
        for (let i = 0; i < 10; i++) await pub.publish({ data: `m${i}`, idempotencyKey: `id-${i}` });
      } else if (ctx.caps.seek.offset) {
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

  when("with consumer dedupe, a handler that fails releases its claim so the retry runs", needs.nothing, async () => {
    const name = await ctx.topic("dedupe-fail", 1);
    const store = new MemoryDedupeStore();
    let calls = 0;
    let done = false;
    await ctx.subscribe<string>(name, {
      group: "g",
      dedupe: { store },
      retry: { maxAttempts: 3, minDelayMs: 5, maxDelayMs: 10 },
      handler: () => {
        calls += 1;
        if (calls === 1) throw new Error("first try fails");
        done = true;
      },
    });
    await ctx.broker.publisher<string>(name).publish({ data: "x", idempotencyKey: "once" });
    await waitFor(() => done, wait(20_000), "the retry to succeed");
    expect(calls).toBe(2);
    expect(await store.claim("once", 60_000)).toBe("done");
  });
}
