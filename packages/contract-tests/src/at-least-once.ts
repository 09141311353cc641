import { expect } from "@jest/globals";
import { needs, type ContractContext } from "./context.js";
import { gate, sleep, waitFor } from "./helpers.js";

/** Nothing that was not acknowledged is lost when a subscriber goes away without settling it. */
export function atLeastOnceCases(ctx: ContractContext): void {
  const { when, wait } = ctx;

  when(
    "a message a subscriber abandoned unacknowledged is delivered again, even after later messages were acknowledged (the commit never passes it)",
    needs.nothing,
    async () => {
      const name = await ctx.topic("crash", 1);
      const total = 300;
      const slowIndex = 50;
      const acked = new Set<number>();
      const never = gate();
      const first = await ctx.subscribe<number>(name, {
        group: "g",
        ordering: "none",
        maxInFlight: 256,
        commitIntervalMs: 20,
        handler: async (m) => {
          if (m.data === slowIndex || m.data >= 200) await never.promise; // in flight, never settles
          acked.add(m.data);
        },
      });
      const pub = ctx.broker.publisher<number>(name);
      await pub.publishBatch(Array.from({ length: total }, (_, i) => ({ data: i })));
      await waitFor(() => acked.size >= 199, wait(30_000), "messages around the slow one to be acked");
      // n+1 … n+100 (and more) are acked while n is still in flight.
      for (let i = slowIndex + 1; i <= slowIndex + 100; i++) expect(acked.has(i)).toBe(true);
      await sleep(100); // several commit intervals pass
      await first.close({ drain: false });
      const second: number[] = [];
      await ctx.subscribe<number>(name, { group: "g", ordering: "none", handler: (m) => void second.push(m.data) });
      await waitFor(() => second.includes(slowIndex) && second.filter((i) => i >= 200).length >= 100, wait(30_000), "redelivery of unacknowledged messages");
      const union = new Set([...acked, ...second]);
      for (let i = 0; i < total; i++) expect(union.has(i)).toBe(true);
      expect(second).toContain(slowIndex);
      never.open();
      await pub.close();
    },
  );
}
