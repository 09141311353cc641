/**
 * The durable log of one partition: a list of segments (FORMAT.md §1), appended with group
 * commit (§2), read with positional reads through the sparse index (§4), recovered on open
 * (§7) and trimmed by retention (§8). Nothing but the active segment's index and per-segment
 * bookkeeping stays in memory; records are always read from disk.
 */
import fs from "node:fs";
import path from "node:path";
import { BrookError, type Logger } from "@brook/core/base";
import type { AppendInput, PartitionLog, StoredRecord } from "./types.js";
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
  StoredRun,
  decodeBatchRecords,
  encodeAppend,
  firstOffsetAtOrAfter,
  isDecodeError,
} from "./file-format.js";
import { fsyncDirSync, fsyncFd, mkdirs, preadFully, pwritev, readFileIfExists, unlinkIfExists, writeFileSyncDurable } from "./file-io.js";
import { type FdCache, type IndexCache, Segment, SegmentIndex, scanSegment, segmentFileStem, walkTail } from "./file-segment.js";
import { classifyTail } from "./file-damage.js";
import type { SkippedRange } from "./file-metadata.js";

/** What a partition log needs from the metadata: its partition entries (FORMAT.md §5.1). */
export interface PartitionEntriesStore {
  segmentsOf(topic: string, partition: number): number[];
  skippedOf(topic: string, partition: number): SkippedRange[];
  recordSegments(topic: string, partition: number, bases: readonly number[]): Promise<void>;
  recordLogStart(topic: string, partition: number, start: number): Promise<void>;
  recordSkipped(topic: string, partition: number, range: SkippedRange): Promise<void>;
  /** removes dedupe entries at or past `end` (records a crash took away); returns how many */
  dropDedupeFrom(topic: string, partition: number, end: number): number;
  /** groups whose committed offset in the partition is past `end` */
  committedPast(topic: string, partition: number, end: number): Array<{ group: string; offset: number }>;
  /** the highest offset the metadata knows of in a partition (commits, dedupe entries + 1) */
  highestKnownOffset(topic: string, partition: number): number;
}

/** `brook repair` (FORMAT.md §9): what opening may do beyond ordinary recovery. */
export interface RepairMode {
  /** skip every damaged range explicitly (a `skipped` entry each, logged and reported) */
  skipDamaged: boolean;
  /** hears one line per range skipped */
  report: (line: string) => void;
}

/** A hole in the offset sequence of a partition (FORMAT.md §7 "Continuity", §9). */
export interface DamagedRange {
  from: number;
  to: number;
  /** what is damaged, naming the file */
  reason: string;
  /** an operator skipped it (`brook repair --skip-damaged`): readers move past it */
  skipped: boolean;
}

export type FsyncPolicy = "never" | "interval" | "always";

/** Where the store reports what recovery cut or rebuilt; core's Logger fits. */
export type StoreLogger = Pick<Logger, "warn" | "error">;

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
  readonly metadata: PartitionEntriesStore;
  readonly repair?: RepairMode;
}

interface PendingAppend {
  enc: EncodedAppend;
  base: number;
  count: number;
  resolve: (offset: number) => void;
  reject: (err: unknown) => void;
}

/** Encode buffers kept for reuse once written (see encodeAppend), and the largest one kept. */
const SPARE_BUFFERS = 4;
const SPARE_BUFFER_MAX_BYTES = 8 * 1024 * 1024;

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
  /** written appends' encode buffers, for the next appends to encode into */
  private spare: Buffer[] = [];
  private flushing = false;
  private idleWaiters: Array<() => void> = [];
  private failure: BrookError | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** bytes written to the active segment since its last fsync */
  private dirty = false;
  private readonly backgroundFsyncs = new Set<Promise<void>>();
  /** the partition's first offset (its lowest recorded segment, FORMAT.md §5.1) */
  private logStart = 0;
  /** holes in the offset sequence, ascending (FORMAT.md §7 "Continuity") */
  private gaps: DamagedRange[] = [];
  /** sealed segments found damaged: base → what and where */
  private readonly damage = new Map<number, string>();
  /** recorded segment bases whose file is absent */
  private absent: number[] = [];
  /** true when the partition was not closed cleanly before this open (FORMAT.md §7) */
  recoveredUnclean = false;
  /** "topic/partition", for messages */
  readonly name: string;

  private constructor(
    private readonly ctx: LogContext,
    readonly topic: string,
    readonly partition: number,
    readonly dir: string,
    private readonly onClosed: (log: FilePartitionLog) => void,
  ) {
    this.name = `${topic}/${partition}`;
  }

  /** Opens the partition directory, creating it when missing, and recovers it (FORMAT.md §7). */
  static async open(
    ctx: LogContext,
    topic: string,
    partition: number,
    dir: string,
    onClosed: (log: FilePartitionLog) => void,
  ): Promise<FilePartitionLog> {
    const log = new FilePartitionLog(ctx, topic, partition, dir, onClosed);
    try {
      await log.recover();
    } catch (err) {
      log.releaseFiles();
      throw log.ioError(err, `opening ${dir}`);
    }
    return log;
  }

  get startOffset(): number {
    return Math.min(this.logStart, this.visibleEnd);
  }

  /** The holes in this partition's offset sequence, skipped ones included (FORMAT.md §9). */
  damagedRanges(): DamagedRange[] {
    return this.gaps.map((g) => ({ ...g }));
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

  append(records: readonly AppendInput[], timestamp?: number): Promise<number> {
    if (this.closed) return Promise.reject(this.closedError());
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (!Array.isArray(records)) {
      return Promise.reject(new BrookError("INVALID_ARGUMENT", `append(${this.name}): records: expected an array`));
    }
    if (records.length === 0) return Promise.resolve(this.nextOffset);
    const base = this.nextOffset;
    let enc: EncodedAppend;
    try {
      enc = encodeAppend(records, base, undefined, undefined, timestamp, this.spare.pop());
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
      for (const p of group) {
        const backing = p.enc.backing;
        if (this.spare.length < SPARE_BUFFERS && backing.length <= SPARE_BUFFER_MAX_BYTES) this.spare.push(backing);
        p.resolve(p.base);
      }
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
    // FORMAT.md §5.1 `segment`: after the file and its directory entry are durable.
    await this.ctx.metadata.recordSegments(this.topic, this.partition, [seg.base]);
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
    return this.readRecords([] as StoredRecord[], fromOffset, maxRecords, maxBytes).catch((err: unknown) => {
      throw this.ioError(err, "read");
    });
  }

  readRuns(fromOffset: number, maxRecords: number, maxBytes?: number): Promise<StoredRun> {
    return this.readRecords(new StoredRun(), fromOffset, maxRecords, maxBytes).catch((err: unknown) => {
      throw this.ioError(err, "readRuns");
    });
  }

  /** read() and readRuns(): `out` collects decoded records or locates them in a run. */
  private async readRecords<Out extends StoredRecord[] | StoredRun>(out: Out, fromOffset: number, maxRecords: number, maxBytes: number | undefined): Promise<Out> {
    this.checkReadable();
    if (!Number.isSafeInteger(fromOffset) || fromOffset < 0) {
      throw new BrookError("INVALID_ARGUMENT", `read(${this.name}): fromOffset: expected a non-negative integer, got ${String(fromOffset)}`);
    }
    if (!Number.isSafeInteger(maxRecords)) {
      throw new BrookError("INVALID_ARGUMENT", `read(${this.name}): maxRecords: expected an integer, got ${String(maxRecords)}`);
    }
    if (maxRecords <= 0) return out;
    if (maxBytes !== undefined && !(maxBytes > 0)) {
      throw new BrookError("INVALID_ARGUMENT", `read(${this.name}): maxBytes: expected a positive number, got ${String(maxBytes)}`);
    }
    const limitBytes = maxBytes ?? DEFAULT_READ_MAX_BYTES;
    const progress: DecodeProgress = { nextOffset: 0, bytes: 0 };
    let from = Math.max(fromOffset, this.startOffset);
    while (from < this.visibleEnd) {
      if (from < this.startOffset) {
        // retention moved the start meanwhile: hand back a contiguous run, or start at the start
        if (out.length > 0) return out;
        from = this.startOffset;
      }
      // Never read around a hole (FORMAT.md §1, §9): fail with CORRUPT_DATA unless skipped.
      const gap = this.gapAt(from);
      if (gap !== undefined) {
        if (gap.skipped) {
          // A run holds consecutive offsets only: it ends before the skipped range.
          if (out instanceof StoredRun && out.length > 0) return out;
          from = gap.to;
          continue;
        }
        if (out.length > 0) return out;
        throw new BrookError("CORRUPT_DATA", this.gapMessage(gap));
      }
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
      if (seg === this.active && !seg.deleted) break;
      // The segment is exhausted: continue where it ends (a hole there is caught above).
      const before = from;
      if (out.length > 0 && progress.nextOffset > from) from = progress.nextOffset;
      from = Math.max(from, seg.endOffset);
      if (from === before && !seg.deleted) break; // no progress: never loop
    }
    return out;
  }

  private gapAt(offset: number): DamagedRange | undefined {
    for (const g of this.gaps) if (offset >= g.from && offset < g.to) return g;
    return undefined;
  }

  private gapMessage(g: DamagedRange): string {
    return `topic "${this.topic}" partition ${this.partition}: offsets ${g.from}–${g.to - 1} missing (${g.reason}); ` +
      "readers stop here until an operator skips the range (`brook repair --dir <dir> --skip-damaged`)";
  }

  /** FORMAT.md §7 "Continuity": every segment ends where the next begins, from the start. */
  private computeGaps(): void {
    const skipped = this.ctx.metadata.skippedOf(this.topic, this.partition);
    const gaps: DamagedRange[] = [];
    let expected = this.logStart;
    let prev: Segment | undefined;
    for (const seg of this.segments) {
      if (seg.base > expected) {
        const from = expected;
        const to = seg.base;
        const absent = this.absent.filter((b) => b >= from && b < to);
        let reason: string;
        if (absent.length > 0) reason = absent.map((b) => `segment ${path.join(this.dir, `${segmentFileStem(b)}.log`)} absent`).join(", ");
        else if (prev !== undefined && this.damage.has(prev.base)) reason = `${prev.logPath}: ${this.damage.get(prev.base) as string}`;
        else if (prev !== undefined) reason = `segment ${prev.logPath} ends at offset ${from}, the next segment begins at ${to}`;
        else reason = `no segment holds them; the first is ${seg.logPath}`;
        gaps.push({ from, to, reason, skipped: skipped.some((r) => r.from <= from && r.to >= to) });
      }
      expected = Math.max(expected, seg.endOffset);
      prev = seg;
    }
    this.gaps = gaps;
  }
  /**
   * Reads records ≥ `from` from one segment into `out`. Returns true when a limit stopped it.
   * `mayRetry`: on a bad first batch of a sealed segment, rebuild its index and try once more.
   */
  private async readSegment(
    seg: Segment,
    from: number,
    out: StoredRecord[] | StoredRun,
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
    let fd: number;
    try {
      fd = await this.ctx.fds.acquire(seg);
    } catch (err) {
      // Retention took the segment while this read waited for a descriptor: nothing to visit,
      // the caller moves on to the new start.
      if (seg.deleted) return;
      throw err;
    }
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
      if (scan.problem !== undefined && seg !== this.active) {
        this.damage.set(seg.base, `damaged batch at byte ${scan.validEnd} (offset ${scan.endOffset}): ${scan.problem}`);
        this.computeGaps();
      }
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
      return await this.dropOldSegments(now, retentionMs, retentionBytes);
    } catch (err) {
      throw this.ioError(err, "applyRetention");
    }
  }

  private async dropOldSegments(now: number, retentionMs: number, retentionBytes: number | undefined): Promise<number> {
    let total = this.sizeBytes();
    const cutoff = now - retentionMs;
    const doomed: Segment[] = [];
    while (this.segments.length > 1) {
      const seg = this.segments[0] as Segment;
      const byTime = seg.maxTimestamp < cutoff;
      const bySize = retentionBytes !== undefined && total - seg.size >= retentionBytes;
      if (!byTime && !bySize) break;
      this.segments.shift();
      total -= seg.size;
      doomed.push(seg);
    }
    if (doomed.length > 0) {
      // FORMAT.md §8: the new start is journaled (fsynced) before any file goes.
      const start = (this.segments[0] as Segment).base;
      this.logStart = start;
      this.absent = this.absent.filter((b) => b >= start);
      this.computeGaps();
      await this.ctx.metadata.recordLogStart(this.topic, this.partition, start);
      for (const seg of doomed) this.deleteSegmentFiles(seg);
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
    let bases: number[] = [];
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
    this.recoveredUnclean = !clean;
    const known = new Set(bases);
    for (const [base, name] of indexFiles) {
      if (!known.has(base)) unlinkIfExists(`${this.dir}/${name}`); // left by a retention cut short
    }
    // FORMAT.md §7: the segment files against the metadata's partition entries.
    const meta = this.ctx.metadata;
    const recorded = meta.segmentsOf(this.topic, this.partition);
    if (recorded.length === 0) {
      if (bases.length > 0) {
        this.ctx.logger.warn("adopting segment files the metadata has no entries for", { partition: this.name, dir: this.dir, segments: bases.length });
      }
      this.logStart = bases[0] ?? 0;
    } else {
      const lowest = recorded[0] as number;
      for (const b of bases.filter((x) => x < lowest)) {
        // below the recorded start: what a retention cut short left (FORMAT.md §8)
        for (const ext of ["log", "index", "timeindex"]) unlinkIfExists(path.join(this.dir, `${segmentFileStem(b)}.${ext}`));
      }
      bases = bases.filter((x) => x >= lowest);
      const present = new Set(bases);
      this.absent = recorded.filter((b) => !present.has(b));
      let lastFile = bases[bases.length - 1];
      let late = this.absent.filter((b) => lastFile === undefined || b >= lastFile);
      if (late.length > 0 && this.ctx.repair?.skipDamaged === true) {
        // FORMAT.md §9: a hole at the end of the log — a new empty segment at the range's end,
        // so no offset a group may have seen is ever reused; the hole is skipped below.
        const to = Math.max(...late, meta.highestKnownOffset(this.topic, this.partition));
        const seg = new Segment(this.dir, to);
        fs.closeSync(fs.openSync(seg.logPath, "wx"));
        if (this.ctx.fsync !== "never") this.fsyncDir();
        await meta.recordSegments(this.topic, this.partition, [to]);
        bases.push(to);
        this.absent = this.absent.filter((b) => b !== to);
        lastFile = to;
        late = [];
      }
      if (late.length > 0) {
        const files = late.map((b) => `${path.join(this.dir, `${segmentFileStem(b)}.log`)} absent`).join(", ");
        throw new BrookError(
          "CORRUPT_DATA",
          `topic "${this.topic}" partition ${this.partition}: segment ${files}; the metadata records it, and without it the end of the log ` +
            "would go backwards and new records would reuse offsets — the partition does not open until `brook repair --dir <dir> --skip-damaged`",
        );
      }
      this.logStart = lowest;
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
      const skipped = meta.skippedOf(this.topic, this.partition);
      for (let i = 0; i < this.segments.length - 1; i++) {
        const seg = this.segments[i] as Segment;
        const next = (this.segments[i + 1] as Segment).base;
        // A range skipped inside a segment is found again by a full scan, so readers move past it.
        const scan = skipped.some((r) => r.from > seg.base && r.from < next);
        await this.recoverSealed(seg, scan);
      }
      this.active = this.segments[this.segments.length - 1] as Segment;
      await this.recoverActive(this.active, clean);
      this.active = this.segments[this.segments.length - 1] as Segment; // repair may have started a new one
    }
    const unrecorded = this.segments.map((seg) => seg.base).filter((b) => !recorded.includes(b));
    if (unrecorded.length > 0) await meta.recordSegments(this.topic, this.partition, unrecorded);
    this.nextOffset = this.active.endOffset;
    this.visibleEnd = this.nextOffset;
    if (!clean) {
      const dropped = meta.dropDedupeFrom(this.topic, this.partition, this.visibleEnd);
      if (dropped > 0) {
        this.ctx.logger.warn("dedupe entries pointing past the recovered end of the log removed (their records were lost with the crash)", {
          partition: this.name,
          endOffset: this.visibleEnd,
          entries: dropped,
        });
      }
    }
    for (const { group, offset } of meta.committedPast(this.topic, this.partition, this.visibleEnd)) {
      // FORMAT.md §7: that group would skip the records appended there next — say so.
      this.ctx.logger.error(`group "${group}" committed offset ${offset} of topic "${this.topic}" partition ${this.partition}, past the end of the log (${this.visibleEnd}): it would skip the records appended there next`, {
        partition: this.name,
        group,
        committed: offset,
        endOffset: this.visibleEnd,
      });
    }
    this.computeGaps();
    if (this.ctx.repair?.skipDamaged === true) await this.skipGaps();
    for (const g of this.gaps) {
      if (g.skipped) continue;
      this.ctx.logger.error("partition has a hole: reading into it fails with CORRUPT_DATA", {
        partition: this.name,
        fromOffset: g.from,
        toOffset: g.to,
        reason: g.reason,
      });
    }
  }

  private async recoverSealed(seg: Segment, fullScan = false): Promise<void> {
    seg.size = fs.statSync(seg.logPath).size;
    seg.visibleSize = seg.size;
    seg.syncedSize = seg.size;
    const fd = await this.ctx.fds.acquire(seg);
    try {
      const parsed = fullScan
        ? "a skipped range lies inside the segment"
        : SegmentIndex.parse(readFileIfExists(seg.indexPath), readFileIfExists(seg.timeIndexPath), seg.size);
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
      this.damage.set(seg.base, `damaged batch at byte ${scan.validEnd} (offset ${scan.endOffset}): ${scan.problem}`);
      this.ctx.logger.error("sealed segment is damaged; reading into the damage fails with CORRUPT_DATA", {
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
      // FORMAT.md §7: a torn tail (what an interrupted write leaves) is cut and said so at
      // error level; anything else — or any failure after a clean close — is damage: nothing is
      // cut and the partition does not open.
      const tail = Buffer.allocUnsafe(seg.size - scan.validEnd);
      await preadFully(fd, tail, 0, tail.length, scan.validEnd);
      const verdict = clean
        ? { torn: false, why: "the partition was closed cleanly, so every byte had been fsynced" }
        : classifyTail(tail, scan.validEnd, scan.endOffset);
      if (!verdict.torn && this.ctx.repair?.skipDamaged === true) {
        await this.setAsideDamagedTail(seg, fd, scan.validEnd, scan.endOffset, tail, `${scan.problem}; ${verdict.why}`);
        this.adoptScan(seg, scan);
        seg.visibleSize = seg.size;
        return;
      }
      if (!verdict.torn) {
        throw new BrookError(
          "CORRUPT_DATA",
          `topic "${this.topic}" partition ${this.partition}: ${seg.logPath}: damaged record batch at byte ${scan.validEnd} ` +
            `(offset ${scan.endOffset}): ${scan.problem}; not a torn write (${verdict.why}), so nothing was cut — ` +
            "the partition does not open until `brook repair --dir <dir> --skip-damaged`",
        );
      }
      const headerCount = tail.length >= 14 ? tail.readUInt32BE(10) : undefined;
      this.ctx.logger.error("torn tail of the active segment cut (an interrupted write)", {
        file: seg.logPath,
        position: scan.validEnd,
        cutBytes: tail.length,
        fromOffset: scan.endOffset,
        ...(headerCount !== undefined && headerCount > 0 && tail.length >= 22 ? { toOffset: scan.endOffset + headerCount } : {}),
        reason: `${scan.problem}; ${verdict.why}`,
        acknowledged: this.ctx.fsync === "always" ? "never (fsync always acknowledges only after the fsync)" : "possibly, under fsync " + this.ctx.fsync,
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
  // brook check / brook repair (FORMAT.md §9)

  /** Segments in this partition (for `brook check`). */
  get segmentCount(): number {
    return this.segments.length;
  }

  /** `brook repair --skip-damaged` after verify(): skip what the full scan found. */
  skipDamagedRanges(): Promise<void> {
    return this.skipGaps();
  }

  /** Records every damaged range not yet skipped as skipped (fsynced), logged and reported. */
  private async skipGaps(): Promise<void> {
    for (const g of this.gaps) {
      if (g.skipped) continue;
      await this.ctx.metadata.recordSkipped(this.topic, this.partition, { from: g.from, to: g.to, reason: g.reason, skippedAt: Date.now() });
      g.skipped = true;
      const line = `skipped topic "${this.topic}" partition ${this.partition}: offsets ${g.from}–${g.to - 1} (${g.reason})`;
      this.ctx.logger.error("damaged range skipped by brook repair --skip-damaged", { partition: this.name, fromOffset: g.from, toOffset: g.to, reason: g.reason });
      this.ctx.repair?.report(line);
    }
  }

  /**
   * Damage in the active segment under `brook repair --skip-damaged`: the bytes from the bad
   * batch on are moved to `<base>.<position>.damaged`, the segment is cut there and a new active
   * segment starts after every offset the damaged bytes or the metadata may have handed out.
   */
  private async setAsideDamagedTail(seg: Segment, fd: number, pos: number, from: number, tail: Buffer, reason: string): Promise<void> {
    const aside = path.join(this.dir, `${segmentFileStem(seg.base)}.${pos}.damaged`);
    writeFileSyncDurable(aside, tail, this.ctx.fsync !== "never");
    let to = Math.max(from + 1, this.ctx.metadata.highestKnownOffset(this.topic, this.partition));
    for (let p = 0; p + BATCH_HEADER_BYTES <= tail.length; p++) {
      const len = tail.readUInt32BE(p);
      if (len < BATCH_HEADER_BYTES || len > tail.length - p) continue;
      const base = batchBaseOffset(tail, p);
      if (base >= from && checkBatch(tail, p, tail.length - p, base) === undefined) to = Math.max(to, base + batchRecordCount(tail, p));
    }
    fs.ftruncateSync(fd, pos);
    if (this.ctx.fsync !== "never") fs.fsyncSync(fd);
    seg.size = pos;
    unlinkIfExists(seg.indexPath);
    unlinkIfExists(seg.timeIndexPath);
    const fresh = new Segment(this.dir, to);
    createSegmentFile(fresh); // its fd comes from the pool when first written
    fresh.index = new SegmentIndex();
    if (this.ctx.fsync !== "never") this.fsyncDir();
    await this.ctx.metadata.recordSegments(this.topic, this.partition, [to]);
    this.segments.push(fresh);
    seg.writable = false; // sealed: reopened read-only once the pool closes its fd
    this.damage.set(seg.base, `damaged batch at byte ${pos} (offset ${from}): ${reason}; the bytes from there are kept in ${aside}`);
    this.ctx.logger.error("damaged tail of the active segment set aside", { file: seg.logPath, position: pos, fromOffset: from, toOffset: to, aside, reason });
  }

  /**
   * `brook check`: CRC-scans every segment (sealed ones are not scanned on open) and returns
   * every damaged range, skipped ones included. Changes nothing on disk.
   */
  async verify(): Promise<DamagedRange[]> {
    this.checkReadable();
    for (let i = 0; i < this.segments.length; i++) {
      const seg = this.segments[i] as Segment;
      if (seg.deleted) continue;
      const fd = await this.ctx.fds.acquire(seg);
      try {
        const size = seg === this.active ? seg.visibleSize : seg.size;
        const scan = await scanSegment(fd, size, seg.base, this.ctx.indexIntervalBytes);
        if (scan.problem !== undefined && seg !== this.active) {
          this.damage.set(seg.base, `damaged batch at byte ${scan.validEnd} (offset ${scan.endOffset}): ${scan.problem}`);
          seg.endOffset = Math.min(seg.endOffset, scan.endOffset);
        } else if (scan.problem !== undefined) {
          this.ctx.logger.error("active segment is damaged", { file: seg.logPath, position: scan.validEnd, offset: scan.endOffset, problem: scan.problem });
          throw new BrookError("CORRUPT_DATA", `${seg.logPath}: damaged record batch at byte ${scan.validEnd} (offset ${scan.endOffset}): ${scan.problem}`);
        }
      } finally {
        this.ctx.fds.release(seg);
      }
    }
    this.computeGaps();
    return this.damagedRanges();
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
    const next = this.segmentAfter(seg);
    const to = next !== undefined ? next.base : Math.max(offset + 1, seg.endOffset);
    return new BrookError(
      "CORRUPT_DATA",
      `topic "${this.topic}" partition ${this.partition}: offsets ${offset}–${to - 1} unreadable ` +
        `(${seg.logPath}: corrupt record batch at byte ${pos} (offset ${offset}): ${problem}); ` +
        "readers stop here until an operator skips the range (`brook repair --dir <dir> --skip-damaged`)",
    );
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
