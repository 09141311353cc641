import type { AppendRecord, DedupeEntry, MetadataStore, PartitionLog, Store, StoredRecord, TopicConfig } from "./types.js";

/** Records kept per in-memory segment; retention drops whole segments, as on disk. */
const SEGMENT_RECORDS = 4_096;

interface MemorySegment {
  baseOffset: number;
  records: StoredRecord[];
  bytes: number;
  maxTimestamp: number;
}

function recordBytes(r: AppendRecord): number {
  let size = r.value.byteLength + (r.key?.byteLength ?? 0) + (r.idempotencyKey?.length ?? 0) + 24;
  for (const name in r.headers) size += name.length + r.headers[name]!.length;
  return size;
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

  async append(records: readonly AppendRecord[]): Promise<number> {
    const base = this.end;
    for (const r of records) {
      let segment = this.segments[this.segments.length - 1];
      if (segment === undefined || segment.records.length >= SEGMENT_RECORDS) {
        segment = { baseOffset: this.end, records: [], bytes: 0, maxTimestamp: 0 };
        this.segments.push(segment);
      }
      const size = recordBytes(r);
      // Frozen: every delivery of this record shares the object, so no handler may change it
      // (core copies frozen headers before handing them out).
      // The engine hands over fresh record objects it never touches again: stored as they are.
      const stored = r as StoredRecord;
      stored.offset = this.end;
      Object.freeze(stored.headers);
      segment.records.push(stored);
      segment.bytes += size;
      segment.maxTimestamp = Math.max(segment.maxTimestamp, r.timestamp);
      this.bytes += size;
      this.end += 1;
    }
    return base;
  }

  async read(fromOffset: number, maxRecords: number): Promise<StoredRecord[]> {
    const from = Math.max(fromOffset, this.start);
    if (from >= this.end || maxRecords <= 0) return [];
    const out: StoredRecord[] = [];
    let i = this.segmentIndex(from);
    let offset = from;
    while (i < this.segments.length && out.length < maxRecords) {
      const segment = this.segments[i]!;
      const firstIndex = offset - segment.baseOffset;
      const take = Math.min(segment.records.length - firstIndex, maxRecords - out.length);
      for (let j = 0; j < take; j++) out.push(segment.records[firstIndex + j]!);
      offset += take;
      i += 1;
    }
    return out;
  }

  async offsetForTime(timestamp: number): Promise<number> {
    for (const segment of this.segments) {
      if (segment.maxTimestamp < timestamp) continue;
      for (const r of segment.records) if (r.offset >= this.start && r.timestamp >= timestamp) return r.offset;
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

export class MemoryMetadataStore implements MetadataStore {
  private readonly topicConfigs = new Map<string, TopicConfig>();
  private readonly offsets = new Map<string, Map<string, Map<number, number>>>();
  private readonly dedupe = new Map<string, Map<string, DedupeEntry>>();
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
    this.sweep(now);
    const entry = this.dedupe.get(topic)?.get(key);
    return entry !== undefined && entry.expiresAt > now ? entry : undefined;
  }

  dedupePut(topic: string, key: string, entry: DedupeEntry): void {
    let byKey = this.dedupe.get(topic);
    if (byKey === undefined) this.dedupe.set(topic, (byKey = new Map()));
    byKey.set(key, entry);
  }

  async close(): Promise<void> {
    this.dedupe.clear();
  }

  /** Drops expired dedupe entries at most once a second, so the window's memory stays bounded. */
  private sweep(now: number): void {
    if (now - this.lastSweep < 1_000) return;
    this.lastSweep = now;
    for (const byKey of this.dedupe.values()) {
      for (const [key, entry] of byKey) if (entry.expiresAt <= now) byKey.delete(key);
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
