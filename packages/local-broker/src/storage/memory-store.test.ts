/**
 * The memory store keeps each append as encoded record batches (not an object per record): what
 * a reader relies on must not change with that — every record read back whole from any offset
 * (inside a big append too, via the sparse record index), byte limits honoured, segments of
 * exactly 4,096 records for retention, time look-ups exact with timestamps out of order.
 */
import { describe, expect, it } from "@jest/globals";
import { MemoryPartitionLog } from "./memory-store.js";
import type { AppendRecord } from "./types.js";

const record = (i: number, timestamp = 1_000 + i): AppendRecord => ({
  timestamp,
  key: i % 3 === 0 ? Buffer.from(`key-${i}`) : undefined,
  idempotencyKey: i % 5 === 0 ? `id-${i}` : undefined,
  headers: i % 2 === 0 ? { "content-type": "application/json", n: String(i), "é": "ü" } : {},
  value: Buffer.from(`value ${i} `.repeat(1 + (i % 7))),
});

describe("MemoryPartitionLog over record batches", () => {
  it("reads every record whole from any offset, inside one 10,000-record append too", async () => {
    const log = new MemoryPartitionLog();
    expect(await log.append(Array.from({ length: 10_000 }, (_, i) => record(i)))).toBe(0);
    expect(await log.append(Array.from({ length: 5 }, (_, i) => record(10_000 + i)))).toBe(10_000);
    for (const from of [0, 1, 63, 64, 65, 4095, 4096, 4097, 5000, 9999, 10_000, 10_004]) {
      const got = await log.read(from, 3);
      const want = Array.from({ length: Math.min(3, 10_005 - from) }, (_, j) => ({ offset: from + j, ...record(from + j) }));
      expect(got.map((r) => ({ ...r, headers: { ...r.headers } }))).toEqual(want);
    }
    expect(await log.read(10_005, 10)).toEqual([]);
    // a byte limit stops early, but never returns nothing
    const limited = await log.read(100, 1_000, 500);
    expect(limited.length).toBeGreaterThan(0);
    expect(limited.length).toBeLessThan(1_000);
    expect(limited.map((r) => r.offset)).toEqual(Array.from({ length: limited.length }, (_, j) => 100 + j));
    expect((await log.read(100, 1_000, 1))[0]!.offset).toBe(100);
  });

  it("keeps segments of exactly 4,096 records: retention drops the same records as before", async () => {
    const log = new MemoryPartitionLog();
    for (let i = 0; i < 10; i++) await log.append(Array.from({ length: 1_000 }, (_, j) => record(i * 1_000 + j, 1_000)));
    // everything is older than the retention: every segment but the active one goes
    expect(await log.applyRetention(1_000_000, 1_000, undefined)).toBe(2 * 4_096);
    expect((await log.read(0, 1))[0]!.offset).toBe(2 * 4_096);
  });

  it("finds the first offset at or after a time, with timestamps out of order and after deleteBefore", async () => {
    const log = new MemoryPartitionLog();
    const stamps = [50, 10, 70, 20, 80, 30, 90];
    await log.append(stamps.map((t, i) => record(i, t)));
    expect(await log.offsetForTime(60)).toBe(2);
    expect(await log.offsetForTime(85)).toBe(6);
    expect(await log.offsetForTime(91)).toBe(7);
    expect(await log.deleteBefore(3)).toBe(3);
    expect(await log.offsetForTime(0)).toBe(3);
    expect(await log.offsetForTime(75)).toBe(4);
  });

  it("readRuns gives the records read() gives, as one run decoded on demand, in any order of access", async () => {
    const log = new MemoryPartitionLog();
    for (let i = 0; i < 5; i++) await log.append(Array.from({ length: 1_500 }, (_, j) => record(i * 1_500 + j)));
    await log.deleteBefore(10);
    for (const [from, max, bytes] of [[0, 10_000, undefined], [700, 4_096, undefined], [4_000, 300, undefined], [100, 1_000, 500], [7_499, 10, undefined]] as const) {
      const want = await log.read(from, max, bytes);
      const run = await log.readRuns(from, max, bytes);
      expect(run.length).toBe(want.length);
      expect(run.firstOffset).toBe(want[0]!.offset);
      // backwards, so no walk can rely on going forward
      for (let i = run.length - 1; i >= 0; i--) expect(run.record(i)).toEqual(want[i]);
    }
    const empty = await log.readRuns(7_500, 10);
    expect(empty.length).toBe(0);
  });
});
