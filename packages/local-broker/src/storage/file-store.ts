/**
 * The durable store of the local broker: a directory of segmented partition logs plus
 * metadata, owned by one process. The on-disk format is specified in ../../FORMAT.md; the
 * pieces live beside this file:
 *   file-format.ts        record batch and index encoding (FORMAT.md §3, §4)
 *   file-segment.ts       segments, index loading/validation, recovery scans (§4, §7)
 *   file-partition-log.ts append with group commit, reads, retention (§2, §7, §8)
 *   file-metadata.ts      topics, committed offsets, dedupe window (§5)
 *   file-lock.ts          the LOCK file (§6)
 */
import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { BrookError, defaultLogger } from "@brook/core/base";
import type { PartitionLog, Store } from "./types.js";
import { FileMetadataStore } from "./file-metadata.js";
import { DirectoryLock } from "./file-lock.js";
import { FilePartitionLog, type FileStoreStats, type FsyncPolicy, type LogContext, type RepairMode, type StoreLogger } from "./file-partition-log.js";
import { FdCache, IndexCache } from "./file-segment.js";
import { fsyncDirSync, mkdirs } from "./file-io.js";

export type { FileStoreStats, FsyncPolicy, StoreLogger } from "./file-partition-log.js";

export interface FileStoreOptions {
  /** "never" leaves flushing to the OS; "interval" (default) fsyncs every fsyncIntervalMs;
   *  "always" resolves an append only after an fsync shared by all concurrent appends. */
  fsync?: FsyncPolicy;
  /** default 200 */
  fsyncIntervalMs?: number;
  /** roll the active segment at this size; default 64 MiB, at most 1 GiB */
  segmentBytes?: number;
  /** roll the active segment when its records span this long; default 24 h */
  segmentMs?: number;
  /** bytes of log between sparse index entries (FORMAT.md §4); default 4096 */
  indexIntervalBytes?: number;
  /** sealed segment files kept open for reading; default 256 */
  maxOpenSegmentFiles?: number;
  /** memory for loaded sealed-segment indexes; default 32 MiB */
  indexCacheBytes?: number;
  /** compact the metadata journal into a snapshot past this size (FORMAT.md §5.2); default 8 MiB */
  metadataCompactBytes?: number;
  /** hears what recovery truncated or rebuilt (any core Logger fits); default core's defaultLogger */
  logger?: StoreLogger;
  /** `brook repair --skip-damaged` only (FORMAT.md §9): skip damaged ranges explicitly */
  repair?: RepairMode;
}

const DEFAULTS = {
  fsync: "interval" as FsyncPolicy,
  fsyncIntervalMs: 200,
  segmentBytes: 64 * 1024 * 1024,
  segmentMs: 24 * 60 * 60 * 1000,
  indexIntervalBytes: 4096,
  maxOpenSegmentFiles: 256,
  indexCacheBytes: 32 * 1024 * 1024,
  metadataCompactBytes: 8 * 1024 * 1024,
};
const MAX_SEGMENT_BYTES = 1024 * 1024 * 1024;


/** Opens (creating when missing) the data directory `dir` and takes its lock (FORMAT.md §6, §7). */
export async function openFileStore(dir: string, options: FileStoreOptions = {}): Promise<FileStore> {
  if (typeof dir !== "string" || dir.length === 0) throw invalid("openFileStore: dir", "a directory path", dir);
  const fsync = options.fsync ?? DEFAULTS.fsync;
  if (fsync !== "never" && fsync !== "interval" && fsync !== "always") throw invalid("openFileStore: fsync", '"never", "interval" or "always"', fsync);
  const fsyncIntervalMs = positiveInt("fsyncIntervalMs", options.fsyncIntervalMs, DEFAULTS.fsyncIntervalMs, 1, 3_600_000);
  const segmentBytes = positiveInt("segmentBytes", options.segmentBytes, DEFAULTS.segmentBytes, 64, MAX_SEGMENT_BYTES);
  const segmentMs = positiveInt("segmentMs", options.segmentMs, DEFAULTS.segmentMs, 1, Number.MAX_SAFE_INTEGER);
  const indexIntervalBytes = positiveInt("indexIntervalBytes", options.indexIntervalBytes, DEFAULTS.indexIntervalBytes, 1, MAX_SEGMENT_BYTES);
  const maxOpen = positiveInt("maxOpenSegmentFiles", options.maxOpenSegmentFiles, DEFAULTS.maxOpenSegmentFiles, 1, 1_000_000);
  const indexCacheBytes = positiveInt("indexCacheBytes", options.indexCacheBytes, DEFAULTS.indexCacheBytes, 1, Number.MAX_SAFE_INTEGER);
  const compactBytes = positiveInt("metadataCompactBytes", options.metadataCompactBytes, DEFAULTS.metadataCompactBytes, 1, Number.MAX_SAFE_INTEGER);
  const logger = options.logger ?? defaultLogger;
  const settings: Settings = { fsync, fsyncIntervalMs, segmentBytes, segmentMs, indexIntervalBytes, maxOpen, indexCacheBytes, compactBytes, logger, repair: options.repair };
  try {
    return await openValidated(path.resolve(dir), settings);
  } catch (err) {
    if (err instanceof BrookError) throw err;
    throw new BrookError("UNAVAILABLE", `openFileStore(${dir}): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

interface Settings {
  fsync: FsyncPolicy;
  fsyncIntervalMs: number;
  segmentBytes: number;
  segmentMs: number;
  indexIntervalBytes: number;
  maxOpen: number;
  indexCacheBytes: number;
  compactBytes: number;
  logger: StoreLogger;
  repair: RepairMode | undefined;
}

async function openValidated(root: string, settings: Settings): Promise<FileStore> {
  const { fsync, fsyncIntervalMs, segmentBytes, segmentMs, indexIntervalBytes, maxOpen, indexCacheBytes, compactBytes, logger, repair } = settings;
  const created = mkdirs(root);
  if (fsync !== "never") for (const d of created) fsyncDirSync(path.dirname(d));
  const lock = DirectoryLock.acquire(root);
  try {
    const topicsDir = path.join(root, "topics");
    fs.mkdirSync(topicsDir, { recursive: true });
    const stats: FileStoreStats = { fsyncs: 0, writes: 0, bytesWritten: 0 };
    const metadata = FileMetadataStore.open(path.join(root, "meta"), { fsync, compactBytes, logger, stats, ...(repair === undefined ? {} : { repair }) });
    try {
      await reconcileTopicDirs(topicsDir, metadata, logger);
    } catch (err) {
      await metadata.close().catch(() => undefined);
      throw err;
    }
    const ctx: LogContext = {
      fsync,
      segmentBytes,
      segmentMs,
      indexIntervalBytes,
      logger,
      fds: new FdCache(maxOpen, fsync !== "never"),
      indexes: new IndexCache(indexCacheBytes),
      stats,
      metadata,
      ...(repair === undefined ? {} : { repair }),
    };
    return new FileStore(root, lock, metadata, ctx, fsyncIntervalMs);
  } catch (err) {
    lock.release();
    throw err;
  }
}

interface OpenLog {
  topic: string;
  log: Promise<FilePartitionLog>;
}

export class FileStore implements Store {
  readonly durable = true;
  private readonly logs = new Map<string, OpenLog>();
  private readonly timer: NodeJS.Timeout | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(
    readonly dir: string,
    private readonly lock: DirectoryLock,
    readonly metadata: FileMetadataStore,
    private readonly ctx: LogContext,
    fsyncIntervalMs: number,
  ) {
    if (ctx.fsync === "interval") {
      this.timer = setInterval(() => this.intervalFsync(), fsyncIntervalMs);
      this.timer.unref();
      // Every open segment file waits for its fsync before it may be closed: run them now.
      ctx.fds.onPressure = () => this.intervalFsync();
    }
  }

  /** Counters: fsyncs, writes and bytes written (logs + metadata), open files, loaded indexes. */
  stats(): FileStoreStats & { openSegmentFiles: number; loadedIndexes: number } {
    return { ...this.ctx.stats, openSegmentFiles: this.ctx.fds.openCount, loadedIndexes: this.ctx.indexes.loadedCount };
  }

  openPartition(topic: string, partition: number): Promise<PartitionLog> {
    if (this.closed) return Promise.reject(new BrookError("CLOSED", `file store ${this.dir} is closed`));
    if (typeof topic !== "string" || topic.length === 0) return Promise.reject(invalid("openPartition: topic", "a non-empty string", topic));
    if (!Number.isSafeInteger(partition) || partition < 0) return Promise.reject(invalid("openPartition: partition", "a non-negative integer", partition));
    const key = `${topic}\u0000${partition}`;
    const existing = this.logs.get(key);
    if (existing !== undefined) return existing.log;
    const dir = this.partitionDir(topic, partition);
    const log = FilePartitionLog.open(this.ctx, topic, partition, dir, (closed) => {
      void this.logs.get(key)?.log.then((current) => {
        if (current === closed) this.logs.delete(key);
      });
    });
    this.logs.set(key, { topic, log });
    log.catch(() => this.logs.delete(key));
    return log;
  }

  async deleteTopic(topic: string): Promise<void> {
    if (this.closed) throw new BrookError("CLOSED", `file store ${this.dir} is closed`);
    if (typeof topic !== "string" || topic.length === 0) throw invalid("deleteTopic: topic", "a non-empty string", topic);
    const closing: Array<Promise<void>> = [];
    for (const [key, open] of this.logs) {
      if (open.topic !== topic) continue;
      this.logs.delete(key);
      closing.push(open.log.then((log) => log.close()));
    }
    await Promise.allSettled(closing);
    const dir = this.topicDir(topic);
    // FORMAT.md §8a: rename, journal topicDeleted, then remove — a crash in between is
    // completed on open, so a deleted topic's records never come back.
    const topicsDir = path.dirname(dir);
    const doomed = path.join(topicsDir, `.deleted-${encodeTopic(topic)}-${randomBytes(4).toString("hex")}`);
    const exists = fs.existsSync(dir);
    if (exists) {
      fs.renameSync(dir, doomed);
      if (this.ctx.fsync !== "never") fsyncDirSync(topicsDir);
    }
    await this.metadata.deleteTopic(topic);
    if (exists) fs.rmSync(doomed, { recursive: true, force: true });
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    try {
      const logs = await Promise.allSettled([...this.logs.values()].map((o) => o.log));
      for (const r of logs) {
        if (r.status !== "fulfilled") continue;
        await r.value.close().catch((err: unknown) => {
          this.ctx.logger.warn("closing a partition log failed", { partition: r.value.name, error: String(err) });
        });
      }
      await this.metadata.close();
    } finally {
      this.lock.release();
    }
  }

  private intervalFsync(): void {
    for (const open of this.logs.values()) void open.log.then((log) => log.intervalFsync(), () => undefined);
    this.metadata.intervalFsync();
  }

  private topicDir(topic: string): string {
    return path.join(this.dir, "topics", encodeTopic(topic));
  }

  private partitionDir(topic: string, partition: number): string {
    return path.join(this.topicDir(topic), String(partition));
  }
}

/**
 * FORMAT.md §7 step 2: complete topic deletions cut short, and rebuild topics whose metadata was
 * lost from their directories (or remove a directory that never held records).
 */
async function reconcileTopicDirs(topicsDir: string, metadata: FileMetadataStore, logger: StoreLogger): Promise<void> {
  const known = metadata.topics();
  for (const name of fs.readdirSync(topicsDir)) {
    const full = path.join(topicsDir, name);
    const deleted = /^\.deleted-(.+)-[0-9a-f]{8}$/.exec(name);
    if (deleted !== null) {
      const topic = decodeTopic(deleted[1] as string);
      if (topic !== undefined && known.has(topic) && !fs.existsSync(path.join(topicsDir, deleted[1] as string))) {
        logger.warn("completing a topic deletion cut short", { topic, dir: full });
        await metadata.deleteTopic(topic);
        known.delete(topic);
      }
      fs.rmSync(full, { recursive: true, force: true });
      continue;
    }
    if (name.startsWith(".")) continue;
    const topic = decodeTopic(name);
    if (topic === undefined || encodeTopic(topic) !== name || known.has(topic)) continue;
    let partitions = 0;
    let holdsRecords = false;
    for (const p of fs.readdirSync(full)) {
      if (!/^(0|[1-9]\d*)$/.test(p)) continue;
      partitions = Math.max(partitions, Number(p) + 1);
      for (const f of fs.readdirSync(path.join(full, p))) {
        if (f.endsWith(".log") && fs.statSync(path.join(full, p, f)).size > 0) holdsRecords = true;
      }
    }
    if (!holdsRecords) {
      // a creation that crashed before its topicPut: it never held records. Its partition
      // entries go first (journaled), or creating the topic again would find its segments "absent".
      await metadata.deleteTopic(topic);
      fs.rmSync(full, { recursive: true, force: true });
      continue;
    }
    logger.error(`metadata has no entry for topic "${topic}" whose directory holds records; rebuilt from its directory (retention unlimited until reconfigured, committed offsets lost)`, {
      topic,
      dir: full,
      partitions,
    });
    await metadata.putTopic(topic, { partitions, retentionMs: Infinity, retentionBytes: undefined, createdAt: Date.now() });
  }
}

/** The inverse of encodeTopic, or undefined when `name` is not an encoded topic. */
export function decodeTopic(name: string): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < name.length; i++) {
    const c = name[i] as string;
    if (c === "%") {
      const hex = name.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(c.charCodeAt(0));
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/** FORMAT.md §1, topic encoding. */
export function encodeTopic(topic: string): string {
  let out = "";
  for (const byte of Buffer.from(topic, "utf8")) {
    const c = String.fromCharCode(byte);
    const safe = /[A-Za-z0-9_-]/.test(c) || (c === "." && out.length > 0);
    out += safe ? c : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

function invalid(field: string, expected: string, got: unknown): BrookError {
  const shown = typeof got === "string" ? JSON.stringify(got) : String(got);
  return new BrookError("INVALID_ARGUMENT", `${field}: expected ${expected}, got ${shown}`);
}

function positiveInt(field: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min || value > max) throw invalid(`openFileStore: ${field}`, `an integer from ${min} to ${max}`, value);
  return value;
}
