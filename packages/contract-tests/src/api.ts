import { expect } from "@jest/globals";
import type { ReceivedMessage } from "@brook/core";
import { needs, type ContractContext } from "./context.js";
import { sleep, waitFor } from "./helpers.js";


/** The application API as TypeScript users expect it: the default codec, consume(), signals, `await using`. */
export function apiCases(ctx: ContractContext): void {
  const { when, wait } = ctx;

  when(
    "the default codec publishes what the application passes: bytes stay bytes, strings stay strings, objects arrive as objects, and bytes without a content-type arrive as bytes",
    needs.nothing,
    async () => {
      const name = await ctx.topic("auto-codec", 1);
      const got: ReceivedMessage<unknown>[] = [];
      await ctx.subscribe<unknown>(name, { group: "g", ordering: "partition", handler: (m) => void got.push(m) });
      const pub = ctx.broker.publisher<unknown>(name);
      const bytes = Buffer.from([0, 1, 2, 255]);
      await pub.publish({ data: bytes });
      await pub.publish({ data: "plain text ✓" });
      await pub.publish({ data: { total: 12, items: ["a"] } });
      await pub.publish({ data: 42 });
      // A producer outside Brook, with JSON-looking bytes and no content-type: bytes, not a guess.
      await ctx.broker.publisher<Uint8Array>(name, { codec: "bytes" }).publish({ data: Buffer.from('{"looks":"like json"}') });
      await waitFor(() => got.length >= 5, wait(20_000), "five messages");
      const [b, s, o, n, raw] = got.map((m) => m.data);
      expect(b).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(b as Uint8Array).equals(bytes)).toBe(true);
      expect(s).toBe("plain text ✓");
      expect(o).toEqual({ total: 12, items: ["a"] });
      expect(n).toBe(42);
      expect(raw).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(raw as Uint8Array).toString()).toBe('{"looks":"like json"}');
      expect(got[2]!.headers["content-type"]).toBe("application/json");
      expect(got[0]!.headers["content-type"]).toBeUndefined();
      await pub.close();
    },
  );

  when("for await over consume(): each message once, in order; the loop asking for the next acknowledges the last; leaving the loop redelivers the current one", needs.nothing, async () => {
    const name = await ctx.topic("consume", 1);
    const pub = ctx.broker.publisher<number>(name);
    await pub.publishBatch(Array.from({ length: 10 }, (_, i) => ({ data: i, key: "k" })));
    const first: number[] = [];
    for await (const m of ctx.broker.consume<number>(name, { group: "g", startFrom: "earliest", commitIntervalMs: 20 })) {
      first.push(m.data);
      if (m.data === 4) break; // 0..3 acknowledged; 4 was being handled when the loop left
    }
    expect(first).toEqual([0, 1, 2, 3, 4]);
    const second: number[] = [];
    const stream = ctx.broker.consume<number>(name, { group: "g", startFrom: "earliest" });
    try {
      for await (const m of stream) {
        second.push(m.data);
        if (second.length === 6) break;
      }
    } finally {
      await stream.close();
    }
    expect(second).toEqual([4, 5, 6, 7, 8, 9]);
    await pub.close();
  });

  when("AbortSignal: an aborted publish or subscribe is ABORTED; aborting a running subscription's signal closes it", needs.nothing, async () => {
    const name = await ctx.topic("signal", 1);
    const pub = ctx.broker.publisher<number>(name);
    await expect(pub.publish({ data: 1 }, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: "ABORTED" });
    await expect(ctx.broker.subscribe(name, { group: "g", handler: () => undefined, signal: AbortSignal.abort() })).rejects.toMatchObject({ code: "ABORTED" });
    const controller = new AbortController();
    const got: number[] = [];
    const sub = await ctx.broker.subscribe<number>(name, { group: "g2", startFrom: "earliest", handler: (m) => void got.push(m.data), signal: controller.signal });
    await pub.publish({ data: 7 });
    await waitFor(() => got.length === 1, wait(20_000), "the message before the abort");
    controller.abort();
    await waitFor(() => sub.assignment().length === 0, wait(20_000), "the subscription to close");
    await expect(sub.seek({ time: new Date() })).rejects.toMatchObject({ code: "CLOSED" });
    await pub.publish({ data: 8 });
    await sleep(300);
    expect(got).toEqual([7]);
    await pub.close();
  });

  when("`await using` closes a publisher and a subscription at the end of the block", needs.nothing, async () => {
    const name = await ctx.topic("dispose", 1);
    const got: number[] = [];
    let pubRef: { publish: (m: { data: number }) => Promise<unknown> } | undefined;
    let subRef: { assignment: () => string[] } | undefined;
    {
      await using sub = await ctx.broker.subscribe<number>(name, { group: "g", startFrom: "earliest", handler: (m) => void got.push(m.data) });
      await using pub = ctx.broker.publisher<number>(name);
      pubRef = pub;
      subRef = sub;
      await pub.publish({ data: 1 });
      await waitFor(() => got.length === 1, wait(20_000), "the message");
    }
    await expect(pubRef!.publish({ data: 2 })).rejects.toMatchObject({ code: "CLOSED" });
    expect(subRef!.assignment()).toEqual([]);
  });
}
