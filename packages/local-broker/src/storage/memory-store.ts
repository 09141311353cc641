import { BrookError } from "@brook/core/base";
import { type DecodeProgress, StoredRun, batchBaseOffset, batchLength, batchRecordCount, decodeBatchRecords, encodeAppend, firstOffsetAtOrAfter, isDecodeError } from "./file-format.js";
import { DedupeWindow } from "./dedupe-window.js";
import type { AppendInput, DedupeEntry, MetadataStore, PartitionLog, Store, StoredRecord, TopicConfig } from "./types.js";

/** Records per in-memory segment before the next append starts a new one; retention drops whole segments, as on disk. */
const SEGMENT_RECORDS = 4_096;

/**
 * One append call, kept as the record batches of FORMAT.md §3 (one Buffer, usually one batch),
 * not as an object per record: the heap holds a few objects per append whatever the log's
 * length, so garbage collection does not slow down as the log grows. Reads decode on demand.
 */
interface MemoryChunk {
  baseOffset: number;
  count: number;
  buffer: Buffer;
  /** where each batch of the buffer starts */
  batchStarts: number[];
  /** where record RECORD_INDEX_EVERY * k of the chunk starts, so a read never walks from the top of a big batch */
  recordIndex: number[];
}

const RECORD_INDEX_EVERY = 64;

interface MemorySegment {
  baseOffset: number;
  /** the offset after the segment's last record */
  end: number;
  chunks: MemoryChunk[];
  bytes: number;
  maxTimestamp: number;
}

/** A partition log in memory with the same segment-wise retention as the file store. */
export class MemoryPartitionLog implements PartitionLog {
  private segments: MemorySegment[] = [];
  private start = 0;
  private end = 0;
  private bytes = 0;

  get startOffset(): number {
    return this.start;
  }

  get endOffset(): number {
    return this.end;
  }

  async append(records: readonly AppendInput[], timestamp?: number): Promise<number> {
    const base = this.end;
    // A segment holds exactly SEGMENT_RECORDS records (as before batches): an append that
    // crosses the boundary is split there, so retention drops the same records it always did.
    // Every part is encoded before any is stored: an append that fails stores nothing.
    const last = this.segments[this.segments.length - 1];
    let room = last === undefined ? 0 : SEGMENT_RECORDS - (last.end - last.baseOffset);
    const parts: Array<{ chunk: MemoryChunk; maxTimestamp: number; newSegment: boolean }> = [];
    for (let done = 0; done < records.length; ) {
      const newSegment = room <= 0;
      if (newSegment) room = SEGMENT_RECORDS;
      const take = Math.min(records.length - done, room);
      const part = done === 0 && take === records.length ? records : records.slice(done, done + take);
      const recordIndex: number[] = [];
      const encoded = encodeAppend(part, base + done, recordIndex, RECORD_INDEX_EVERY, timestamp);
      const batchStarts: number[] = [];
      for (let b = 0; b < encoded.batches.length; b += 5) batchStarts.push(encoded.batches[b]!);
      parts.push({ chunk: { baseOffset: base + done, count: take, buffer: encoded.buffer, batchStarts, recordIndex }, maxTimestamp: encoded.maxTimestamp, newSegment });
      room -= take;
      done += take;
    }
    for (const { chunk, maxTimestamp, newSegment } of parts) {
      if (newSegment) this.segments.push({ baseOffset: chunk.baseOffset, end: chunk.baseOffset, chunks: [], bytes: 0, maxTimestamp: Number.NEGATIVE_INFINITY });
      const segment = this.segments[this.segments.length - 1]!;
      segment.chunks.push(chunk);
      segment.end = chunk.baseOffset + chunk.count;
      segment.bytes += chunk.buffer.length;
      segment.maxTimestamp = Math.max(segment.maxTimestamp, maxTimestamp);
      this.bytes += chunk.buffer.length;
      this.end = segment.end;
    }
    return base;
  }

  async read(fromOffset: number, maxRecords: number, maxBytes = Number.POSITIVE_INFINITY): Promise<StoredRecord[]> {
    return this.readInto([], fromOffset, maxRecords, maxBytes);
  }

  async readRuns(fromOffset: number, maxRecords: number, maxBytes = Number.POSITIVE_INFINITY): Promise<StoredRun> {
    return this.readInto(new StoredRun(), fromOffset, maxRecords, maxBytes);
  }

  private readInto<Out extends StoredRecord[] | StoredRun>(out: Out, fromOffset: number, maxRecords: number, maxBytes: number): Out {
    const from = Math.max(fromOffset, this.start);
    if (from >= this.end || maxRecords <= 0) return out;
    const progress: DecodeProgress = { nextOffset: from, bytes: 0 };
    let i = this.segmentIndex(from);
    let c = chunkIndex(this.segments[i]!.chunks, from);
    const end = this.end;
    try {
      for (; i < this.segments.length; i++, c = 0) {
        const chunks = this.segments[i]!.chunks;
        for (; c < chunks.length; c++) {
          const chunk = chunks[c]!;
          const buf = chunk.buffer;
          const starts = chunk.batchStarts;
          // Start at the indexed record at or before `from` when it is in this chunk.
          let b = 0;
          let firstPos = -1;
          let firstIndex = 0;
          if (from > chunk.baseOffset) {
            const k = Math.floor((from - chunk.baseOffset) / RECORD_INDEX_EVERY);
            firstPos = chunk.recordIndex[k]!;
            while (b + 1 < starts.length && starts[b + 1]! <= firstPos) b++;
            firstIndex = chunk.baseOffset + k * RECORD_INDEX_EVERY - batchBaseOffset(buf, starts[b]!);
          }
          for (; b < starts.length; b++) {
            const at = starts[b]!;
            const full =
              firstPos >= 0
                ? decodeBatchRecords(buf, at, from, end, out, maxRecords, maxBytes, progress, firstIndex, firstPos)
                : decodeBatchRecords(buf, at, from, end, out, maxRecords, maxBytes, progress);
            firstPos = -1;
            if (full || out.length >= maxRecords) return out;
          }
        }
      }
    } catch (err) {
      if (isDecodeError(err)) throw new BrookError("CORRUPT_DATA", `memory log: ${err.message}`);
      throw err;
    }
    return out;
  }

  async offsetForTime(timestamp: number): Promise<number> {
    for (const segment of this.segments) {
      if (segment.maxTimestamp < timestamp) continue;
      for (const chunk of segment.chunks) {
        if (chunk.baseOffset + chunk.count <= this.start) continue;
        const buf = chunk.buffer;
        for (let at = 0; at < buf.length; at += batchLength(buf, at)) {
          const found = firstOffsetAtOrAfter(buf, at, timestamp);
          if (found < 0) continue;
          if (found >= this.start) return found;
          // The first match lies below a start deleteBefore moved into this batch: look at the
          // batch's records from the start on.
          const batchEnd = batchBaseOffset(buf, at) + batchRecordCount(buf, at);
          if (batchEnd <= this.start) continue;
          for (const r of await this.read(this.start, batchEnd - this.start)) if (r.timestamp >= timestamp) return r.offset;
        }
      }
    }
    return this.end;
  }

  async applyRetention(now: number, retentionMs: number, retentionBytes: number | undefined): Promise<number> {
    // Never drop the last (active) segment.
    while (this.segments.length > 1) {
      const oldest = this.segments[0]!;
      const expired = oldest.maxTimestamp < now - retentionMs;
      const oversize = retentionBytes !== undefined && this.bytes > retentionBytes;
      if (!expired && !oversize) break;
      this.segments.shift();
      this.bytes -= oldest.bytes;
      // never below a start deleteBefore moved into this segment
      this.start = Math.max(this.start, this.segments[0]!.baseOffset);
    }
    return this.start;
  }

  async deleteBefore(offset: number): Promise<number> {
    const to = Math.min(Math.max(offset, this.start), this.end);
    // whole segments below `to` go (the active one stays); the rest is hidden by the start offset
    while (this.segments.length > 1 && this.segments[1]!.baseOffset <= to) {
      this.bytes -= this.segments.shift()!.bytes;
    }
    this.start = to;
    return this.start;
  }

  sizeBytes(): number {
    return this.bytes;
  }

  async close(): Promise<void> {
    this.segments = [];
  }

  /** Binary search for the segment holding `offset`. */
  private segmentIndex(offset: number): number {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.segments[mid]!.baseOffset <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

/** Binary search for the chunk holding `offset` (the last one whose base is ≤ it). */
function chunkIndex(chunks: readonly MemoryChunk[], offset: number): number {
  let lo = 0;
  let hi = chunks.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (chunks[mid]!.baseOffset <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

export class MemoryMetadataStore implements MetadataStore {
  private readonly topicConfigs = new Map<string, TopicConfig>();
  private readonly offsets = new Map<string, Map<string, Map<number, number>>>();
  private readonly dedupe = new Map<string, DedupeWindow>();
  private lastSweep = 0;

  topics(): Map<string, TopicConfig> {
    return this.topicConfigs;
  }

  async putTopic(name: string, config: TopicConfig): Promise<void> {
    this.topicConfigs.set(name, config);
  }

  async deleteTopic(name: string): Promise<void> {
    this.topicConfigs.delete(name);
    this.dedupe.delete(name);
    for (const byTopic of this.offsets.values()) byTopic.delete(name);
  }

  committed(group: string, topic: string): Map<number, number> {
    return new Map(this.offsets.get(group)?.get(topic) ?? []);
  }

  async commit(group: string, topic: string, partition: number, offset: number): Promise<void> {
    let byTopic = this.offsets.get(group);
    if (byTopic === undefined) this.offsets.set(group, (byTopic = new Map()));
    let byPartition = byTopic.get(topic);
    if (byPartition === undefined) byTopic.set(topic, (byPartition = new Map()));
    byPartition.set(partition, offset);
  }

  groups(): string[] {
    return [...this.offsets.keys()];
  }

  async deleteGroup(group: string, topic: string): Promise<void> {
    const byTopic = this.offsets.get(group);
    byTopic?.delete(topic);
    if (byTopic !== undefined && byTopic.size === 0) this.offsets.delete(group);
  }

  dedupeGet(topic: string, key: string, now: number): DedupeEntry | undefined {
    const window = this.dedupe.get(topic);
    if (window === undefined) return undefined;
    window.expire(now);
    if (now - this.lastSweep >= 1_000) this.sweep(now);
    return window.get(key, now);
  }

  dedupePut(topic: string, key: string, entry: DedupeEntry): void {
    let window = this.dedupe.get(topic);
    if (window === undefined) this.dedupe.set(topic, (window = new DedupeWindow()));
    window.put(key, entry);
  }

  async close(): Promise<void> {
    this.dedupe.clear();
  }

  /**
   * Once a second, the expired entries of every topic go (each window pops them from its queue's
   * head), so a topic no one publishes to any more does not keep its window.
   */
  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [topic, window] of this.dedupe) {
      window.expire(now);
      if (window.size === 0) this.dedupe.delete(topic);
    }
  }
}

export class MemoryStore implements Store {
  readonly durable = false;
  readonly metadata = new MemoryMetadataStore();
  private readonly logs = new Map<string, MemoryPartitionLog>();

  async openPartition(topic: string, partition: number): Promise<PartitionLog> {
    const id = `${topic}/${partition}`;
    let log = this.logs.get(id);
    if (log === undefined) this.logs.set(id, (log = new MemoryPartitionLog()));
    return log;
  }

  async deleteTopic(topic: string): Promise<void> {
    for (const id of [...this.logs.keys()]) if (id.startsWith(`${topic}/`)) this.logs.delete(id);
  }

  async close(): Promise<void> {
    this.logs.clear();
  }
}
