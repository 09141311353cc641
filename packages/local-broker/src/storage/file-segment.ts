/**
 * One segment of a partition log (FORMAT.md §1) with its sparse indexes (§4), plus the scans
 * that recover a segment (§7) and the store-wide caches that bound open files and loaded
 * indexes, so memory does not grow with the size of the log.
 */
import fs from "node:fs";
import path from "node:path";
import {
  BATCH_HEADER_BYTES,
  OFFSET_INDEX_ENTRY_BYTES,
  TIME_INDEX_ENTRY_BYTES,
  batchBaseOffset,
  batchFirstTimestamp,
  batchLength,
  batchMaxTimestamp,
  batchRecordCount,
  checkBatch,
  checkBatchHeader,
  readInt64,
  writeInt64,
} from "./file-format.js";
import { preadFully, preadFullySync } from "./file-io.js";

/** FORMAT.md §1: 20-digit zero-padded base offset. */
export function segmentFileStem(base: number): string {
  return String(base).padStart(20, "0");
}

/** The in-memory form of a segment's `.index` + `.timeindex` (FORMAT.md §4). */
export class SegmentIndex {
  rel: Uint32Array;
  pos: Uint32Array;
  ts: Float64Array;
  count = 0;

  constructor(capacity = 16) {
    this.rel = new Uint32Array(capacity);
    this.pos = new Uint32Array(capacity);
    this.ts = new Float64Array(capacity);
  }

  push(rel: number, pos: number, ts: number): void {
    if (this.count === this.rel.length) {
      const grow = this.rel.length * 2;
      const rel = new Uint32Array(grow);
      const p = new Uint32Array(grow);
      const t = new Float64Array(grow);
      rel.set(this.rel);
      p.set(this.pos);
      t.set(this.ts);
      this.rel = rel;
      this.pos = p;
      this.ts = t;
    }
    this.rel[this.count] = rel;
    this.pos[this.count] = pos;
    this.ts[this.count] = ts;
    this.count++;
  }

  /** The last entry with relativeOffset ≤ `rel`, or -1 (FORMAT.md §4.1 lookup). */
  floor(rel: number): number {
    let lo = 0;
    let hi = this.count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.rel[mid] as number) <= rel) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** The first entry whose maxTimestampSoFar is ≥ `ts`, or `count` (FORMAT.md §4.2). */
  firstAtLeast(ts: number): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.ts[mid] as number) >= ts) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Memory held, for the index cache budget. */
  get bytes(): number {
    return this.rel.length * 16;
  }

  encodeOffsetIndex(): Buffer {
    const buf = Buffer.allocUnsafe(this.count * OFFSET_INDEX_ENTRY_BYTES);
    for (let i = 0; i < this.count; i++) {
      buf.writeUInt32BE(this.rel[i] as number, i * 8);
      buf.writeUInt32BE(this.pos[i] as number, i * 8 + 4);
    }
    return buf;
  }

  encodeTimeIndex(): Buffer {
    const buf = Buffer.allocUnsafe(this.count * TIME_INDEX_ENTRY_BYTES);
    for (let i = 0; i < this.count; i++) {
      writeInt64(buf, this.ts[i] as number, i * 12);
      buf.writeUInt32BE(this.rel[i] as number, i * 12 + 8);
    }
    return buf;
  }

  sameAs(other: SegmentIndex): boolean {
    if (this.count !== other.count) return false;
    for (let i = 0; i < this.count; i++) {
      if (this.rel[i] !== other.rel[i] || this.pos[i] !== other.pos[i] || this.ts[i] !== other.ts[i]) return false;
    }
    return true;
  }

  /**
   * Parses and checks index files against a log of `logSize` bytes (FORMAT.md §7, sealed
   * segments). Returns the index or why it cannot be trusted.
   */
  static parse(offsetIndex: Buffer | undefined, timeIndex: Buffer | undefined, logSize: number): SegmentIndex | string {
    if (offsetIndex === undefined) return "offset index file is missing";
    if (timeIndex === undefined) return "time index file is missing";
    if (offsetIndex.length % OFFSET_INDEX_ENTRY_BYTES !== 0) return `offset index size ${offsetIndex.length} is not a multiple of 8`;
    if (timeIndex.length % TIME_INDEX_ENTRY_BYTES !== 0) return `time index size ${timeIndex.length} is not a multiple of 12`;
    const count = offsetIndex.length / OFFSET_INDEX_ENTRY_BYTES;
    if (timeIndex.length / TIME_INDEX_ENTRY_BYTES !== count) return "offset and time index have different entry counts";
    if (count === 0 && logSize > 0) return "index is empty but the log is not";
    const index = new SegmentIndex(Math.max(count, 16));
    for (let i = 0; i < count; i++) {
      const rel = offsetIndex.readUInt32BE(i * 8);
      const pos = offsetIndex.readUInt32BE(i * 8 + 4);
      const ts = readInt64(timeIndex, i * 12);
      const timeRel = timeIndex.readUInt32BE(i * 12 + 8);
      if (i === 0 ? rel !== 0 || pos !== 0 : rel <= (index.rel[i - 1] as number) || pos <= (index.pos[i - 1] as number)) {
        return `offset index entry ${i} (${rel}, ${pos}) is out of order`;
      }
      if (pos >= logSize) return `offset index entry ${i} points past the end of the log`;
      if (timeRel !== rel) return `time index entry ${i} names offset ${timeRel}, offset index ${rel}`;
      if (i > 0 && ts < (index.ts[i - 1] as number)) return `time index entry ${i} goes back in time`;
      index.push(rel, pos, ts);
    }
    return index;
  }
}

/** A segment file and what is known about it. */
export class Segment {
  readonly logPath: string;
  readonly indexPath: string;
  readonly timeIndexPath: string;
  /** bytes written to the .log */
  size = 0;
  /** bytes readers may see (written and, under fsync "always", fsynced) */
  visibleSize = 0;
  /** the offset after the last record (exact for the active segment and validated sealed ones) */
  endOffset: number;
  maxTimestamp = -Infinity;
  firstTimestamp = Number.NaN;
  /** loaded index; always present for the active segment, cached for sealed ones */
  index: SegmentIndex | undefined;
  /** open while in the store's FdCache (or in use); reopened on demand */
  fd: number | undefined;
  fdRefs = 0;
  /** the active segment: its fd is (re)opened read-write, for appends */
  writable = false;
  deleted = false;
  /** close the fd as soon as the last reader releases it */
  closeWhenIdle = false;
  /** deleted or its partition closed: its file is not opened again (FdCache.drop) */
  dropped = false;
  /**
   * bytes known to be fsynced. The pool keeps open the fd of a segment with bytes beyond this
   * (until they are synced): a failed write-back is reported to the fds open when it happened,
   * and may never be reported to an fd opened afterwards.
   */
  syncedSize = 0;

  constructor(
    readonly dir: string,
    readonly base: number,
  ) {
    const stem = path.join(dir, segmentFileStem(base));
    this.logPath = `${stem}.log`;
    this.indexPath = `${stem}.index`;
    this.timeIndexPath = `${stem}.timeindex`;
    this.endOffset = base;
  }
}

/**
 * The pool of open segment files, store-wide: sealed segments (for reading) and active ones (for
 * appending) alike, so a store of many partitions holds at most `maxOpen` descriptors rather
 * than one per partition for ever. Every use of a segment's fd is between acquire() and
 * release(). An idle fd (fdRefs 0, and with `keepUnsynced` no unsynced bytes) is closed, least
 * recently used first, to make room; when none is, acquire() asks for the pending fsyncs to run
 * now (`onPressure`) and waits for a release. An fd in use is closed only after its user
 * releases it, so an fd number is never reused under a pending read or write. No caller
 * acquires a second segment while holding one, so waiting cannot deadlock.
 */
export class FdCache {
  /** open fds, least recently used first */
  private readonly lru = new Map<Segment, true>();
  private open = 0;
  private readonly waiting: Array<() => void> = [];
  /** called when acquire() has to wait: the store fsyncs what is pending, freeing pinned fds */
  onPressure: (() => void) | undefined;

  constructor(
    private readonly maxOpen: number,
    /** keep fds of segments with unsynced bytes open (every fsync policy but "never") */
    private readonly keepUnsynced = true,
  ) {}

  /** descriptors open now (at most maxOpen) */
  get openCount(): number {
    return this.open;
  }

  /** The segment's fd, opened (read-write for the active segment) when it is not open. */
  async acquire(seg: Segment): Promise<number> {
    while (seg.fd === undefined) {
      if (seg.dropped) throw new Error(`${seg.logPath} is closed`);
      if (this.open < this.maxOpen || this.closeIdle()) {
        seg.fd = fs.openSync(seg.logPath, seg.writable ? "r+" : "r");
        this.open++;
        seg.closeWhenIdle = false;
        break;
      }
      const released = new Promise<void>((resolve) => this.waiting.push(resolve));
      this.onPressure?.();
      await released;
    }
    if (!seg.closeWhenIdle) {
      this.lru.delete(seg);
      this.lru.set(seg, true);
    }
    // Counted once the fd is open and nothing can close it before the caller has it (no await
    // between here and the return).
    seg.fdRefs++;
    return seg.fd;
  }

  release(seg: Segment): void {
    seg.fdRefs--;
    if (seg.fdRefs > 0) return;
    if (seg.closeWhenIdle) this.close(seg);
    else if (this.closable(seg)) this.waiting.shift()?.();
  }

  /** A segment's unsynced bytes became synced: its fd may be closed now. */
  synced(seg: Segment, upTo: number): void {
    if (upTo > seg.syncedSize) seg.syncedSize = upTo;
    if (seg.fdRefs === 0 && this.closable(seg)) this.waiting.shift()?.();
  }

  /** The segment is gone (retention) or its partition closed: close its fd now, or when its last user is done. */
  drop(seg: Segment): void {
    seg.dropped = true;
    this.lru.delete(seg);
    if (seg.fd === undefined) return;
    if (seg.fdRefs === 0) this.close(seg);
    else seg.closeWhenIdle = true;
  }

  /** Closes the least recently used idle fd; false when every open fd is in use. */
  private closeIdle(): boolean {
    for (const seg of this.lru.keys()) {
      if (seg.fdRefs > 0 || !this.closable(seg)) continue;
      this.lru.delete(seg);
      this.close(seg);
      return true;
    }
    return false;
  }

  private closable(seg: Segment): boolean {
    return !this.keepUnsynced || seg.syncedSize >= seg.size;
  }

  private close(seg: Segment): void {
    const fd = seg.fd;
    seg.fd = undefined;
    seg.closeWhenIdle = false;
    if (fd === undefined) return;
    this.open--;
    fs.closeSync(fd);
    this.waiting.shift()?.();
  }
}

/** Bounds the memory of sealed-segment indexes kept loaded (least recently used first out). */
export class IndexCache {
  private readonly lru = new Map<Segment, number>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  get loadedCount(): number {
    return this.lru.size;
  }

  remember(seg: Segment): void {
    const index = seg.index;
    if (index === undefined) return;
    const had = this.lru.get(seg);
    if (had !== undefined) {
      this.lru.delete(seg);
      this.bytes -= had;
    }
    this.lru.set(seg, index.bytes);
    this.bytes += index.bytes;
    for (const [victim, size] of this.lru) {
      if (this.bytes <= this.maxBytes || victim === seg) break;
      this.lru.delete(victim);
      this.bytes -= size;
      victim.index = undefined;
    }
  }

  forget(seg: Segment): void {
    const had = this.lru.get(seg);
    if (had === undefined) return;
    this.lru.delete(seg);
    this.bytes -= had;
  }
}

// ---------------------------------------------------------------------------------------------
// Scans (FORMAT.md §7)

/** What a full scan of a segment found. */
export interface ScanResult {
  index: SegmentIndex;
  /** bytes from the start that hold valid batches */
  validEnd: number;
  /** the offset after the last valid record */
  endOffset: number;
  firstTimestamp: number;
  maxTimestamp: number;
  /** why the scan stopped before the end of the file, if it did */
  problem: string | undefined;
}

const SCAN_CHUNK_BYTES = 8 * 1024 * 1024;

/**
 * Reads a segment from the start in large chunks and checks every batch including its CRC
 * (FORMAT.md §3), rebuilding the index with the indexing rule of §4. Stops at the first bad
 * batch. Memory: one chunk, plus one buffer for a batch larger than a chunk.
 */
export async function scanSegment(fd: number, size: number, base: number, indexIntervalBytes: number): Promise<ScanResult> {
  const index = new SegmentIndex();
  const chunk = Buffer.allocUnsafe(Math.max(BATCH_HEADER_BYTES, Math.min(SCAN_CHUNK_BYTES, size)));
  let chunkStart = 0;
  let chunkLen = 0;
  let pos = 0;
  let expected = base;
  let firstTimestamp = Number.NaN;
  let maxTimestamp = -Infinity;
  let lastIndexed = 0;
  let problem: string | undefined;
  while (pos < size) {
    if (size - pos < BATCH_HEADER_BYTES) {
      problem = `file ends ${size - pos} bytes into a batch header`;
      break;
    }
    if (pos + BATCH_HEADER_BYTES > chunkStart + chunkLen) {
      chunkLen = await preadFully(fd, chunk, 0, Math.min(chunk.length, size - pos), pos);
      chunkStart = pos;
      if (chunkLen < BATCH_HEADER_BYTES) {
        problem = "file is shorter than its size";
        break;
      }
    }
    let buf = chunk;
    let at = pos - chunkStart;
    const len = batchLength(buf, at);
    if (len >= BATCH_HEADER_BYTES && len <= size - pos && at + len > chunkLen) {
      if (len <= chunk.length) {
        chunkLen = await preadFully(fd, chunk, 0, Math.min(chunk.length, size - pos), pos);
        chunkStart = pos;
      } else {
        buf = Buffer.allocUnsafe(len);
        await preadFully(fd, buf, 0, len, pos);
      }
      at = 0;
    }
    problem = checkBatch(buf, at, size - pos, expected);
    if (problem !== undefined) break;
    const count = batchRecordCount(buf, at);
    const batchMax = batchMaxTimestamp(buf, at);
    if (index.count === 0) firstTimestamp = batchFirstTimestamp(buf, at);
    if (batchMax > maxTimestamp) maxTimestamp = batchMax;
    if (index.count === 0 || pos - lastIndexed >= indexIntervalBytes) {
      index.push(expected - base, pos, maxTimestamp);
      lastIndexed = pos;
    }
    expected += count;
    pos += len;
  }
  return { index, validEnd: pos, endOffset: expected, firstTimestamp, maxTimestamp, problem };
}

/** What a tail walk learned about a segment whose index was loaded from disk. */
export interface TailWalk {
  endOffset: number;
  maxTimestamp: number;
  firstTimestamp: number;
}

const WALK_WINDOW_BYTES = 64 * 1024;

/**
 * FORMAT.md §7 (sealed segments): from the last index entry, walk the batch headers to the end
 * of the file without reading bodies. Confirms the last entry points at the batch it names,
 * that no entry is missing at the end, and that the file ends on a batch boundary. Returns
 * the segment's end offset and largest timestamp, or why the index cannot be trusted.
 */
export function walkTail(fd: number, size: number, base: number, index: SegmentIndex, indexIntervalBytes: number): TailWalk | string {
  if (index.count === 0) {
    return size === 0 ? { endOffset: base, maxTimestamp: -Infinity, firstTimestamp: Number.NaN } : "index is empty";
  }
  const header = Buffer.allocUnsafe(BATCH_HEADER_BYTES);
  if (preadFullySync(fd, header, 0, BATCH_HEADER_BYTES, 0) < BATCH_HEADER_BYTES) return "log is shorter than one batch";
  const firstTimestamp = batchFirstTimestamp(header, 0);
  const last = index.count - 1;
  const lastIndexed = index.pos[last] as number;
  let pos = lastIndexed;
  let expected = base + (index.rel[last] as number);
  let maxTimestamp = index.ts[last] as number;
  let window = Buffer.allocUnsafe(Math.min(WALK_WINDOW_BYTES, size - pos));
  let windowStart = pos;
  let windowLen = preadFullySync(fd, window, 0, window.length, pos);
  let first = true;
  while (pos < size) {
    if (size - pos < BATCH_HEADER_BYTES) return `log ends ${size - pos} bytes into a batch header`;
    let buf = window;
    let at = pos - windowStart;
    if (at + BATCH_HEADER_BYTES > windowLen) {
      if (size - pos >= WALK_WINDOW_BYTES) {
        window = window.length === WALK_WINDOW_BYTES ? window : Buffer.allocUnsafe(WALK_WINDOW_BYTES);
        windowLen = preadFullySync(fd, window, 0, WALK_WINDOW_BYTES, pos);
        windowStart = pos;
        buf = window;
      } else {
        buf = header;
        preadFullySync(fd, header, 0, BATCH_HEADER_BYTES, pos);
      }
      at = 0;
    }
    const problem = checkBatchHeader(buf, at, size - pos, expected);
    if (problem !== undefined) {
      return first ? `last index entry does not point at its batch: ${problem}` : `batch at byte ${pos}: ${problem}`;
    }
    if (!first && pos - lastIndexed >= indexIntervalBytes) return `index has no entry for the batch at byte ${pos}`;
    const batchMax = batchMaxTimestamp(buf, at);
    if (batchMax > maxTimestamp) maxTimestamp = batchMax;
    expected = batchBaseOffset(buf, at) + batchRecordCount(buf, at);
    pos += batchLength(buf, at);
    first = false;
  }
  return { endOffset: expected, maxTimestamp, firstTimestamp };
}
