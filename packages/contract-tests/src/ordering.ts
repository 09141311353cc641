import { expect } from "@jest/globals";
import type { OutgoingMessage } from "@brook/core";
import { needs, type ContractContext } from "./context.js";
import { sleep, waitFor } from "./helpers.js";

/** One key's messages are handled in publish order. */
export function orderingCases(ctx: ContractContext): void {
  const { when, wait } = ctx;

  when(
    "messages of one key are handled in publish order while different keys run concurrently (50 keys x 200, maxInFlight 64)",
    needs.nothing,
    async () => {
      const keys = 50;
      const perKey = 200;
      const name = await ctx.topic("order");
      const seen = new Map<string, number[]>();
      let running = 0;
      let maxRunning = 0;
      const runningKeys = new Set<string>();
      let maxDistinctKeys = 0;
      let handled = 0;
      await ctx.subscribe<{ k: string; i: number }>(name, {
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
      const pub = ctx.broker.publisher<{ k: string; i: number }>(name);
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
    },
    wait(180_000),
  );
}
