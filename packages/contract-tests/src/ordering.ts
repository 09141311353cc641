import { expect } from "@jest/globals";
import type { BrookError, OutgoingMessage } from "@brook/core";
import { needs, type ContractContext } from "./context.js";
import { sleep, waitFor } from "./helpers.js";
import { KeySequences, inOrderOnce, keyedMessages, type Keyed } from "./keyed.js";

/** One key's messages are handled in publish order, also when some of them are retried. */
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

  // Dapr's conformance pattern: failures in the middle of every key's stream, retried in place.
  // A backend that lets a key move on while one of its messages waits for a retry breaks the
  // order; one that redelivers from an older point (instead of retrying the one message)
  // handles messages twice; one that miscounts attempts drops the message after maxAttempts.
  when(
    "a handler that fails the first two deliveries of every fifth message still handles every message once, in key order",
    needs.nothing,
    async () => {
      const keys = 6;
      const perKey = 30;
      const name = await ctx.topic("retry-order");
      const succeeded = new KeySequences();
      const called = new KeySequences();
      const calls = new Map<string, number>();
      const attemptsOfFailing = new Map<string, number[]>();
      const errors: BrookError[] = [];
      const failing = (i: number): boolean => i % 5 === 0;
      const sub = await ctx.subscribe<Keyed>(name, {
        group: "g",
        ordering: "key",
        retry: { maxAttempts: 3, minDelayMs: 5, maxDelayMs: 20 },
        handler: async (m) => {
          const id = `${m.data.k}/${m.data.i}`;
          const n = (calls.get(id) ?? 0) + 1;
          calls.set(id, n);
          called.record(m.data);
          if (failing(m.data.i)) attemptsOfFailing.set(id, [...(attemptsOfFailing.get(id) ?? []), m.deliveryAttempt]);
          await sleep(Math.random() < 0.7 ? 0 : 1);
          if (failing(m.data.i) && n <= 2) throw new Error(`failing ${id} on call ${n}`);
          succeeded.record(m.data);
        },
      });
      sub.on("error", (err) => errors.push(err));
      const pub = ctx.broker.publisher<Keyed>(name);
      const results = await pub.publishBatch(keyedMessages(keys, 0, perKey));
      expect(results.every((r) => r.ok)).toBe(true);
      await waitFor(() => succeeded.count >= keys * perKey, wait(60_000), `${keys * perKey} messages handled successfully`);
      await sleep(200);
      expect(succeeded.all(keys)).toEqual(inOrderOnce(keys, perKey));
      // Each failing message is called three times before the next message of its key starts.
      const expectedCalls = Array.from({ length: perKey }, (_, i) => (failing(i) ? [i, i, i] : [i])).flat();
      for (let k = 0; k < keys; k++) expect(called.of(`key-${k}`)).toEqual(expectedCalls);
      const failingIds = [...attemptsOfFailing.keys()];
      expect(failingIds).toHaveLength(keys * Math.ceil(perKey / 5));
      for (const id of failingIds) expect([id, attemptsOfFailing.get(id)]).toEqual([id, [1, 2, 3]]);
      expect(errors).toEqual([]);
      await pub.close();
    },
  );
}
