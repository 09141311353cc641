import { expect } from "@jest/globals";
import { needs, type ContractContext } from "./context.js";
import { gate, sleep, waitFor } from "./helpers.js";

/** Closing subscribers, and what a running one reports: health and stalls. */
export function lifecycleCases(ctx: ContractContext): void {
  const { when, wait } = ctx;

  when("close({ drain: true }) finishes in-flight work and commits it, so the group's next subscriber starts after it", needs.nothing, async () => {
    const name = await ctx.topic("drain", 1);
    const started: number[] = [];
    const finished: number[] = [];
    const first = await ctx.subscribe<number>(name, {
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
    const pub = ctx.broker.publisher<number>(name);
    await pub.publishBatch(Array.from({ length: 10 }, (_, i) => ({ data: i })));
    await waitFor(() => started.length >= 10, wait(20_000), "ten handlers to start");
    await first.close({ drain: true, timeoutMs: wait(10_000) });
    expect([...finished].sort((a, b) => a - b)).toEqual(started.sort((a, b) => a - b));
    const second: number[] = [];
    await ctx.subscribe<number>(name, { group: "g", handler: (m) => void second.push(m.data) });
    await pub.publish({ data: 99 });
    await waitFor(() => second.includes(99), wait(20_000), "the next message");
    expect(second).toEqual([99]);
    await pub.close();
  });

  when("health() reports lag as messages published minus messages acknowledged", needs.partitions, async () => {
    const name = await ctx.topic("health", 1);
    const hold = gate();
    let acked = 0;
    const sub = await ctx.subscribe<number>(name, {
      group: "g",
      ordering: "partition",
      handler: async (m) => {
        if (m.data === 10) await hold.promise;
        acked += 1;
      },
    });
    const pub = ctx.broker.publisher<number>(name);
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

  when("a partition with lag and no progress emits stalled and shows as stalled in health()", needs.nothing, async () => {
    const name = await ctx.topic("stall", 1);
    const hold = gate();
    const stalled: string[] = [];
    const sub = await ctx.subscribe<number>(name, { group: "g", stallTimeoutMs: 300, handler: () => hold.promise });
    sub.on("stalled", (h) => stalled.push(h.partition));
    await ctx.broker.publisher<number>(name).publishBatch([1, 2].map((data) => ({ data })));
    await waitFor(() => stalled.length > 0, wait(20_000), "a stalled event");
    expect(sub.health().some((h) => h.stalled)).toBe(true);
    hold.open();
  });
}
