/**
 * Damaged storage is never skipped silently (FORMAT.md §7, §9): holes between segments, a
 * damaged batch header, a missing segment file, a damaged metadata journal entry, damage in an
 * active segment that is not a torn tail, and lost metadata.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { BrookError } from "@brook/core";
import { type FileStore, type FileStoreOptions, openFileStore } from "./file-store.js";
import { checkDirectory } from "./file-check.js";
import { crc32c } from "../crc32c.js";
import type { AppendRecord, PartitionLog, StoredRecord } from "./types.js";

const tempDirs: string[] = [];
const openStores = new Set<FileStore>();

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "brook-damage-"));
  tempDirs.push(dir);
  return dir;
}

interface Logged {
  level: "warn" | "error";
  message: string;
  fields: Record<string, unknown> | undefined;
}

class RecordingLogger {
  readonly entries: Logged[] = [];
  warn(message: string, fields?: Record<string, unknown>): void {
    this.entries.push({ level: "warn", message, fields });
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.entries.push({ level: "error", message, fields });
  }
  at(level: "warn" | "error"): Logged[] {
    return this.entries.filter((e) => e.level === level);
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
const CONFIG = { partitions: 1, retentionMs: Infinity, retentionBytes: undefined, createdAt: T0 };

/** Opens partition 0 of topic "t", creating the topic as the engine does. */
async function openT(store: FileStore): Promise<PartitionLog> {
  if (!store.metadata.topics().has("t")) await store.metadata.putTopic("t", CONFIG);
  return store.openPartition("t", 0);
}

function record(i: number): AppendRecord {
  return { timestamp: T0 + i, key: undefined, idempotencyKey: undefined, headers: {}, value: Buffer.from(`value-${i}`) };
}

async function appendEach(log: PartitionLog, n: number, start = 0): Promise<void> {
  for (let i = start; i < start + n; i++) await log.append([record(i)]);
}

/** Reads from `from` until the end or an error; returns the offsets read and the error. */
async function readUntilError(log: PartitionLog, from = 0): Promise<{ offsets: number[]; error: BrookError | undefined }> {
  const offsets: number[] = [];
  let next = from;
  for (let i = 0; i < 10_000; i++) {
    let batch: StoredRecord[];
    try {
      batch = await log.read(next, 1000);
    } catch (err) {
      return { offsets, error: err as BrookError };
    }
    if (batch.length === 0) return { offsets, error: undefined };
    for (const r of batch) offsets.push(r.offset);
    next = (batch[batch.length - 1] as StoredRecord).offset + 1;
  }
  throw new Error("read loop did not end");
}

function partitionDir(dir: string, topic: string, partition = 0): string {
  return path.join(dir, "topics", topic, String(partition));
}

function segmentFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".log"))
    .sort()
    .map((f) => path.join(dir, f));
}

function baseOf(file: string): number {
  return Number(path.basename(file, ".log"));
}

function stem(base: number): string {
  return String(base).padStart(20, "0");
}

function removeSegment(file: string): void {
  for (const ext of [".log", ".index", ".timeindex"]) fs.rmSync(file.replace(/\.log$/, ext), { force: true });
}

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

/** Byte positions of the batches of a segment file (walking batch lengths). */
function batchPositions(file: string): number[] {
  const buf = fs.readFileSync(file);
  const out: number[] = [];
  for (let at = 0; at + 4 <= buf.length; at += buf.readUInt32BE(at)) out.push(at);
  return out;
}

/** A partition of `n` one-record batches over several 1 KiB segments, closed cleanly. */
async function segmentedPartition(n = 100): Promise<{ dir: string; pdir: string; files: string[] }> {
  const dir = tempDir();
  const store = await open(dir, { segmentBytes: 1024 });
  const log = await openT(store);
  await appendEach(log, n);
  await close(store);
  const pdir = partitionDir(dir, "t");
  const files = segmentFiles(pdir);
  expect(files.length).toBeGreaterThan(3);
  return { dir, pdir, files };
}

describe("holes in a partition are never read around", () => {
  test("a missing middle segment fails the read with CORRUPT_DATA naming the file and the range", async () => {
    const { dir, files } = await segmentedPartition();
    const gapFrom = baseOf(files[1] as string);
    const gapTo = baseOf(files[2] as string);
    removeSegment(files[1] as string);
    const logger = new RecordingLogger();
    const store = await open(dir, { segmentBytes: 1024, logger });
    const log = await store.openPartition("t", 0);
    const { offsets, error } = await readUntilError(log);
    expect(offsets).toEqual(Array.from({ length: gapFrom }, (_, i) => i));
    expect(error).toBeInstanceOf(BrookError);
    expect(error?.code).toBe("CORRUPT_DATA");
    expect(error?.message).toContain(`topic "t" partition 0: offsets ${gapFrom}–${gapTo - 1} missing`);
    expect(error?.message).toContain(`${stem(gapFrom)}.log absent`);
    // every read that starts inside the hole fails the same way; after it, reads work
    await expect(log.read(gapTo - 1, 10)).rejects.toMatchObject({ code: "CORRUPT_DATA" });
    expect((await log.read(gapTo, 1))[0]?.offset).toBe(gapTo);
    // and the hole was reported at open, at error level
    expect(logger.at("error").some((e) => JSON.stringify(e).includes(`${stem(gapFrom)}.log`))).toBe(true);
  });

  test("a sealed segment cut at a batch boundary leaves a hole up to the next segment", async () => {
    const { dir, files } = await segmentedPartition();
    const victim = files[1] as string;
    const positions = batchPositions(victim);
    const keep = positions.length - 3;
    fs.truncateSync(victim, positions[keep] as number); // lose the last three batches, on a boundary
    const store = await open(dir, { segmentBytes: 1024 });
    const log = await store.openPartition("t", 0);
    const from = baseOf(victim) + keep;
    const to = baseOf(files[2] as string);
    const { offsets, error } = await readUntilError(log);
    expect(offsets[offsets.length - 1]).toBe(from - 1);
    expect(error?.code).toBe("CORRUPT_DATA");
    expect(error?.message).toContain(`offsets ${from}–${to - 1}`);
    expect(error?.message).toContain(victim);
  });

  test("a damaged header of a sealed segment's first batch does not move readers to the next segment", async () => {
    const { dir, files } = await segmentedPartition();
    const victim = files[2] as string;
    flipByte(victim, 15); // a byte of the first batch's baseOffset
    const store = await open(dir, { segmentBytes: 1024 });
    const log = await store.openPartition("t", 0);
    const from = baseOf(victim);
    const { offsets, error } = await readUntilError(log);
    expect(offsets).toEqual(Array.from({ length: from }, (_, i) => i));
    expect(error?.code).toBe("CORRUPT_DATA");
    expect(error?.message).toContain(victim);
    expect(error?.message).toContain(`offsets ${from}–`);
    // a second read at the same place fails again (the rebuilt index must not hide it)
    await expect(log.read(from, 10)).rejects.toMatchObject({ code: "CORRUPT_DATA" });
  });

  test("a missing first segment keeps the start offset where the metadata says it is", async () => {
    const { dir, files } = await segmentedPartition();
    const second = baseOf(files[1] as string);
    removeSegment(files[0] as string);
    const store = await open(dir, { segmentBytes: 1024 });
    const log = await store.openPartition("t", 0);
    expect(log.startOffset).toBe(0);
    const err = (await log.read(0, 10).catch((e: unknown) => e)) as BrookError;
    expect(err.code).toBe("CORRUPT_DATA");
    expect(err.message).toContain(`offsets 0–${second - 1} missing`);
    expect(err.message).toContain(`${stem(0)}.log absent`);
  });

  test("a missing last segment refuses to open: new records would reuse its offsets", async () => {
    const { dir, files } = await segmentedPartition();
    const last = files[files.length - 1] as string;
    removeSegment(last);
    const store = await open(dir, { segmentBytes: 1024 });
    const err = (await store.openPartition("t", 0).catch((e: unknown) => e)) as BrookError;
    expect(err).toBeInstanceOf(BrookError);
    expect(err.code).toBe("CORRUPT_DATA");
    expect(err.message).toContain(`${stem(baseOf(last))}.log absent`);
  });

  test("retention is not a hole: the start moves and reopening finds nothing wrong", async () => {
    const dir = tempDir();
    let store = await open(dir, { segmentBytes: 1024 });
    let log = await openT(store);
    await appendEach(log, 100);
    const start = await log.applyRetention(T0 + 10_000, 5_000, 2048);
    expect(start).toBeGreaterThan(0);
    await close(store);
    const logger = new RecordingLogger();
    store = await open(dir, { segmentBytes: 1024, logger });
    log = await store.openPartition("t", 0);
    expect(log.startOffset).toBe(start);
    const { offsets, error } = await readUntilError(log);
    expect(error).toBeUndefined();
    expect(offsets).toEqual(Array.from({ length: 100 - start }, (_, i) => start + i));
    expect(logger.at("error")).toEqual([]);
  });
});

describe("the active segment after an unclean stop", () => {
  async function activeSegment(options: FileStoreOptions = {}): Promise<{ dir: string; file: string; positions: number[] }> {
    const dir = tempDir();
    const store = await open(dir, { fsync: "always", ...options });
    const log = await openT(store);
    await appendEach(log, 10);
    await close(store);
    fs.rmSync(path.join(partitionDir(dir, "t"), "CLEAN")); // as after a crash
    const file = segmentFiles(partitionDir(dir, "t"))[0] as string;
    return { dir, file, positions: batchPositions(file) };
  }

  test("damage in the middle is not cut: the partition refuses to open, the file is untouched", async () => {
    const { dir, file, positions } = await activeSegment();
    flipByte(file, (positions[4] as number) + 40); // a record byte of offset 4
    const before = fs.readFileSync(file);
    const logger = new RecordingLogger();
    const store = await open(dir, { logger });
    const err = (await store.openPartition("t", 0).catch((e: unknown) => e)) as BrookError;
    expect(err).toBeInstanceOf(BrookError);
    expect(err.code).toBe("CORRUPT_DATA");
    expect(err.message).toContain(file);
    expect(err.message).toContain(`byte ${positions[4]}`);
    expect(err.message).toContain("offset 4");
    expect(fs.readFileSync(file)).toEqual(before);
    expect(logger.at("warn").filter((w) => /truncat/.test(w.message))).toEqual([]);
  });

  test("a flipped byte in the last complete batch (acknowledged, fsynced) is damage, not a torn tail", async () => {
    const { dir, file } = await activeSegment();
    flipByte(file, fs.statSync(file).size - 1);
    const before = fs.readFileSync(file);
    const store = await open(dir);
    await expect(store.openPartition("t", 0)).rejects.toMatchObject({ code: "CORRUPT_DATA" });
    expect(fs.readFileSync(file)).toEqual(before);
  });

  test("a damaged length field of the last batch is damage, not a torn tail", async () => {
    const { dir, file, positions } = await activeSegment();
    const last = positions[positions.length - 1] as number;
    const buf = fs.readFileSync(file);
    buf.writeUInt32BE(buf.readUInt32BE(last) + 1000, last); // now "runs past the end of the file"
    fs.writeFileSync(file, buf);
    const store = await open(dir);
    await expect(store.openPartition("t", 0)).rejects.toMatchObject({ code: "CORRUPT_DATA" });
    expect(fs.readFileSync(file)).toEqual(buf);
  });

  test("a torn tail is cut and the cut is logged at error level with file, position and offsets", async () => {
    const { dir, file, positions } = await activeSegment();
    const last = positions[positions.length - 1] as number;
    fs.truncateSync(file, fs.statSync(file).size - 3); // mid-way through the last batch (offset 9)
    const logger = new RecordingLogger();
    const store = await open(dir, { logger });
    const log = await store.openPartition("t", 0);
    expect(log.endOffset).toBe(9);
    const cut = logger.at("error").find((e) => /torn/.test(e.message));
    expect(cut?.fields).toMatchObject({ file, position: last, fromOffset: 9 });
    expect(fs.statSync(file).size).toBe(last);
  });

  test("zeros after the last batch (a power cut extended the file) are a torn tail", async () => {
    const { dir, file } = await activeSegment();
    const size = fs.statSync(file).size;
    fs.appendFileSync(file, Buffer.alloc(3000));
    const store = await open(dir);
    const log = await store.openPartition("t", 0);
    expect(log.endOffset).toBe(10);
    expect(fs.statSync(file).size).toBe(size);
  });

  test("after a clean close any damage at the tail is damage (every byte had been fsynced)", async () => {
    const dir = tempDir();
    let store = await open(dir);
    const log = await openT(store);
    await appendEach(log, 3);
    await close(store);
    const file = segmentFiles(partitionDir(dir, "t"))[0] as string;
    fs.truncateSync(file, fs.statSync(file).size - 2);
    store = await open(dir);
    await expect(store.openPartition("t", 0)).rejects.toMatchObject({ code: "CORRUPT_DATA" });
  });
});

describe("the dedupe window after an unclean stop", () => {
  test("an entry pointing past the recovered end (its record was lost) is removed, so a retry is appended", async () => {
    const dir = tempDir();
    let store = await open(dir, { fsync: "always" });
    const log = await openT(store);
    await appendEach(log, 5);
    const far = Date.now() + 3_600_000;
    store.metadata.dedupePut("t", "kept", { partition: 0, offset: 4, expiresAt: far });
    store.metadata.dedupePut("t", "lost", { partition: 0, offset: 7, expiresAt: far }); // as if offsets 5–7 died with a power cut
    await close(store);
    fs.rmSync(path.join(partitionDir(dir, "t"), "CLEAN"));
    store = await open(dir);
    await openT(store);
    expect(store.metadata.dedupeGet("t", "kept", T0)?.offset).toBe(4);
    expect(store.metadata.dedupeGet("t", "lost", T0)).toBeUndefined();
    await close(store);
    store = await open(dir); // and the removal was journaled
    expect(store.metadata.dedupeGet("t", "lost", T0)).toBeUndefined();
    expect(store.metadata.dedupeGet("t", "kept", T0)?.offset).toBe(4);
  });
});

describe("committed offsets past the end of the log", () => {
  test("are reported at error level on open, naming the group (it would skip the records appended there)", async () => {
    const dir = tempDir();
    let store = await open(dir, { fsync: "always" });
    const log = await openT(store);
    await appendEach(log, 3);
    await store.metadata.commit("g", "t", 0, 9); // as after a power cut under "interval" took offsets 3–8
    await close(store);
    const logger = new RecordingLogger();
    store = await open(dir, { logger });
    await openT(store);
    expect(logger.at("error").find((e) => e.message.includes('group "g" committed offset 9'))?.fields).toMatchObject({ committed: 9, endOffset: 3 });
  });
});

describe("the metadata journal", () => {
  async function journalWithEntries(): Promise<{ dir: string; journal: string }> {
    const dir = tempDir();
    const store = await open(dir, { fsync: "always" });
    const config = { partitions: 1, retentionMs: Infinity, retentionBytes: undefined, createdAt: T0 };
    await store.metadata.putTopic("first", config);
    for (let i = 0; i < 5; i++) await store.metadata.commit("g", "first", 0, i);
    await store.metadata.putTopic("second", config);
    await store.metadata.commit("g", "second", 0, 42);
    await close(store);
    const meta = path.join(dir, "meta");
    return { dir, journal: path.join(meta, fs.readdirSync(meta).find((f) => f.startsWith("journal-")) as string) };
  }

  /** Byte positions of the journal's entries. */
  function entryPositions(journal: string): number[] {
    const buf = fs.readFileSync(journal);
    const out: number[] = [];
    for (let at = 0; at + 4 <= buf.length; at += buf.readUInt32BE(at)) out.push(at);
    return out;
  }

  test("a damaged entry in the middle refuses to open, naming the file and the entry's position, and discards nothing", async () => {
    const { dir, journal } = await journalWithEntries();
    const positions = entryPositions(journal);
    const victim = positions[3] as number; // a commit entry
    flipByte(journal, victim + 12);
    const before = fs.readFileSync(journal);
    const err = (await openFileStore(dir, { logger: new RecordingLogger() }).catch((e: unknown) => e)) as BrookError;
    expect(err).toBeInstanceOf(BrookError);
    expect(err.code).toBe("CORRUPT_DATA");
    expect(err.message).toContain(journal);
    expect(err.message).toContain(`byte ${victim}`);
    expect(fs.readFileSync(journal)).toEqual(before);
    // the lock was released: the directory can be opened once repaired (here: the byte restored)
    flipByte(journal, victim + 12);
    const store = await open(dir);
    expect([...store.metadata.topics().keys()].sort()).toEqual(["first", "second"]);
    expect(store.metadata.committed("g", "second").get(0)).toBe(42);
  });

  test("a damaged length field in the middle is damage too, not a torn tail", async () => {
    const { dir, journal } = await journalWithEntries();
    const positions = entryPositions(journal);
    const buf = fs.readFileSync(journal);
    buf.writeUInt32BE(buf.length * 2, positions[2] as number);
    fs.writeFileSync(journal, buf);
    await expect(openFileStore(dir, { logger: new RecordingLogger() })).rejects.toMatchObject({ code: "CORRUPT_DATA" });
    expect(fs.readFileSync(journal)).toEqual(buf);
  });

  test("a torn last entry is still cut, keeping every entry before it", async () => {
    const { dir, journal } = await journalWithEntries();
    const size = fs.statSync(journal).size;
    fs.appendFileSync(journal, Buffer.from([0, 0, 0, 60, 9, 9, 9, 9, 3, 1, 2]));
    const logger = new RecordingLogger();
    const store = await open(dir, { logger });
    expect(store.metadata.committed("g", "second").get(0)).toBe(42);
    expect(fs.statSync(journal).size).toBe(size);
    expect(logger.entries.some((e) => /metadata journal/.test(e.message))).toBe(true);
  });

  test("lost metadata is rebuilt from the topic directories: the topic and its records stay", async () => {
    const dir = tempDir();
    let store = await open(dir);
    await store.metadata.putTopic("orders", { partitions: 2, retentionMs: 1000, retentionBytes: undefined, createdAt: T0 });
    for (const p of [0, 1]) await appendEach(await store.openPartition("orders", p), 5);
    await close(store);
    fs.rmSync(path.join(dir, "meta"), { recursive: true });
    const logger = new RecordingLogger();
    store = await open(dir, { logger });
    const topics = store.metadata.topics();
    expect([...topics.keys()]).toEqual(["orders"]);
    expect(topics.get("orders")?.partitions).toBe(2);
    expect(topics.get("orders")?.retentionMs).toBe(Infinity); // unknown: nothing is deleted until an operator decides
    expect(logger.at("error").some((e) => e.message.includes("orders"))).toBe(true);
    const log = await store.openPartition("orders", 1);
    expect((await readUntilError(log)).offsets).toEqual([0, 1, 2, 3, 4]);
    await close(store);
    // the rebuilt state was written: the next open is quiet
    const quiet = new RecordingLogger();
    store = await open(dir, { logger: quiet });
    expect([...store.metadata.topics().keys()]).toEqual(["orders"]);
    expect(quiet.at("error")).toEqual([]);
  });

  test("a lost snapshot: the journal that followed it is replayed, not deleted", async () => {
    const dir = tempDir();
    let store = await open(dir, { metadataCompactBytes: 1 }); // compacts after the first write
    await store.metadata.putTopic("t", CONFIG);
    await close(store);
    store = await open(dir);
    await store.metadata.commit("g", "t", 0, 7);
    await close(store);
    const meta = path.join(dir, "meta");
    expect(fs.readdirSync(meta).filter((f) => f.startsWith("journal-"))).not.toContain(`journal-${stem(0)}.log`);
    fs.rmSync(path.join(meta, "snapshot"));
    const logger = new RecordingLogger();
    store = await open(dir, { logger });
    expect(store.metadata.committed("g", "t").get(0)).toBe(7);
    expect(logger.at("error").some((e) => /snapshot missing/.test(e.message))).toBe(true);
    await close(store);
    // the rebuilt state was written as a new snapshot: the next open is quiet
    const quiet = new RecordingLogger();
    store = await open(dir, { logger: quiet });
    expect(store.metadata.committed("g", "t").get(0)).toBe(7);
    expect(quiet.at("error")).toEqual([]);
  });

  test("a topic creation cut short before its topicPut is removed, and creating it again works", async () => {
    const dir = tempDir();
    let store = await open(dir);
    await store.openPartition("x", 0); // the engine opens partitions, then journals topicPut: crash in between
    await close(store);
    store = await open(dir);
    expect(fs.readdirSync(path.join(dir, "topics"))).toEqual([]);
    await store.metadata.putTopic("x", CONFIG);
    const log = await store.openPartition("x", 0);
    expect(log.endOffset).toBe(0);
    await log.append([record(0)]);
    await close(store);
    store = await open(dir);
    expect((await store.openPartition("x", 0)).endOffset).toBe(1);
  });

  test("a topic deletion cut short by a crash is completed: the topic's records never come back", async () => {
    const dir = tempDir();
    let store = await open(dir);
    await store.metadata.putTopic("t", { partitions: 1, retentionMs: Infinity, retentionBytes: undefined, createdAt: T0 });
    await appendEach(await store.openPartition("t", 0), 5);
    await close(store);
    // the crash came after the topic directory was renamed, before topicDeleted was journaled
    fs.renameSync(path.join(dir, "topics", "t"), path.join(dir, "topics", ".deleted-t-0123abcd"));
    store = await open(dir);
    expect(store.metadata.topics().has("t")).toBe(false);
    expect(fs.readdirSync(path.join(dir, "topics"))).toEqual([]);
    await store.metadata.putTopic("t", { partitions: 1, retentionMs: Infinity, retentionBytes: undefined, createdAt: T0 });
    const log = await store.openPartition("t", 0);
    expect(log.endOffset).toBe(0);
  });
});

describe("brook repair --skip-damaged", () => {
  test("a batch failing its CRC inside a sealed segment: check finds it, repair skips it, readers then move past it", async () => {
    const { dir, files } = await segmentedPartition();
    const victim = files[1] as string;
    const positions = batchPositions(victim);
    const badOffset = baseOf(victim) + positions.length - 1;
    const nextBase = baseOf(files[2] as string);
    flipByte(victim, fs.statSync(victim).size - 1); // the last batch's value: header fine, CRC not
    const checked = await checkDirectory(dir, { logger: new RecordingLogger() });
    expect(checked.damaged).toBe(1);
    expect(checked.findings.find((f) => f.kind === "damaged")?.detail).toContain(`offsets ${badOffset}–${nextBase - 1}`);
    // check skipped nothing: a read still stops there
    let store = await open(dir, { segmentBytes: 1024 });
    let log = await openT(store);
    expect((await readUntilError(log)).error?.code).toBe("CORRUPT_DATA");
    await close(store);

    const logger = new RecordingLogger();
    const repaired = await checkDirectory(dir, { skipDamaged: true, logger });
    expect(repaired.damaged).toBe(0);
    expect(repaired.findings.filter((f) => f.kind === "skipped")).toHaveLength(1);
    expect(logger.at("error").some((e) => /skipped by brook repair/.test(e.message))).toBe(true);
    store = await open(dir, { segmentBytes: 1024 });
    log = await openT(store);
    const { offsets, error } = await readUntilError(log);
    expect(error).toBeUndefined();
    expect(offsets).toEqual(Array.from({ length: 100 }, (_, i) => i).filter((o) => o < badOffset || o >= nextBase));
  });

  test("a damaged journal entry: the entries before and after it are kept, the old journal is set aside", async () => {
    const dir = tempDir();
    let store = await open(dir, { fsync: "always" });
    const config = { partitions: 1, retentionMs: Infinity, retentionBytes: undefined, createdAt: T0 };
    await store.metadata.putTopic("first", config);
    for (let i = 0; i < 5; i++) await store.metadata.commit("g", "first", 0, i);
    await store.metadata.putTopic("second", config);
    await store.metadata.commit("g", "second", 0, 42);
    await close(store);
    const meta = path.join(dir, "meta");
    const journal = path.join(meta, fs.readdirSync(meta).find((f) => f.startsWith("journal-")) as string);
    const buf = fs.readFileSync(journal);
    const entries: number[] = [];
    for (let at = 0; at + 4 <= buf.length; at += buf.readUInt32BE(at)) entries.push(at);
    flipByte(journal, (entries[3] as number) + 12); // the commit of offset 2
    await expect(openFileStore(dir, { logger: new RecordingLogger() })).rejects.toMatchObject({ code: "CORRUPT_DATA" });
    const repaired = await checkDirectory(dir, { skipDamaged: true, logger: new RecordingLogger() });
    expect(repaired.findings.filter((f) => f.kind === "skipped").map((f) => f.what)).toEqual([`metadata journal ${journal}`]);
    expect(fs.readdirSync(meta).some((f) => f.endsWith(".damaged"))).toBe(true);
    store = await open(dir);
    expect([...store.metadata.topics().keys()].sort()).toEqual(["first", "second"]);
    expect(store.metadata.committed("g", "first").get(0)).toBe(4);
    expect(store.metadata.committed("g", "second").get(0)).toBe(42);
  });
});

describe("readRuns (records located in their batches, decoded on demand) on damage", () => {
  /** An open store whose partition holds `n` one-record batches, and its one segment file. */
  async function liveSegment(n: number): Promise<{ log: PartitionLog; file: string }> {
    const dir = tempDir();
    const store = await open(dir);
    const log = await openT(store);
    await appendEach(log, n);
    return { log, file: segmentFiles(partitionDir(dir, "t"))[0] as string };
  }

  test("a flipped byte in a batch: the run before it is handed out, then CORRUPT_DATA naming the file, byte and offsets", async () => {
    const { log, file } = await liveSegment(10);
    const positions = batchPositions(file);
    flipByte(file, (positions[6] as number) + 40);
    const run = await log.readRuns(0, 100);
    expect(run.firstOffset).toBe(0);
    expect(run.length).toBe(6);
    expect(Array.from({ length: run.length }, (_, i) => run.record(i))).toEqual(await log.read(0, 6));
    const err = (await log.readRuns(6, 100).catch((e: unknown) => e)) as BrookError;
    expect(err).toBeInstanceOf(BrookError);
    expect(err.code).toBe("CORRUPT_DATA");
    expect(err.message).toContain(file);
    expect(err.message).toContain(`byte ${positions[6]}`);
    expect(err.message).toContain("offsets 6–");
    expect(err.message).toContain("checksum mismatch");
  });

  test("a batch whose checksum holds but whose records do not fit it is CORRUPT_DATA too (the walk that locates them checks)", async () => {
    const dir = tempDir();
    const store = await open(dir);
    const log = await openT(store);
    await log.append([record(0), record(1), record(2)]);
    const file = segmentFiles(partitionDir(dir, "t"))[0] as string;
    // Say the batch holds 2 records (of its 3) and sign it again: only the walk can tell.
    const buf = fs.readFileSync(file);
    buf.writeUInt32BE(2, 10);
    buf.writeUInt32BE(crc32c(buf.subarray(8, buf.readUInt32BE(0))), 4);
    fs.writeFileSync(file, buf);
    const run = await log.readRuns(0, 100);
    expect(run.length).toBe(2);
    const err = (await log.readRuns(2, 100).catch((e: unknown) => e)) as BrookError;
    expect(err.code).toBe("CORRUPT_DATA");
    expect(err.message).toContain(file);
    expect(err.message).toMatch(/records end at byte \d+ of a \d+-byte batch/);
    const eager = (await log.read(2, 100).catch((e: unknown) => e)) as BrookError;
    expect(eager.message).toBe(err.message);
  });
});
