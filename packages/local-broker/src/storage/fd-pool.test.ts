/**
 * The store-wide pool of open segment files (FdCache): active segments are in it as well as
 * sealed ones, so many partitions share a few descriptors. Appends, rolls, fsyncs and reads
 * interleave across partitions whose files are closed and reopened under them.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { openFileStore, type FileStore } from "./file-store.js";
import { FdCache, Segment } from "./file-segment.js";
import type { FsyncPolicy } from "./file-partition-log.js";
import type { PartitionLog } from "./types.js";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

const quiet = { warn: () => undefined, error: () => undefined };

async function readAll(log: PartitionLog): Promise<string[]> {
  const out: string[] = [];
  for (let from = log.startOffset; from < log.endOffset; ) {
    const records = await log.read(from, 1000);
    if (records.length === 0) break;
    for (const r of records) out.push(r.value.toString());
    from = records[records.length - 1]!.offset + 1;
  }
  return out;
}

describe.each<FsyncPolicy>(["always", "interval", "never"])("file store with 4 open files for 24 partitions, fsync %s", (fsync) => {
  test("concurrent appends with rolls, reads and a reopen keep every record, and at most 4 files stay open", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "brook-fd-pool-"));
    dirs.push(dir);
    const partitions = 24;
    const options = { fsync, maxOpenSegmentFiles: 4, segmentBytes: 1024, fsyncIntervalMs: 5, logger: quiet };
    let store: FileStore = await openFileStore(dir, options);
    const logs: PartitionLog[] = [];
    for (let p = 0; p < partitions; p++) logs.push(await store.openPartition("t", p));
    expect(store.stats().openSegmentFiles).toBeLessThanOrEqual(4);
    const expected: string[][] = Array.from({ length: partitions }, () => []);
    // 20 rounds of one append per partition, all in flight at once, with reads in between.
    for (let round = 0; round < 20; round++) {
      const appends = logs.map((log, p) => {
        const values = [0, 1, 2].map((i) => `p${p}-r${round}-${i}-${"x".repeat(40)}`);
        expected[p]!.push(...values);
        return log.append(values.map((v) => ({ timestamp: 1_700_000_000_000 + round, key: undefined, idempotencyKey: undefined, headers: {}, value: Buffer.from(v) })));
      });
      const reads = logs.map((log) => log.read(0, 5));
      await Promise.all([...appends, ...reads]);
      expect(store.stats().openSegmentFiles).toBeLessThanOrEqual(4);
    }
    for (let p = 0; p < partitions; p++) expect(await readAll(logs[p]!)).toEqual(expected[p]);
    expect(store.stats().openSegmentFiles).toBeLessThanOrEqual(4);
    await store.close();

    store = await openFileStore(dir, options);
    try {
      for (let p = 0; p < partitions; p++) {
        const log = await store.openPartition("t", p);
        expect(await readAll(log)).toEqual(expected[p]);
        // The reopened active segment takes appends again.
        await log.append([{ timestamp: 1_700_000_000_100, key: undefined, idempotencyKey: undefined, headers: {}, value: Buffer.from(`p${p}-after`) }]);
        expect((await log.read(log.endOffset - 1, 1))[0]?.value.toString()).toBe(`p${p}-after`);
      }
      expect(store.stats().openSegmentFiles).toBeLessThanOrEqual(4);
    } finally {
      await store.close();
    }
  });
});

describe("FdCache", () => {
  function segments(n: number): Segment[] {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "brook-fd-cache-"));
    dirs.push(dir);
    return Array.from({ length: n }, (_, i) => {
      const seg = new Segment(dir, i * 100);
      fs.writeFileSync(seg.logPath, "0123456789");
      seg.size = 10;
      seg.syncedSize = 10;
      return seg;
    });
  }

  test("closes the least recently used idle fd to make room, never one in use; a full pool makes acquire wait for a release", async () => {
    const [a, b, c] = segments(3) as [Segment, Segment, Segment];
    const cache = new FdCache(2);
    await cache.acquire(a);
    await cache.acquire(b);
    cache.release(b);
    await cache.acquire(c); // b is idle: closed for c; a is in use
    expect([a.fd !== undefined, b.fd, c.fd !== undefined]).toEqual([true, undefined, true]);
    let gotB = false;
    const waiting = cache.acquire(b).then(() => (gotB = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(gotB).toBe(false);
    expect(cache.openCount).toBe(2);
    cache.release(c);
    await waiting;
    expect([a.fd !== undefined, b.fd !== undefined, c.fd]).toEqual([true, true, undefined]);
    cache.release(a);
    cache.release(b);
    for (const seg of [a, b, c]) cache.drop(seg);
    expect(cache.openCount).toBe(0);
    await expect(cache.acquire(a)).rejects.toThrow(/is closed/);
  });

  test("keeps the fd of a segment with unsynced bytes open until synced(), asking for the fsync (onPressure)", async () => {
    const [a, b] = segments(2) as [Segment, Segment];
    const cache = new FdCache(1, true);
    let pressure = 0;
    cache.onPressure = () => void (pressure += 1);
    await cache.acquire(a);
    a.size = 20; // written, not yet fsynced
    cache.release(a);
    let gotB = false;
    const waiting = cache.acquire(b).then(() => (gotB = true));
    await new Promise((r) => setTimeout(r, 20));
    expect({ gotB, pressure, aOpen: a.fd !== undefined }).toEqual({ gotB: false, pressure: 1, aOpen: true });
    cache.synced(a, 20);
    await waiting;
    expect([a.fd, b.fd !== undefined]).toEqual([undefined, true]);
    cache.release(b);
    cache.drop(b);
    // Without keepUnsynced (fsync "never") nothing is pinned.
    const [x, y] = segments(2) as [Segment, Segment];
    const loose = new FdCache(1, false);
    await loose.acquire(x);
    x.size = 20;
    loose.release(x);
    await loose.acquire(y);
    expect([x.fd, y.fd !== undefined]).toEqual([undefined, true]);
    loose.release(y);
    loose.drop(y);
  });
});
