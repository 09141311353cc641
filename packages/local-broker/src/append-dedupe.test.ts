/**
 * LogEngine.append with idempotency keys repeated inside one call: every repeat is reported as a
 * duplicate of its first occurrence (same position), also for keys first seen after an earlier
 * repeat, and only the first occurrences are stored. A later call repeating them gets the same
 * positions with duplicate: true.
 */
import { describe, expect, it } from "@jest/globals";
import { LogEngine } from "./engine.js";
import { MemoryStore } from "./storage/memory-store.js";

const message = (idem: string | undefined, i: number) => ({ key: undefined, idempotencyKey: idem, headers: { n: String(i) }, value: Buffer.from(String(i)) });

describe("LogEngine.append: repeats inside one call", () => {
  it("reports each repeat as a duplicate of its first occurrence", async () => {
    const engine = await LogEngine.open(new MemoryStore());
    try {
      await engine.createTopic("d", { partitions: 1 }, false);
      const keys = ["a", "b", "a", undefined, "c", "c", "b", "d", "a"];
      const results = await engine.append("d", keys.map((k, i) => message(k, i)));
      const pos = (i: number) => (results[i] as { position: { offset: string } }).position.offset;
      expect(results.map((r) => (r.ok ? r.duplicate : "error"))).toEqual([false, false, true, false, false, true, true, false, true]);
      expect([pos(2), pos(5), pos(6), pos(8)]).toEqual([pos(0), pos(4), pos(1), pos(0)]);
      expect((await engine.fetch("d", 0, 0, 100, 0)).records.map((r) => r.value.toString())).toEqual(["0", "1", "3", "4", "7"]);
      const again = await engine.append("d", ["c", "a", "e"].map((k, i) => message(k, 100 + i)));
      expect(again.map((r) => (r.ok ? [r.duplicate, r.position.offset] : "error"))).toEqual([[true, pos(4)], [true, pos(0)], [false, "5"]]);
    } finally {
      await engine.close();
    }
  });
});
