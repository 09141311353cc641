/**
 * LogEngine.deleteRecords (Kafka's DeleteRecords through kafka-wire) on the memory store: the
 * start offset moves to exactly the asked offset, inside a segment too; reads below it are
 * OUT_OF_RANGE, time look-ups never land below it, and retention never moves it back.
 */
import { describe, expect, it } from "@jest/globals";
import { LogEngine } from "./engine.js";
import { MemoryStore } from "./storage/memory-store.js";

const message = (i: number) => ({ key: undefined, idempotencyKey: undefined, headers: {}, value: Buffer.from(String(i)) });

describe("LogEngine.deleteRecords on the memory store", () => {
  it("moves the start inside a segment and across segments, never back", async () => {
    const engine = await LogEngine.open(new MemoryStore());
    try {
      await engine.createTopic("d", { partitions: 1 }, false);
      // 10,000 records: three in-memory segments of 4,096
      for (let i = 0; i < 10; i++) await engine.append("d", Array.from({ length: 1000 }, (_, j) => message(i * 1000 + j)));
      expect(await engine.deleteRecords("d", 0, 7)).toBe(7);
      await expect(engine.fetch("d", 0, 6, 1, 0)).rejects.toMatchObject({ code: "OUT_OF_RANGE" });
      expect((await engine.fetch("d", 0, 7, 2, 0)).records.map((r) => [r.offset, r.value.toString()])).toEqual([[7, "7"], [8, "8"]]);
      expect(await engine.offsetForTime("d", 0, 0)).toBe(7);
      expect(await engine.deleteRecords("d", 0, 5000)).toBe(5000); // a whole segment goes, then into the next
      expect((await engine.describeTopic("d")).partitions[0]).toMatchObject({ start: 5000, end: 10000 });
      expect(await engine.deleteRecords("d", 0, 100)).toBe(5000); // below the start: nothing comes back
      await expect(engine.deleteRecords("d", 0, 10001)).rejects.toMatchObject({ code: "OUT_OF_RANGE" });
      expect(await engine.deleteRecords("d", 0, 10000)).toBe(10000); // everything
      expect((await engine.fetch("d", 0, 10000, 1, 0)).records).toEqual([]);
    } finally {
      await engine.close();
    }
  });
});
