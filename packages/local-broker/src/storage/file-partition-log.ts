/**
 * The durable log of one partition: a list of segments (FORMAT.md §1), appended with group
 * commit (§2), read with positional reads through the sparse index (§4), recovered on open
 * (§7) and trimmed by retention (§8). Nothing but the active segment's index and per-segment
 * bookkeeping stays in memory; records are always read from disk.
 */
import fs from "node:fs";
import path from "node:path";
import { BrookError, type Logger } from "@brook/core";
import type { AppendRecord, PartitionLog, StoredRecord } from "./types.js";
import {
  BATCH_HEADER_BYTES,
  type DecodeProgress,
  type EncodedAppend,
  batchBaseOffset,
  batchLength,
  batchMaxTimestamp,
  batchRecordCount,
  checkBatch,
  checkBatchHeader,
  decodeBatchRecords,
  encodeAppend,
  firstOffsetAtOrAfter,
  isDecodeError,
} from "./file-format.js";
import { fsyncDirSync, fsyncFd, mkdirs, preadFully, pwritev, readFileIfExists, unlinkIfExists, writeFileSyncDurable } from "./file-io.js";
import { type FdCache, type IndexCache, Segment, SegmentIndex, scanSegment, walkTail } from "./file-segment.js";

export type FsyncPolicy = "never" | "interval" | "always";

/** Where the store reports what recovery cut or rebuilt; core's Logger fits. */
export type StoreLogger = Pick<Logger, "warn">;

/** Counters for tests and benchmarks. */
export interface FileStoreStats {
  fsyncs: number;
  writes: number;
  bytesWritten: number;
}

/** What a partition log needs from its store. */
export interface LogContext {
  readonly fsync: FsyncPolicy;
  readonly segmentBytes: number;
  readonly segmentMs: number;
  readonly indexIntervalBytes: number;
  readonly logger: StoreLogger;
  readonly fds: FdCache;
  readonly indexes: IndexCache;
  readonly stats: FileStoreStats;
}

interface PendingAppend {
  enc: EncodedAppend;
  base: number;
  count: number;
  resolve: (offset: number) => void;
  reject: (err: unknown) => void;
}

/** Soft cap of one read when the caller gives no maxBytes. */
const DEFAULT_READ_MAX_BYTES = 1024 * 1024;
const MIN_READ_CHUNK = 4 * 1024;
const MAX_READ_CHUNK = 8 * 1024 * 1024;

export class FilePartitionLog implements PartitionLog {
  private segments: Segment[] = [];
  private active!: Segment;
  /** the offset the next append gets (appends in flight included) */
  private nextOffset = 0;
  /** the offset after the last record readers may see (written, and fsynced under "always") */
  private visibleEnd = 0;
  private pending: PendingAppend[] = [];
  private flushing = false;
  private idleWaiters: Array<() => void> = [];
  private failure: BrookError | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** bytes written to the active segment since its last fsync */
  private dirty = false;
  private readonly backgroundFsyncs = new Set<Promise<void>>();

  private constructor(
    private readonly ctx: LogContext,
    /** "topic/partition", for messages */
    readonly name: string,
    readonly dir: string,
    private readonly onClosed: (log: FilePartitionLog) => void,
  ) {}

  /** Opens the partition directory, creating it when missing, and recovers it (FORMAT.md §7). */
  static async open(ctx: LogContext, name: string, dir: string, onClosed: (log: FilePartitionLog) => void): Promise<FilePartitionLog> {
    const log = new FilePartitionLog(ctx, name, dir, onClosed);
    try {
      await log.recover();
    } catch (err) {
      log.releaseFiles();
      throw log.ioError(err, `opening ${dir}`);
    }
    return log;
  }

  get startOffset(): number {
    const first = this.segments[0];
    return first === undefined ? this.visibleEnd : Math.min(first.base, this.visibleEnd);
  }

  get endOffset(): number {
    return this.visibleEnd;
  }

  sizeBytes(): number {
    let total = 0;
    for (const seg of this.segments) total += seg.size;
    return total;
  }

  // -------------------------------------------------------------------------------------------
  // Append path (FORMAT.md §2)

  append(records: readonly AppendRecord[]): Promise<number> {
    if (this.closed) return Promise.reject(this.closedError());
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (!Array.isArray(records)) {
      return Promise.reject(new BrookError("INVALID_ARGUMENT", `append(${this.name}): records: expected an array`));
    }
    if (records.length === 0) return Promise.resolve(this.nextOffset);
    const base = this.nextOffset;
    let enc: EncodedAppend;
    try {
      enc = encodeAppend(records, base);
    } catch (err) {
      return Promise.reject(err);
    }
    this.nextOffset = base + records.length;
    return new Promise<number>((resolve, reject) => {
      this.pending.push({ enc, base, count: records.length, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        // One event-loop turn gathers every append that arrives meanwhile into one write.
        setImmediate(() => void this.flushLoop());
      }
    });
  }

  private async flushLoop(): Promise<void> {
    while (this.pending.length > 0 && this.failure === undefined) {
      const group = this.pending;
      this.pending = [];
      try {
        await this.writeGroup(group);
      } catch (err) {
        this.fail(err, group);
        break;
      }
      const last = group[group.length - 1] as PendingAppend;
      this.active.visibleSize = this.active.size;
      this.visibleEnd = last.base + last.count;
      for (const p of group) p.resolve(p.base);
    }
    if (this.failure !== undefined) {
      const rest = this.pending;
      this.pending = [];
      for (const p of rest) p.reject(this.failure);
    }
    this.flushing = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Writes a group of appends: one writev per segment touched, then the fsync policy. */
  private async writeGroup(group: PendingAppend[]): Promise<void> {
    let run: PendingAppend[] = [];
    let runBytes = 0;
    let runFirstTs = 0;
    for (const p of group) {
      const seg = this.active;
      const segBytes = seg.size + runBytes;
      if (segBytes > 0) {
        const segFirstTs = seg.size > 0 ? seg.firstTimestamp : runFirstTs;
        if (segBytes + p.enc.buffer.length > this.ctx.segmentBytes || p.enc.maxTimestamp - segFirstTs >= this.ctx.segmentMs) {
          if (run.length > 0) await this.writeRun(seg, run, runBytes);
          run = [];
          runBytes = 0;
          await this.roll();
        }
      }
      if (run.length === 0) runFirstTs = p.enc.firstTimestamp;
      run.push(p);
      runBytes += p.enc.buffer.length;
    }
    if (run.length > 0) await this.writeRun(this.active, run, runBytes);
    if (this.ctx.fsync === "always") await this.fsyncActive();
  }

  private async writeRun(seg: Segment, run: PendingAppend[], bytes: number): Promise<void> {
    const buffers = new Array<Buffer>(run.length);
    for (let i = 0; i < run.length; i++) buffers[i] = (run[i] as PendingAppend).enc.buffer;
    const position = seg.size;
    const fd = await this.ctx.fds.acquire(seg);
    try {
      await this.writeRunAt(seg, fd, run, buffers, position, bytes);
    } finally {
      // After seg.size grew: the pool sees the new bytes as unsynced and keeps the fd open.
      this.ctx.fds.release(seg);
    }
  }

  private async writeRunAt(seg: Segment, fd: number, run: PendingAppend[], buffers: Buffer[], position: number, bytes: number): Promise<void> {
    const written = await pwritev(fd, buffers, position);
    this.ctx.stats.writes++;
    this.ctx.stats.bytesWritten += written;
    if (written !== bytes) throw new Error(`short write: ${written} of ${bytes} bytes at ${position}`);
    this.dirty = true;
    // Index the new batches (FORMAT.md §4, indexing rule).
    const index = seg.index as SegmentIndex;
    const interval = this.ctx.indexIntervalBytes;
    let at = position;
    for (const p of run) {
      const b = p.enc.batches;
      for (let i = 0; i < b.length; i += 5) {
        const pos = at + (b[i] as number);
        const batchBase = b[i + 1] as number;
        const batchMax = b[i + 3] as number;
        if (index.count === 0) seg.firstTimestamp = b[i + 4] as number;
        if (batchMax > seg.maxTimestamp) seg.maxTimestamp = batchMax;
        if (index.count === 0 || pos - (index.pos[index.count - 1] as number) >= interval) {
          index.push(batchBase - seg.base, pos, seg.maxTimestamp);
        }
        seg.endOffset = batchBase + (b[i + 2] as number);
      }
      at += p.enc.buffer.length;
    }
    seg.size = position + bytes;
  }

  private async fsyncActive(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    const seg = this.active;
    const upTo = seg.size;
    const fd = await this.ctx.fds.acquire(seg);
    try {
      await fsyncFd(fd);
      this.ctx.fds.synced(seg, upTo);
    } finally {
      this.ctx.fds.release(seg);
    }
    this.ctx.stats.fsyncs++;
  }

  /** Seals the active segment and starts a new one at its end offset (FORMAT.md §1). */
  private async roll(): Promise<void> {
    const old = this.active;
    if (this.ctx.fsync === "always") await this.fsyncActive();
    else if (this.ctx.fsync === "interval" && this.dirty) this.fsyncInBackground(old);
    this.dirty = false;
    old.visibleSize = old.size;
    this.writeIndexFiles(old, false);
    const seg = new Segment(this.dir, old.endOffset);
    createSegmentFile(seg);
    seg.index = new SegmentIndex();
    if (this.ctx.fsync !== "never") this.fsyncDir();
    this.segments.push(seg);
    this.active = seg;
    old.writable = false;
    this.ctx.indexes.remember(old);
  }

  /** fsync of a segment under "interval", off the append path. */
  private fsyncInBackground(seg: Segment): void {
    const done = (async () => {
      const upTo = seg.size;
      let fd: number;
      try {
        fd = await this.ctx.fds.acquire(seg);
      } catch (err) {
        if (seg.dropped) return; // deleted by retention meanwhile: nothing left to sync
        throw err;
      }
      try {
        await fsyncFd(fd);
        this.ctx.stats.fsyncs++;
        this.ctx.fds.synced(seg, upTo);
      } finally {
        this.ctx.fds.release(seg);
      }
    })().catch((err: unknown) => this.fsyncFailed(seg, err));
    const tracked = done.finally(() => this.backgroundFsyncs.delete(tracked));
    this.backgroundFsyncs.add(tracked);
  }

  /** Called by the store's interval timer under fsync "interval". */
  intervalFsync(): void {
    if (!this.dirty || this.closed || this.failure !== undefined) return;
    this.dirty = false;
    this.fsyncInBackground(this.active);
  }

  private fsyncFailed(seg: Segment, err: unknown): void {
    // After a failed fsync the kernel may have dropped the dirty pages: nothing written since
    // the last good fsync can be trusted, so stop accepting appends (FORMAT.md §2).
    const message = err instanceof Error ? err.message : String(err);
    this.ctx.logger.warn("fsync failed; partition stops accepting appends", { file: seg.logPath, error: message });
    this.failure ??= new BrookError("UNAVAILABLE", `${this.name}: fsync of ${seg.logPath} failed (${message}); reopen the store to recover`, {
      cause: err,
      retriable: false,
    });
  }

  private fail(err: unknown, group: PendingAppend[]): void {
    const message = err instanceof Error ? err.message : String(err);
    this.failure ??= new BrookError(
      "UNAVAILABLE",
      `${this.name}: writing ${this.active.logPath} failed (${message}); the partition rejects appends until the store is reopened`,
      { cause: err, retriable: false },
    );
    this.ctx.logger.warn("partition write failed", { partition: this.name, file: this.active.logPath, error: message });
    for (const p of group) p.reject(this.failure);
  }

  private writeIndexFiles(seg: Segment, durable: boolean): void {
    const index = seg.index as SegmentIndex;
    writeFileSyncDurable(seg.indexPath, index.encodeOffsetIndex(), durable);
    writeFileSyncDurable(seg.timeIndexPath, index.encodeTimeIndex(), durable);
  }

  private fsyncDir(): void {
    fsyncDirSync(this.dir);
    this.ctx.stats.fsyncs++;
  }

  // -------------------------------------------------------------------------------------------
  // Read path (FORMAT.md §3, §4)

  read(fromOffset: number, maxRecords: number, maxBytes?: number): Promise<StoredRecord[]> {
    return this.readRecords(fromOffset, maxRecords, maxBytes).catch((err: unknown) => {
      throw this.ioError(err, "read");
    });
  }

  private async readRecords(fromOffset: number, maxRecords: number, maxBytes: number | undefined): Promise<StoredRecord[]> {
    this.checkReadable();
    if (!Number.isSafeInteger(fromOffset) || fromOffset < 0) {
      throw new BrookError("INVALID_ARGUMENT", `read(${this.name}): fromOffset: expected a non-negative integer, got ${String(fromOffset)}`);
    }
    if (!Number.isSafeInteger(maxRecords)) {
      throw new BrookError("INVALID_ARGUMENT", `read(${this.name}): maxRecords: expected an integer, got ${String(maxRecords)}`);
    }
    if (maxRecords <= 0) return [];
    if (maxBytes !== undefined && !(maxBytes > 0)) {
      throw new BrookError("INVALID_ARGUMENT", `read(${this.name}): maxBytes: expected a positive number, got ${String(maxBytes)}`);
    }
    const limitBytes = maxBytes ?? DEFAULT_READ_MAX_BYTES;
    const out: StoredRecord[] = [];
    const progress: DecodeProgress = { nextOffset: 0, bytes: 0 };
    let from = Math.max(fromOffset, this.startOffset);
    while (from < this.visibleEnd) {
      const seg = this.segmentFor(from);
      if (seg === undefined) break;
      let full: boolean;
      try {
        full = await this.readSegment(seg, from, out, maxRecords, limitBytes, progress, true);
      } catch (err) {
        // Hand out the good records before the damage; the next read starting there fails.
        if (out.length > 0 && err instanceof BrookError && err.code === "CORRUPT_DATA") return out;
        throw err;
      }
      if (full || out.length >= maxRecords) break;
      if (out.length > 0 && progress.nextOffset > from) from = progress.nextOffset;
      // The segment is exhausted: continue at the next one (skipping a gap, if any).
      const next = this.segmentAfter(seg);
      if (next === undefined) break;
      from = Math.max(from, next.base);
    }
    return out;
  }

  /**
   * Reads records ≥ `from` from one segment into `out`. Returns true when a limit stopped it.
   * `mayRetry`: on a bad first batch of a sealed segment, rebuild its index and try once more.
   */
  private async readSegment(
    seg: Segment,
    from: number,
    out: StoredRecord[],
    maxRecords: number,
    maxBytes: number,
    progress: DecodeProgress,
    mayRetry: boolean,
  ): Promise<boolean> {
    if (seg.deleted) return false; // retention took it meanwhile: the caller moves on
    const index = await this.indexOf(seg);
    if (seg.deleted) return false;
    const k = index.floor(from - seg.base);
    if (k < 0) return false;
    const endOffset = this.visibleEnd;
    // Size the first read: `from` lies before the next index entry, so read up to there, plus
    // the records wanted at the segment's average record size (later reads double).
    const indexed = seg.base + (index.rel[k] as number);
    const startPos = index.pos[k] as number;
    const spanEnd = k + 1 < index.count ? (index.pos[k + 1] as number) : seg.visibleSize;
    const avg = seg.size / Math.max(1, seg.endOffset - seg.base);
    const wanted = Math.min(maxRecords - out.length, Math.max(1, seg.endOffset - from));
    const estimate = Math.max(spanEnd - startPos, (from - indexed + wanted) * avg * 1.1) + BATCH_HEADER_BYTES;
    const chunkHint = Math.min(MAX_READ_CHUNK, maxBytes - progress.bytes + this.ctx.indexIntervalBytes, Math.max(MIN_READ_CHUNK, estimate));
    let full = false;
    let suspectIndex = false;
    await this.walkBatches(seg, startPos, indexed, Math.max(MIN_READ_CHUNK, chunkHint), (buf, at) => {
      full = decodeBatchRecords(buf, at, from, endOffset, out, maxRecords, maxBytes, progress) || out.length >= maxRecords;
      return full || batchEnd(buf, at) >= endOffset;
    }).catch((err: unknown) => {
      if (err instanceof SuspectIndex && mayRetry) {
        suspectIndex = true;
        return;
      }
      throw err instanceof SuspectIndex ? err.corrupt : err;
    });
    if (suspectIndex) {
      // Rebuild the index if it was wrong, then read once more: a bad batch now is bad data.
      await this.rebuildIndexAfterMismatch(seg, index);
      return this.readSegment(seg, from, out, maxRecords, maxBytes, progress, false);
    }
    return full;
  }

  /**
   * Reads the batches of `seg` from byte `pos` (which must hold offset `expected`) in chunks,
   * checks each one (FORMAT.md §3) and hands it to `visit` until `visit` returns true or the
   * readable end of the segment. A bad batch rejects with CORRUPT_DATA naming file, byte and
   * offset; a bad first batch of a sealed segment rejects with SuspectIndex (the index may be
   * what is wrong).
   */
  private async walkBatches(
    seg: Segment,
    pos: number,
    expected: number,
    chunkHint: number,
    visit: (buf: Buffer, at: number) => boolean,
  ): Promise<void> {
    const limit = seg.visibleSize;
    const fd = await this.ctx.fds.acquire(seg);
    try {
      let first = true;
      let chunk = chunkHint;
      while (pos < limit) {
        let want = Math.min(limit - pos, chunk);
        chunk = Math.min(MAX_READ_CHUNK, chunk * 2);
        let buf = Buffer.allocUnsafe(want);
        let got = await preadFully(fd, buf, 0, want, pos);
        if (got < Math.min(want, BATCH_HEADER_BYTES)) throw this.corrupt(seg, pos, expected, "segment file is shorter than expected");
        let at = 0;
        while (pos < limit) {
          if (limit - pos < BATCH_HEADER_BYTES) throw this.corrupt(seg, pos, expected, "segment ends inside a batch header");
          if (got - at < BATCH_HEADER_BYTES) break;
          const len = batchLength(buf, at);
          if (at + len > got && len >= BATCH_HEADER_BYTES && len <= limit - pos) {
            if (at > 0) break; // re-read from this batch
            // A batch larger than the chunk: read exactly that batch.
            want = len;
            buf = Buffer.allocUnsafe(want);
            got = await preadFully(fd, buf, 0, want, pos);
            if (got < want) throw this.corrupt(seg, pos, expected, "segment file is shorter than expected");
          }
          const problem = checkBatch(buf, at, limit - pos, expected);
          if (problem !== undefined) {
            const headerProblem = checkBatchHeader(buf, at, limit - pos, expected);
            const corrupt = this.corrupt(seg, pos, expected, problem);
            if (first && headerProblem !== undefined && seg !== this.active) throw new SuspectIndex(corrupt);
            throw corrupt;
          }
          let stop: boolean;
          try {
            stop = visit(buf, at);
          } catch (err) {
            if (isDecodeError(err)) throw this.corrupt(seg, pos, expected, err.message);
            throw err;
          }
          first = false;
          expected += batchRecordCount(buf, at);
          pos += len;
          at += len;
          if (stop) return;
        }
      }
    } finally {
      this.ctx.fds.release(seg);
    }
  }

  offsetForTime(timestamp: number): Promise<number> {
    return this.searchAllSegments(timestamp).catch((err: unknown) => {
      throw this.ioError(err, "offsetForTime");
    });
  }

  private async searchAllSegments(timestamp: number): Promise<number> {
    this.checkReadable();
    if (typeof timestamp !== "number" || Number.isNaN(timestamp)) {
      throw new BrookError("INVALID_ARGUMENT", `offsetForTime(${this.name}): timestamp: expected a number of milliseconds`);
    }
    for (const seg of [...this.segments]) {
      if (!(seg.maxTimestamp >= timestamp) || seg.deleted) continue;
      const found = await this.searchTime(seg, timestamp, true);
      if (found >= 0 && found < this.visibleEnd) return found;
    }
    return this.visibleEnd;
  }

  /** FORMAT.md §4.2 lookup inside one segment: the first offset with timestamp ≥ target, or -1. */
  private async searchTime(seg: Segment, target: number, mayRetry: boolean): Promise<number> {
    if (seg.deleted) return -1;
    const index = await this.indexOf(seg);
    if (index.count === 0 || seg.deleted) return -1;
    const k = index.firstAtLeast(target);
    const start = k === 0 ? 0 : k - 1;
    let found = -1;
    let suspectIndex = false;
    await this.walkBatches(seg, index.pos[start] as number, seg.base + (index.rel[start] as number), 64 * 1024, (buf, at) => {
      if (batchMaxTimestamp(buf, at) < target) return false;
      found = firstOffsetAtOrAfter(buf, at, target);
      return found >= 0;
    }).catch((err: unknown) => {
      if (err instanceof SuspectIndex && mayRetry) {
        suspectIndex = true;
        return;
      }
      throw err instanceof SuspectIndex ? err.corrupt : err;
    });
    if (suspectIndex) {
      await this.rebuildIndexAfterMismatch(seg, index);
      return this.searchTime(seg, target, false);
    }
    return found;
  }

  private segmentFor(offset: number): Segment | undefined {
    const segs = this.segments;
    let lo = 0;
    let hi = segs.length - 1;
    let found: Segment | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const seg = segs[mid] as Segment;
      if (seg.base <= offset) {
        found = seg;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  private segmentAfter(seg: Segment): Segment | undefined {
    const i = this.segments.indexOf(seg);
    if (i >= 0) return this.segments[i + 1];
    // Deleted by retention meanwhile: the next one is the first with a larger base.
    return this.segments.find((s) => s.base > seg.base);
  }

  /** The segment's index, loading (and if need be rebuilding) it for a sealed segment. */
  private async indexOf(seg: Segment): Promise<SegmentIndex> {
    if (seg.index !== undefined) {
      if (seg !== this.active) this.ctx.indexes.remember(seg);
      return seg.index;
    }
    const parsed = SegmentIndex.parse(readFileIfExists(seg.indexPath), readFileIfExists(seg.timeIndexPath), seg.size);
    if (typeof parsed !== "string") {
      seg.index = parsed;
    } else {
      const fd = await this.ctx.fds.acquire(seg);
      try {
        await this.rebuildSealedIndex(seg, fd, parsed);
      } finally {
        this.ctx.fds.release(seg);
      }
    }
    this.ctx.indexes.remember(seg);
    return seg.index as SegmentIndex;
  }

  /**
   * The first batch an index entry points at failed its header checks: rebuild the index from
   * the log. Returns true when the rebuilt index differs (the index was the problem).
   */
  private async rebuildIndexAfterMismatch(seg: Segment, index: SegmentIndex): Promise<boolean> {
    const fd = await this.ctx.fds.acquire(seg);
    try {
      const scan = await scanSegment(fd, seg.size, seg.base, this.ctx.indexIntervalBytes);
      if (scan.index.sameAs(index)) return false;
      this.ctx.logger.warn("segment index did not match its log; rebuilt", { file: seg.indexPath });
      this.adoptScan(seg, scan);
      if (!seg.deleted) this.writeIndexFiles(seg, false);
      return true;
    } finally {
      this.ctx.fds.release(seg);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Retention (FORMAT.md §8)

  async applyRetention(now: number, retentionMs: number, retentionBytes: number | undefined): Promise<number> {
    this.checkReadable();
    try {
      return this.dropOldSegments(now, retentionMs, retentionBytes);
    } catch (err) {
      throw this.ioError(err, "applyRetention");
    }
  }

  private dropOldSegments(now: number, retentionMs: number, retentionBytes: number | undefined): number {
    let total = this.sizeBytes();
    const cutoff = now - retentionMs;
    while (this.segments.length > 1) {
      const seg = this.segments[0] as Segment;
      const byTime = seg.maxTimestamp < cutoff;
      const bySize = retentionBytes !== undefined && total - seg.size >= retentionBytes;
      if (!byTime && !bySize) break;
      this.segments.shift();
      total -= seg.size;
      this.deleteSegmentFiles(seg);
    }
    return this.startOffset;
  }

  private deleteSegmentFiles(seg: Segment): void {
    seg.deleted = true;
    this.ctx.fds.drop(seg);
    this.ctx.indexes.forget(seg);
    seg.index = undefined;
    unlinkIfExists(seg.logPath);
    unlinkIfExists(seg.indexPath);
    unlinkIfExists(seg.timeIndexPath);
  }

  // -------------------------------------------------------------------------------------------
  // Recovery (FORMAT.md §7)

  private async recover(): Promise<void> {
    const created = mkdirs(this.dir);
    if (this.ctx.fsync !== "never") for (const d of created) fsyncDirSync(path.dirname(d));
    const bases: number[] = [];
    const indexFiles: Array<[number, string]> = [];
    for (const name of fs.readdirSync(this.dir)) {
      const m = /^(\d{20})\.(log|index|timeindex)$/.exec(name);
      if (m === null) continue;
      const base = Number(m[1]);
      if (m[2] === "log") bases.push(base);
      else indexFiles.push([base, name]);
    }
    bases.sort((a, b) => a - b);
    // FORMAT.md §7: remember a clean close of this partition, then forget it before writing.
    const cleanMarker = path.join(this.dir, "CLEAN");
    const clean = fs.existsSync(cleanMarker);
    if (clean) {
      unlinkIfExists(cleanMarker);
      if (this.ctx.fsync !== "never") this.fsyncDir();
    }
    const known = new Set(bases);
    for (const [base, name] of indexFiles) {
      if (!known.has(base)) unlinkIfExists(`${this.dir}/${name}`); // left by a retention cut short
    }
    if (bases.length === 0) {
      const seg = new Segment(this.dir, 0);
      createSegmentFile(seg);
      seg.index = new SegmentIndex();
      if (this.ctx.fsync !== "never") this.fsyncDir();
      this.segments = [seg];
      this.active = seg;
    } else {
      this.segments = bases.map((b) => new Segment(this.dir, b));
      for (let i = 0; i < this.segments.length - 1; i++) await this.recoverSealed(this.segments[i] as Segment);
      this.active = this.segments[this.segments.length - 1] as Segment;
      await this.recoverActive(this.active, clean);
    }
    this.nextOffset = this.active.endOffset;
    this.visibleEnd = this.nextOffset;
  }

  private async recoverSealed(seg: Segment): Promise<void> {
    seg.size = fs.statSync(seg.logPath).size;
    seg.visibleSize = seg.size;
    seg.syncedSize = seg.size;
    const fd = await this.ctx.fds.acquire(seg);
    try {
      const parsed = SegmentIndex.parse(readFileIfExists(seg.indexPath), readFileIfExists(seg.timeIndexPath), seg.size);
      let problem: string;
      if (typeof parsed !== "string") {
        const walk = walkTail(fd, seg.size, seg.base, parsed, this.ctx.indexIntervalBytes);
        if (typeof walk !== "string") {
          seg.index = parsed;
          seg.endOffset = walk.endOffset;
          seg.maxTimestamp = walk.maxTimestamp;
          seg.firstTimestamp = walk.firstTimestamp;
          this.ctx.indexes.remember(seg);
          return;
        }
        problem = walk;
      } else {
        problem = parsed;
      }
      await this.rebuildSealedIndex(seg, fd, problem);
      this.ctx.indexes.remember(seg);
    } finally {
      this.ctx.fds.release(seg);
    }
  }

  private async rebuildSealedIndex(seg: Segment, fd: number, reason: string): Promise<void> {
    const scan = await scanSegment(fd, seg.size, seg.base, this.ctx.indexIntervalBytes);
    this.ctx.logger.warn("rebuilding segment index", { file: seg.indexPath, reason });
    if (scan.problem !== undefined) {
      this.ctx.logger.warn("sealed segment is damaged; reading past the damage fails with CORRUPT_DATA", {
        file: seg.logPath,
        position: scan.validEnd,
        offset: scan.endOffset,
        problem: scan.problem,
      });
    }
    this.adoptScan(seg, scan);
    if (!seg.deleted) this.writeIndexFiles(seg, false);
  }

  private adoptScan(seg: Segment, scan: Awaited<ReturnType<typeof scanSegment>>): void {
    seg.index = scan.index;
    seg.endOffset = scan.endOffset;
    seg.maxTimestamp = scan.maxTimestamp;
    seg.firstTimestamp = scan.firstTimestamp;
  }

  private async recoverActive(seg: Segment, clean: boolean): Promise<void> {
    seg.writable = true;
    const fd = await this.ctx.fds.acquire(seg);
    try {
      await this.recoverActiveWith(seg, fd, clean);
    } finally {
      this.ctx.fds.release(seg);
    }
  }

  private async recoverActiveWith(seg: Segment, fd: number, clean: boolean): Promise<void> {
    seg.size = fs.fstatSync(fd).size;
    seg.syncedSize = seg.size; // what an earlier process left; it is not this process's to sync
    if (clean) {
      const parsed = SegmentIndex.parse(readFileIfExists(seg.indexPath), readFileIfExists(seg.timeIndexPath), seg.size);
      const walk = typeof parsed === "string" ? parsed : walkTail(fd, seg.size, seg.base, parsed, this.ctx.indexIntervalBytes);
      if (typeof walk !== "string" && typeof parsed !== "string") {
        seg.index = parsed;
        seg.endOffset = walk.endOffset;
        seg.maxTimestamp = walk.maxTimestamp;
        seg.firstTimestamp = walk.firstTimestamp;
        seg.visibleSize = seg.size;
        return;
      }
      this.ctx.logger.warn("active segment index invalid after a clean shutdown; scanning the segment", {
        file: seg.indexPath,
        reason: walk,
      });
    }
    const scan = await scanSegment(fd, seg.size, seg.base, this.ctx.indexIntervalBytes);
    if (scan.problem !== undefined) {
      this.ctx.logger.warn("truncating torn or corrupt log tail", {
        file: seg.logPath,
        position: scan.validEnd,
        offset: scan.endOffset,
        cutBytes: seg.size - scan.validEnd,
        reason: scan.problem,
      });
      fs.ftruncateSync(fd, scan.validEnd);
      if (this.ctx.fsync !== "never") {
        fs.fsyncSync(fd);
        this.ctx.stats.fsyncs++;
      }
      seg.size = scan.validEnd;
    }
    this.adoptScan(seg, scan);
    seg.visibleSize = seg.size;
  }

  // -------------------------------------------------------------------------------------------
  // Close

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    if (this.flushing) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await Promise.allSettled([...this.backgroundFsyncs]);
    try {
      if (this.failure === undefined) {
        // A clean close is durable in every fsync mode (FORMAT.md §7 step 4).
        const active = this.active;
        const fd = await this.ctx.fds.acquire(active);
        try {
          fs.fsyncSync(fd);
        } finally {
          this.ctx.fds.release(active);
        }
        this.ctx.stats.fsyncs++;
        this.writeIndexFiles(this.active, true);
        // The marker says the index files match the log (FORMAT.md §7 step 4).
        writeFileSyncDurable(path.join(this.dir, "CLEAN"), Buffer.alloc(0), true);
        this.fsyncDir();
      }
    } finally {
      this.releaseFiles();
      this.onClosed(this);
    }
  }

  /** Closes (or hands back) every file descriptor and cached index of this partition. */
  private releaseFiles(): void {
    for (const seg of this.segments) {
      this.ctx.fds.drop(seg);
      this.ctx.indexes.forget(seg);
    }
  }

  private checkReadable(): void {
    if (this.closed) throw this.closedError();
  }

  private closedError(): BrookError {
    return new BrookError("CLOSED", `partition log ${this.name} is closed`);
  }

  /** File-system errors become BrookError UNAVAILABLE naming the partition; BrookErrors pass. */
  private ioError(err: unknown, what: string): BrookError {
    if (err instanceof BrookError) return err;
    const message = err instanceof Error ? err.message : String(err);
    return new BrookError("UNAVAILABLE", `partition log ${this.name}: ${what} failed: ${message}`, { cause: err });
  }

  private corrupt(seg: Segment, pos: number, offset: number, problem: string): BrookError {
    return new BrookError("CORRUPT_DATA", `${seg.logPath}: corrupt record batch at byte ${pos} (offset ${offset}): ${problem}`);
  }
}

/** A bad batch right where a sealed segment's index pointed: the index may be the culprit. */
class SuspectIndex extends Error {
  constructor(readonly corrupt: BrookError) {
    super(corrupt.message);
  }
}

function batchEnd(buf: Buffer, at: number): number {
  return batchBaseOffset(buf, at) + batchRecordCount(buf, at);
}

/** A new, empty segment file that is the partition's active one; its fd comes from the pool when first written. */
function createSegmentFile(seg: Segment): void {
  fs.closeSync(fs.openSync(seg.logPath, "wx"));
  seg.writable = true;
}
