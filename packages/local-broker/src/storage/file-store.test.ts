import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import { BrookError } from "@brook/core";
import { type FileStore, type FileStoreOptions, openFileStore } from "./file-store.js";
import type { AppendRecord, PartitionLog, StoredRecord } from "./types.js";

const tempDirs: string[] = [];
const openStores = new Set<FileStore>();

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "brook-file-store-"));
  tempDirs.push(dir);
  return dir;
}

class RecordingLogger {
  readonly warnings: Array<{ message: string; fields: Record<string, unknown> | undefined }> = [];
  warn(message: string, fields?: Record<string, unknown>): void {
    this.warnings.push({ message, fields });
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.warnings.push({ message, fields });
  }
  has(fragment: string): boolean {
    return this.warnings.some((w) => w.message.includes(fragment));
  }
}

async function open(dir: string, options: FileStoreOptions = {}): Promise<FileStore> {
  const store = await openFileStore(dir, { logger: new RecordingLogger(), ...options });
  openStores.add(store);
  return store;
}

async function close(store: FileStore): Promise<void> {
  openStores.delete(store);
  await store.close();
}

afterEach(async () => {
  for (const s of openStores) await s.close().catch(() => undefined);
  openStores.clear();
});

afterAll(() => {
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
});

const T0 = 1_700_000_000_000;

function record(i: number, timestamp = T0 + i): AppendRecord {
  return { timestamp, key: undefined, idempotencyKey: undefined, headers: {}, value: Buffer.from(`value-${i}`) };
}

function values(records: StoredRecord[]): string[] {
  return records.map((r) => r.value.toString());
}

async function readAll(log: PartitionLog, from = 0): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  let next = from;
  for (;;) {
    const batch = await log.read(next, 1000);
    if (batch.length === 0) return out;
    out.push(...batch);
    next = (batch[batch.length - 1] as StoredRecord).offset + 1;
  }
}

function partitionDir(dir: string, topic: string, partition = 0): string {
  return path.join(dir, "topics", topic, String(partition));
}

function segmentFiles(dir: string, ext: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(ext))
    .sort()
    .map((f) => path.join(dir, f));
}

/** Appends `n` records one call each, so every record is its own batch. */
async function appendEach(log: PartitionLog, n: number, start = 0, ts = (i: number) => T0 + i): Promise<void> {
  for (let i = start; i < start + n; i++) await log.append([record(i, ts(i))]);
}

describe("file store: records", () => {
  test("round trip keeps every field, including empty, unicode and large ones", async () => {
    const dir = tempDir();
    const store = await open(dir);
    const log = await store.openPartition("orders", 0);
    const big = Buffer.alloc(300_000, 7);
    const records: AppendRecord[] = [
      { timestamp: T0, key: Buffer.from([0, 1, 2, 255]), idempotencyKey: "order-1001", headers: { source: "web", trace: "x" }, value: Buffer.from("hello") },
      { timestamp: T0 - 5, key: Buffer.alloc(0), idempotencyKey: "ü".repeat(50), headers: {}, value: Buffer.alloc(0) },
      { timestamp: T0 + 3_000_000_000, key: undefined, idempotencyKey: undefined, headers: { "ключ": "значение 🚀", long: "v".repeat(500) }, value: big },
      { timestamp: T0 + 1, key: Buffer.alloc(200, 3), idempotencyKey: "", headers: Object.fromEntries(Array.from({ length: 130 }, (_, i) => [`h${i}`, `${i}`])), value: Buffer.from("last") },
    ];
    expect(await log.append(records)).toBe(0);
    expect(log.endOffset).toBe(4);
    const back = await log.read(0, 10, 10_000_000);
    expect(back).toHaveLength(4);
    back.forEach((r, i) => {
      const want = records[i] as AppendRecord;
      expect(r.offset).toBe(i);
      expect(r.timestamp).toBe(want.timestamp);
      expect(r.key === undefined ? undefined : Buffer.from(r.key)).toEqual(want.key === undefined ? undefined : Buffer.from(want.key));
      expect(r.idempotencyKey).toBe(want.idempotencyKey);
      expect(r.headers).toEqual(want.headers);
      expect(Buffer.compare(r.value, want.value)).toBe(0);
    });
    // reads from the middle of a batch, with record and byte limits
    expect((await log.read(2, 1, 10_000_000)).map((r) => r.offset)).toEqual([2]);
    expect((await log.read(1, 10, 10)).map((r) => r.offset)).toEqual([1]); // at least one record
    expect(await log.read(4, 10)).toEqual([]);
  });

  test("appends of falling sizes, one after another and at once, read back whole (encode buffers are reused)", async () => {
    const store = await open(tempDir());
    const log = await store.openPartition("t", 0);
    const want: string[] = [];
    let n = 0;
    const batch = (count: number, size: number): AppendRecord[] =>
      Array.from({ length: count }, () => {
        const value = `${n++}:`.padEnd(size, "x");
        want.push(value);
        return { timestamp: T0 + n, key: undefined, idempotencyKey: undefined, headers: {}, value: Buffer.from(value) };
      });
    for (const [count, size] of [[500, 400], [300, 100], [10, 30], [1, 5], [800, 300]] as const) await log.append(batch(count, size));
    await Promise.all([batch(200, 50), batch(3, 7), batch(600, 200), batch(1, 1)].map((records) => log.append(records)));
    // A record without a timestamp of its own gets the append call's.
    const plain = { key: undefined, idempotencyKey: undefined, headers: {}, value: Buffer.from("plain") };
    want.push("plain");
    const at = await log.append([plain], T0 - 7);
    const back = await readAll(log);
    expect(values(back)).toEqual(want);
    expect(back[at]!.timestamp).toBe(T0 - 7);
  });

  test("offsets continue across a restart", async () => {
    const dir = tempDir();
    let store = await open(dir);
    let log = await store.openPartition("t", 0);
    expect(await log.append([record(0), record(1), record(2)])).toBe(0);
    await close(store);
    store = await open(dir);
    log = await store.openPartition("t", 0);
    expect(log.startOffset).toBe(0);
    expect(log.endOffset).toBe(3);
    expect(await log.append([record(3)])).toBe(3);
    expect(values(await readAll(log))).toEqual(["value-0", "value-1", "value-2", "value-3"]);
  });

  test("concurrent appends keep call order and resolve with their own offsets", async () => {
    const store = await open(tempDir(), { fsync: "never" });
    const log = await store.openPartition("t", 0);
    const bases = await Promise.all(Array.from({ length: 200 }, (_, i) => log.append([record(2 * i), record(2 * i + 1)])));
    expect(bases).toEqual(Array.from({ length: 200 }, (_, i) => 2 * i));
    const all = await readAll(log);
    expect(all.map((r) => r.offset)).toEqual(Array.from({ length: 400 }, (_, i) => i));
    expect(values(all)).toEqual(Array.from({ length: 400 }, (_, i) => `value-${i}`));
  });

  test("partitions and topics with awkward names are kept apart", async () => {
    const dir = tempDir();
    const store = await open(dir);
    const a = await store.openPartition("a/b", 0);
    const b = await store.openPartition("..", 1);
    await a.append([record(1)]);
    await b.append([record(2)]);
    expect(values(await readAll(a))).toEqual(["value-1"]);
    expect(values(await readAll(b))).toEqual(["value-2"]);
    expect(fs.readdirSync(path.join(dir, "topics")).sort()).toEqual(["%2E.", "a%2Fb"]);
  });
});

describe("file store: recovery", () => {
  test("a torn tail is cut on reopen and appends continue after it", async () => {
    const dir = tempDir();
    let store = await open(dir);
    let log = await store.openPartition("t", 0);
    await appendEach(log, 5);
    await close(store);
    const file = segmentFiles(partitionDir(dir, "t"), ".log")[0] as string;
    const size = fs.statSync(file).size;
    fs.truncateSync(file, size - 7); // mid-way through the last batch
    fs.rmSync(path.join(partitionDir(dir, "t"), "CLEAN")); // as after a crash
    const logger = new RecordingLogger();
    store = await open(dir, { logger });
    log = await store.openPartition("t", 0);
    expect(log.endOffset).toBe(4);
    const cut = logger.warnings.find((w) => w.message.includes("torn tail"));
    expect(cut?.fields).toMatchObject({ file, fromOffset: 4 });
    expect(await log.append([record(100)])).toBe(4);
    expect(values(await readAll(log))).toEqual(["value-0", "value-1", "value-2", "value-3", "value-100"]);
    await close(store);
    store = await open(dir);
    log = await store.openPartition("t", 0);
    expect(log.endOffset).toBe(5);
  });

  test("a corrupt complete batch at the tail is damage, never cut: found on read after a clean close, refuses to open after an unclean one", async () => {
    const dir = tempDir();
    let store = await open(dir);
    let log = await store.openPartition("t", 0);
    await appendEach(log, 3);
    await close(store);
    const file = segmentFiles(partitionDir(dir, "t"), ".log")[0] as string;
    flipByte(file, fs.statSync(file).size - 1);
    const logger = new RecordingLogger();
    store = await open(dir, { logger });
    log = await store.openPartition("t", 0);
    // After a clean close the index is trusted, so the damage shows up on read instead.
    await expect(log.read(2, 1)).rejects.toMatchObject({ code: "CORRUPT_DATA" });
    await close(store);
    fs.rmSync(path.join(partitionDir(dir, "t"), "CLEAN"), { force: true });
    const before = fs.readFileSync(file);
    store = await open(dir, { logger });
    await expect(store.openPartition("t", 0)).rejects.toMatchObject({ code: "CORRUPT_DATA" });
    expect(fs.readFileSync(file)).toEqual(before);
    expect(logger.has("torn tail")).toBe(false);
  });

  test("a flipped byte in a sealed segment fails the read with CORRUPT_DATA naming file and offset", async () => {
    const dir = tempDir();
    let store = await open(dir, { segmentBytes: 1024 });
    let log = await store.openPartition("t", 0);
    await appendEach(log, 100);
    await close(store);
    const files = segmentFiles(partitionDir(dir, "t"), ".log");
    expect(files.length).toBeGreaterThan(3);
    const victim = files[1] as string;
    const victimBase = Number(path.basename(victim, ".log"));
    const nextBase = Number(path.basename(files[2] as string, ".log"));
    flipByte(victim, fs.statSync(victim).size - 1); // a value byte of the segment's last record
    store = await open(dir, { segmentBytes: 1024 });
    log = await store.openPartition("t", 0);
    // Everything before the damaged batch is served; the damaged batch is never returned.
    const before = await log.read(0, 1000);
    expect(before.map((r) => r.offset)).toEqual(Array.from({ length: nextBase - 1 }, (_, i) => i));
    const err = (await log.read(nextBase - 1, 10).catch((e: unknown) => e)) as BrookError;
    expect(err).toBeInstanceOf(BrookError);
    expect(err.code).toBe("CORRUPT_DATA");
    expect(err.message).toContain(victim);
    expect(err.message).toContain(`offset ${nextBase - 1}`);
    // Reads that do not touch the damaged batch still work.
    expect((await log.read(victimBase, 1))[0]?.offset).toBe(victimBase);
    expect((await log.read(nextBase, 1))[0]?.offset).toBe(nextBase);
  });

  test("truncated, damaged and missing index files are rebuilt and seeks stay correct", async () => {
    const dir = tempDir();
    const options: FileStoreOptions = { segmentBytes: 2048, indexIntervalBytes: 100 };
    let store = await open(dir, options);
    let log = await store.openPartition("t", 0);
    await appendEach(log, 300, 0, (i) => T0 + i * 10);
    await close(store);
    const pdir = partitionDir(dir, "t");
    const indexes = segmentFiles(pdir, ".index");
    const timeIndexes = segmentFiles(pdir, ".timeindex");
    expect(indexes.length).toBeGreaterThan(4);
    const originals = new Map([...indexes, ...timeIndexes].map((f) => [f, fs.readFileSync(f)]));
    const [i0, i1, i2] = indexes as [string, string, string];
    const t3 = timeIndexes[3] as string;
    fs.truncateSync(i0, fs.statSync(i0).size - 3); // cut mid-entry
    fs.truncateSync(i1, fs.statSync(i1).size - 16); // two whole entries missing at the end
    fs.rmSync(t3); // missing
    const buf = fs.readFileSync(i2); // an entry pointing to the wrong place
    buf.writeUInt32BE(buf.readUInt32BE(buf.length - 4) + 1, buf.length - 4);
    fs.writeFileSync(i2, buf);
    const logger = new RecordingLogger();
    store = await open(dir, { ...options, logger });
    log = await store.openPartition("t", 0);
    expect(logger.warnings.filter((w) => w.message.includes("rebuilding segment index"))).toHaveLength(4);
    for (const [file, content] of originals) expect(fs.readFileSync(file)).toEqual(content);
    for (let i = 0; i < 300; i++) {
      const [r] = await log.read(i, 1);
      expect(r?.offset).toBe(i);
      expect(r?.value.toString()).toBe(`value-${i}`);
      expect(await log.offsetForTime(T0 + i * 10 - 5)).toBe(i);
    }
  });

  test("an index entry damaged in the middle is caught on read and rebuilt", async () => {
    const dir = tempDir();
    const options: FileStoreOptions = { segmentBytes: 8192, indexIntervalBytes: 50 };
    let store = await open(dir, options);
    let log = await store.openPartition("t", 0);
    await appendEach(log, 200);
    await close(store);
    const index = segmentFiles(partitionDir(dir, "t"), ".index")[0] as string;
    const buf = fs.readFileSync(index);
    buf.writeUInt32BE(buf.readUInt32BE(12) + 3, 12); // entry 1's position
    fs.writeFileSync(index, buf);
    const logger = new RecordingLogger();
    store = await open(dir, { ...options, logger });
    log = await store.openPartition("t", 0);
    const all = await readAll(log);
    expect(all.map((r) => r.offset)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    for (let i = 0; i < 20; i++) expect((await log.read(i, 1))[0]?.offset).toBe(i);
    expect(logger.has("did not match")).toBe(true);
  });
});

describe("file store: time and retention", () => {
  test("offsetForTime finds the first record at or after a time, across segments", async () => {
    const store = await open(tempDir(), { segmentBytes: 512, indexIntervalBytes: 64 });
    const log = await store.openPartition("t", 0);
    // timestamps 0,10,20,... with one record stepping back in time
    const ts = (i: number): number => (i === 50 ? T0 + 5 : T0 + i * 10);
    await appendEach(log, 100, 0, ts);
    expect(await log.offsetForTime(0)).toBe(0);
    expect(await log.offsetForTime(T0)).toBe(0);
    expect(await log.offsetForTime(T0 + 1)).toBe(1);
    expect(await log.offsetForTime(T0 + 5)).toBe(1);
    expect(await log.offsetForTime(T0 + 495)).toBe(51); // 50 is back at T0 + 5
    expect(await log.offsetForTime(T0 + 990)).toBe(99);
    expect(await log.offsetForTime(T0 + 991)).toBe(100);
    for (let i = 1; i < 100; i++) {
      const expected = Array.from({ length: 100 }, (_, j) => j).find((j) => ts(j) >= T0 + i * 10 - 3);
      expect(await log.offsetForTime(T0 + i * 10 - 3)).toBe(expected);
    }
  });

  test("retention by time removes whole old segments, never the active one", async () => {
    const dir = tempDir();
    const store = await open(dir, { segmentMs: 1000 });
    const log = await store.openPartition("t", 0);
    // three segments: [0,1] at T0, [2,3] at T0+1000, [4] at T0+2000
    await log.append([record(0, T0), record(1, T0 + 10)]);
    await log.append([record(2, T0 + 1000), record(3, T0 + 1500)]);
    await log.append([record(4, T0 + 2500)]);
    const pdir = partitionDir(dir, "t");
    expect(segmentFiles(pdir, ".log").map((f) => path.basename(f))).toEqual([
      "00000000000000000000.log",
      "00000000000000000002.log",
      "00000000000000000004.log",
    ]);
    // segment 0's newest record is T0+10: kept while that is within the last 1000 ms
    expect(await log.applyRetention(T0 + 1010, 1000, undefined)).toBe(0);
    expect(await log.applyRetention(T0 + 1011, 1000, undefined)).toBe(2);
    expect(log.startOffset).toBe(2);
    expect(segmentFiles(pdir, ".log")).toHaveLength(2);
    expect(fs.readdirSync(pdir).filter((f) => f.startsWith("00000000000000000000."))).toEqual([]);
    expect(await log.applyRetention(T0 + 2500, 1000, undefined)).toBe(2);
    expect(await log.applyRetention(T0 + 2501, 1000, undefined)).toBe(4);
    // Far in the future: everything but the active segment goes.
    expect(await log.applyRetention(T0 + 10_000_000, 1000, undefined)).toBe(4);
    expect(await log.applyRetention(T0 + 10_000_000, 0, 0)).toBe(4);
    expect(values(await readAll(log))).toEqual(["value-4"]);
    expect((await log.read(0, 10)).map((r) => r.offset)).toEqual([4]);
    expect(await log.offsetForTime(0)).toBe(4);
  });

  test("retention by size keeps at least retentionBytes of whole segments", async () => {
    const dir = tempDir();
    const store = await open(dir, { segmentBytes: 1000 });
    const log = await store.openPartition("t", 0);
    const payload = Buffer.alloc(400, 1);
    for (let i = 0; i < 10; i++) await log.append([{ ...record(i), value: payload }]);
    const files = segmentFiles(partitionDir(dir, "t"), ".log");
    const sizes = files.map((f) => fs.statSync(f).size);
    expect(sizes.length).toBe(5);
    expect(log.sizeBytes()).toBe(sizes.reduce((a, b) => a + b, 0));
    const segment = sizes[0] as number;
    expect(await log.applyRetention(T0, Infinity, 2.5 * segment)).toBe(4); // 5 → 3 segments
    expect(segmentFiles(partitionDir(dir, "t"), ".log")).toHaveLength(3);
    expect(await log.applyRetention(T0, Infinity, 3 * segment)).toBe(4); // would drop below
    expect(log.startOffset).toBe(4);
    expect(await log.applyRetention(T0, Infinity, 1)).toBe(8); // never the active segment
    expect(segmentFiles(partitionDir(dir, "t"), ".log")).toHaveLength(1);
  });

  test("reads racing with retention return whole, correct runs of records", async () => {
    const store = await open(tempDir(), { segmentBytes: 512, maxOpenSegmentFiles: 4 });
    const log = await store.openPartition("t", 0);
    await appendEach(log, 400);
    const reads = Array.from({ length: 60 }, (_, i) => log.read(i * 6, 50));
    const retention = log.applyRetention(T0 + 10_000_000, 1000, undefined);
    const results = await Promise.all(reads);
    const start = await retention;
    expect(start).toBeGreaterThan(350);
    for (const records of results) {
      records.forEach((r, j) => {
        expect(r.offset).toBe((records[0] as StoredRecord).offset + j);
        expect(r.value.toString()).toBe(`value-${r.offset}`);
      });
    }
    expect((await log.read(0, 1))[0]?.offset).toBe(start);
  });

  test("reads bounded by open files and cached indexes over many segments", async () => {
    const dir = tempDir();
    const store = await open(dir, { segmentBytes: 256, maxOpenSegmentFiles: 2, indexCacheBytes: 1 });
    const log = await store.openPartition("t", 0);
    await appendEach(log, 200);
    expect(values(await readAll(log))).toEqual(Array.from({ length: 200 }, (_, i) => `value-${i}`));
    expect(store.stats().openSegmentFiles).toBeLessThanOrEqual(2);
    expect(store.stats().loadedIndexes).toBeLessThanOrEqual(1);
  });
});

describe("file store: ownership and metadata", () => {
  test("a second open of the same directory fails with UNAVAILABLE until the first closes", async () => {
    const dir = tempDir();
    const first = await open(dir);
    const err = (await openFileStore(dir).catch((e: unknown) => e)) as BrookError;
    expect(err).toBeInstanceOf(BrookError);
    expect(err.code).toBe("UNAVAILABLE");
    expect(err.message).toContain(dir);
    expect(err.message).toContain(String(process.pid));
    await close(first);
    await close(await open(dir));
  });

  test("a lock held by another live process blocks; once that process is dead it is taken over", async () => {
    const dir = tempDir();
    const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
    try {
      const pid = child.pid as number;
      fs.writeFileSync(path.join(dir, "LOCK"), `${JSON.stringify({ pid, hostname: os.hostname(), startedAt: "then" })}\n`);
      const err = (await openFileStore(dir).catch((e: unknown) => e)) as BrookError;
      expect(err.code).toBe("UNAVAILABLE");
      expect(err.message).toContain(`pid ${pid}`);
      expect(err.message).toContain(dir);
    } finally {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    }
    const store = await open(dir);
    expect(JSON.parse(fs.readFileSync(path.join(dir, "LOCK"), "utf8")).pid).toBe(process.pid);
    await close(store);
    expect(fs.existsSync(path.join(dir, "LOCK"))).toBe(false);
  });

  test("topics, committed offsets and dedupe entries survive a restart; a torn journal write keeps the rest", async () => {
    const dir = tempDir();
    let store = await open(dir, { fsync: "always" });
    const config = { partitions: 3, retentionMs: Infinity, retentionBytes: undefined, createdAt: T0 };
    await store.metadata.putTopic("orders", config);
    await store.metadata.putTopic("gone", { ...config, retentionMs: 1000, retentionBytes: 5000 });
    await store.metadata.commit("billing", "orders", 0, 10);
    await store.metadata.commit("billing", "orders", 2, 7);
    await store.metadata.commit("billing", "gone", 0, 1);
    await store.metadata.commit("audit", "orders", 1, 3);
    await store.metadata.deleteTopic("gone");
    const far = Date.now() + 3_600_000;
    store.metadata.dedupePut("orders", "order-1", { partition: 2, offset: 6, expiresAt: far });
    store.metadata.dedupePut("orders", "old", { partition: 1, offset: 1, expiresAt: Date.now() - 1 });
    await store.metadata.commit("audit", "orders", 1, 4); // flushes the dedupe entries before it
    // Simulate a crash after a torn metadata write: half an entry at the end.
    await close(store);
    const journal = fs.readdirSync(path.join(dir, "meta")).find((f) => f.startsWith("journal-")) as string;
    fs.appendFileSync(path.join(dir, "meta", journal), Buffer.from([0, 0, 0, 40, 1, 2, 3]));
    const logger = new RecordingLogger();
    store = await open(dir, { logger });
    expect(logger.has("metadata journal")).toBe(true);
    expect([...store.metadata.topics()]).toEqual([["orders", config]]);
    expect(store.metadata.committed("billing", "orders")).toEqual(new Map([[0, 10], [2, 7]]));
    expect(store.metadata.committed("billing", "gone")).toEqual(new Map());
    expect(store.metadata.committed("audit", "orders")).toEqual(new Map([[1, 4]]));
    expect(store.metadata.groups().sort()).toEqual(["audit", "billing"]);
    expect(store.metadata.dedupeGet("orders", "order-1", Date.now())).toEqual({ partition: 2, offset: 6, expiresAt: far });
    expect(store.metadata.dedupeGet("orders", "old", Date.now())).toBeUndefined();
    expect(store.metadata.dedupeGet("orders", "order-1", far)).toBeUndefined();
    // and the journal keeps working after the cut
    await store.metadata.commit("audit", "orders", 1, 5);
    await close(store);
    store = await open(dir);
    expect(store.metadata.committed("audit", "orders")).toEqual(new Map([[1, 5]]));
  });

  test("the metadata journal is compacted into a snapshot without losing state", async () => {
    const dir = tempDir();
    let store = await open(dir, { metadataCompactBytes: 4096 });
    const far = Date.now() + 3_600_000;
    for (let i = 0; i < 2000; i++) {
      store.metadata.dedupePut("t", `key-${i}`, { partition: i % 4, offset: i, expiresAt: far });
      if (i % 100 === 0) await store.metadata.commit("g", "t", i % 4, i);
    }
    await store.metadata.commit("g", "t", 0, 123_456);
    const meta = path.join(dir, "meta");
    expect(fs.existsSync(path.join(meta, "snapshot"))).toBe(true);
    expect(fs.readdirSync(meta).filter((f) => f.startsWith("journal-"))).toHaveLength(1);
    expect(fs.readdirSync(meta).find((f) => f.startsWith("journal-"))).not.toBe(`journal-${"0".repeat(20)}.log`);
    await close(store);
    store = await open(dir);
    for (let i = 0; i < 2000; i++) expect(store.metadata.dedupeGet("t", `key-${i}`, Date.now())?.offset).toBe(i);
    expect(store.metadata.committed("g", "t").get(0)).toBe(123_456);
  });

  test("dedupe entries written in shared chunks keep journal order with other entries across a restart", async () => {
    const dir = tempDir();
    let store = await open(dir, { fsync: "always" });
    const config = { partitions: 1, retentionMs: Infinity, retentionBytes: undefined, createdAt: T0 };
    await store.metadata.putTopic("x", config);
    const far = Date.now() + 3_600_000;
    const long = "é".repeat(50) + "-".repeat(100); // non-ASCII, and a length varint of 2 bytes
    store.metadata.dedupePut("x", "before-delete", { partition: 0, offset: 0, expiresAt: far });
    await store.metadata.deleteTopic("x"); // must land after the entry above
    await store.metadata.putTopic("x", config);
    // > 64 KiB of entries: several chunks
    for (let i = 0; i < 3000; i++) store.metadata.dedupePut("x", `${i % 2 === 0 ? long : "k"}-${i}`, { partition: 0, offset: i, expiresAt: far });
    await store.metadata.commit("g", "x", 0, 3000);
    await close(store);
    store = await open(dir);
    expect(store.metadata.dedupeGet("x", "before-delete", Date.now())).toBeUndefined();
    for (let i = 0; i < 3000; i++) expect(store.metadata.dedupeGet("x", `${i % 2 === 0 ? long : "k"}-${i}`, Date.now())?.offset).toBe(i);
    expect(store.metadata.committed("g", "x").get(0)).toBe(3000);
  });

  test("deleteTopic removes its files and later opens start empty", async () => {
    const dir = tempDir();
    const store = await open(dir);
    const log = await store.openPartition("doomed", 0);
    await log.append([record(1)]);
    await store.deleteTopic("doomed");
    expect(fs.existsSync(path.join(dir, "topics", "doomed"))).toBe(false);
    await expect(log.append([record(2)])).rejects.toMatchObject({ code: "CLOSED" });
    const again = await store.openPartition("doomed", 0);
    expect(again.endOffset).toBe(0);
  });
});

describe("file store: durability", () => {
  test("group commit: concurrent appends under fsync always share fsyncs", async () => {
    const store = await open(tempDir(), { fsync: "always" });
    const log = await store.openPartition("t", 0);
    await log.append([record(-1)]);
    const before = store.stats().fsyncs;
    const n = 1000;
    const bases = await Promise.all(Array.from({ length: n }, (_, i) => log.append([record(i)])));
    expect(bases).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    const used = store.stats().fsyncs - before;
    expect(used).toBeGreaterThanOrEqual(1);
    expect(used).toBeLessThan(n / 20);
    expect(log.endOffset).toBe(n + 1);
  });

  test("an append resolves only once it is readable, and reads never see a record before that", async () => {
    const store = await open(tempDir(), { fsync: "always" });
    const log = await store.openPartition("t", 0);
    const pending = log.append([record(0)]);
    expect(log.endOffset).toBe(0);
    expect(await log.read(0, 10)).toEqual([]);
    await pending;
    expect(log.endOffset).toBe(1);
    expect(await log.read(0, 10)).toHaveLength(1);
  });

  test("fsync interval: written data is fsynced by the timer without any append waiting for it", async () => {
    const store = await open(tempDir(), { fsync: "interval", fsyncIntervalMs: 20 });
    const log = await store.openPartition("t", 0);
    const before = store.stats().fsyncs;
    await log.append([record(0)]);
    expect(store.stats().fsyncs).toBe(before);
    const deadline = Date.now() + 5000;
    while (store.stats().fsyncs === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(store.stats().fsyncs).toBeGreaterThan(before);
  });

  test("a partition left unclean stays unclean through sessions that never open it", async () => {
    const dir = tempDir();
    let store = await open(dir);
    let log = await store.openPartition("t", 0);
    await appendEach(log, 3);
    await close(store);
    const marker = path.join(partitionDir(dir, "t"), "CLEAN");
    expect(fs.existsSync(marker)).toBe(true);
    fs.rmSync(marker); // crash...
    const file = segmentFiles(partitionDir(dir, "t"), ".log")[0] as string;
    fs.appendFileSync(file, Buffer.from([0, 0, 0, 99, 1, 2])); // ...with a torn write
    store = await open(dir); // a session that never opens partition t
    await (await store.openPartition("other", 0)).append([record(9)]);
    await close(store);
    expect(fs.existsSync(marker)).toBe(false);
    const logger = new RecordingLogger();
    store = await open(dir, { logger });
    log = await store.openPartition("t", 0);
    expect(fs.existsSync(marker)).toBe(false); // removed while the partition is open
    expect(log.endOffset).toBe(3);
    expect(logger.has("torn tail")).toBe(true);
    await close(store);
    expect(fs.existsSync(marker)).toBe(true);
  });

  test("roll by time starts a new segment when records span segmentMs", async () => {
    const dir = tempDir();
    const store = await open(dir, { segmentMs: 60_000 });
    const log = await store.openPartition("t", 0);
    await log.append([record(0, T0)]);
    await log.append([record(1, T0 + 59_999)]);
    await log.append([record(2, T0 + 60_000)]);
    expect(segmentFiles(partitionDir(dir, "t"), ".log").map((f) => path.basename(f))).toEqual([
      "00000000000000000000.log",
      "00000000000000000002.log",
    ]);
  });

  test("operations after close fail with CLOSED", async () => {
    const store = await open(tempDir());
    const log = await store.openPartition("t", 0);
    await close(store);
    await expect(log.append([record(0)])).rejects.toMatchObject({ code: "CLOSED" });
    await expect(log.read(0, 1)).rejects.toMatchObject({ code: "CLOSED" });
    await expect(store.openPartition("t", 0)).rejects.toMatchObject({ code: "CLOSED" });
  });

  test("bad options are rejected naming the field", async () => {
    await expect(openFileStore(tempDir(), { fsync: "sometimes" as "never" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("fsync") });
    await expect(openFileStore(tempDir(), { segmentBytes: 2 ** 40 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("segmentBytes") });
  });
});

function flipByte(file: string, position: number): void {
  const fd = fs.openSync(file, "r+");
  try {
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, position);
    b[0] = (b[0] as number) ^ 0x5a;
    fs.writeSync(fd, b, 0, 1, position);
  } finally {
    fs.closeSync(fd);
  }
}
