/**
 * Durable metadata (FORMAT.md §5): topic configs, committed group offsets and the publish
 * dedupe window. The state lives in memory; every change is appended to a CRC-framed journal
 * (§5.1) and the journal is periodically folded into a snapshot that replaces the old one
 * atomically (§5.2), so a torn write can only lose the entry being written.
 */
import fs from "node:fs";
import path from "node:path";
import { crc32c } from "../crc32c.js";
import { BrookError } from "@brook/core/base";
import type { DedupeEntry, MetadataStore, TopicConfig } from "./types.js";
import { DedupeWindow } from "./dedupe-window.js";
import type { FileStoreStats, FsyncPolicy, StoreLogger } from "./file-partition-log.js";
import { fsyncDirSync, fsyncFd, pwritev, readFileIfExists, unlinkIfExists, writeFileSyncDurable } from "./file-io.js";
import { readInt64, writeInt64 } from "./file-format.js";

/** FORMAT.md §5.1 entry types. */
const TOPIC_PUT = 1;
const TOPIC_DELETED = 2;
const COMMIT = 3;
const DEDUPE = 4;
const SEGMENT = 5;
const LOG_START = 6;
const SKIPPED = 7;
const GROUP_DELETED = 8;
const END = 255;
const ENTRY_HEADER_BYTES = 9;
/** FORMAT.md §5.2 */
const SNAPSHOT_MAGIC = Buffer.from("BRKMETA1", "latin1");
const SNAPSHOT_HEADER_BYTES = 16;
/** Every topic's expired dedupe entries go at most this often (each topic's also on its look-ups). */
const DEDUPE_SWEEP_MS = 1_000;

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface MetadataContext {
  readonly fsync: FsyncPolicy;
  /** compact once the journal exceeds max(this, 2 × snapshot); FORMAT.md §5.2 says 8 MiB */
  readonly compactBytes: number;
  readonly logger: StoreLogger;
  readonly stats: FileStoreStats;
  /** `brook repair --skip-damaged` (FORMAT.md §9): skip damaged journal entries, keep the rest */
  readonly repair?: { skipDamaged: boolean; report: (line: string) => void };
}

export class FileMetadataStore implements MetadataStore {
  private readonly topicConfigs = new Map<string, TopicConfig>();
  /** group → topic → partition → next offset */
  private readonly offsets = new Map<string, Map<string, Map<number, number>>>();
  /** topic → its dedupe window (idempotency key → entry, expiring in put order) */
  private readonly dedupe = new Map<string, DedupeWindow>();
  private lastDedupeSweep = 0;
  /** "topic\0partition" → partition entries (FORMAT.md §5.1): recorded segment bases, skipped ranges */
  private readonly partitionEntries = new Map<string, PartitionEntries>();

  private generation = 0;
  private journalFd: number | undefined;
  private journalSize = 0;
  private snapshotBytes = 0;
  private pending: Buffer[] = [];
  /** DEDUPE entries not yet in `pending` are in dedupeBytes[dedupeSealedAt, dedupeBytesAt) */
  private dedupeBytes = Buffer.alloc(0);
  private dedupeBytesAt = 0;
  private dedupeSealedAt = 0;
  private waiters: Waiter[] = [];
  /** a queued entry asks for an fsync before its waiter resolves */
  private syncRequested = false;
  private flushing = false;
  private idleWaiters: Array<() => void> = [];
  private dirty = false;
  private failure: BrookError | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private loadedEmpty = false;

  private constructor(
    private readonly dir: string,
    private readonly ctx: MetadataContext,
  ) {}

  /** Loads `<dir>` (the store's `meta/`), replaying snapshot + journal (FORMAT.md §5). */
  static open(dir: string, ctx: MetadataContext): FileMetadataStore {
    const store = new FileMetadataStore(dir, ctx);
    store.load();
    return store;
  }

  private get journalPath(): string {
    return path.join(this.dir, `journal-${String(this.generation).padStart(20, "0")}.log`);
  }

  private load(): void {
    fs.mkdirSync(this.dir, { recursive: true });
    unlinkIfExists(path.join(this.dir, "snapshot.tmp"));
    const snapshotPath = path.join(this.dir, "snapshot");
    const snapshot = readFileIfExists(snapshotPath);
    if (snapshot !== undefined) this.loadSnapshot(snapshotPath, snapshot);
    const generations: number[] = [];
    for (const name of fs.readdirSync(this.dir)) {
      const m = /^journal-(\d{20})\.log$/.exec(name);
      if (m !== null) generations.push(Number(m[1]));
    }
    generations.sort((a, b) => a - b);
    // The first compaction cut short after it created journal 1 and before the snapshot's
    // rename (there was never a snapshot): journal 0 is whole and current, the later journal
    // is still empty. Not a lost snapshot; the empty journal is the compaction's leftover.
    if (snapshot === undefined && generations[0] === 0 && generations.length > 1) {
      const later = generations.slice(1).map((g) => path.join(this.dir, `journal-${String(g).padStart(20, "0")}.log`));
      if (later.every((file) => fs.statSync(file).size === 0)) {
        for (const file of later) unlinkIfExists(file);
        generations.length = 1;
      }
    }
    // FORMAT.md §5.2 "Missing metadata": no snapshot, but journals of a generation > 0 — the
    // snapshot was lost. Replay the journals present in generation order, never delete them
    // unread, and write the state as a new snapshot.
    const lostSnapshot = snapshot === undefined && generations.some((g) => g > 0);
    if (lostSnapshot) {
      this.ctx.logger.error("metadata snapshot missing: state rebuilt from the journals present (what only the snapshot held is lost)", {
        dir: this.dir,
        journals: generations.length,
      });
      const now = Date.now();
      for (const g of generations.slice(0, -1)) {
        const file = path.join(this.dir, `journal-${String(g).padStart(20, "0")}.log`);
        const buf = fs.readFileSync(file);
        this.replay(buf, 0, now, (problem, at) => {
          if (tornJournalTail(buf, at)) return;
          throw new BrookError("CORRUPT_DATA", `${file}: metadata journal entry at byte ${at} is damaged (${problem}); the snapshot is missing too`);
        });
      }
      this.generation = generations[generations.length - 1] as number;
    } else {
      for (const g of generations) if (g !== this.generation) unlinkIfExists(path.join(this.dir, `journal-${String(g).padStart(20, "0")}.log`));
    }
    this.loadedEmpty = snapshot === undefined && !fs.existsSync(this.journalPath);
    const journalPath = this.journalPath;
    const journal = readFileIfExists(journalPath);
    let validEnd = 0;
    if (journal !== undefined) {
      const now = Date.now();
      let bad: { problem: string; at: number } | undefined;
      validEnd = this.replay(journal, 0, now, (problem, at) => {
        bad = { problem, at };
      });
      if (bad !== undefined && !tornJournalTail(journal, bad.at) && this.ctx.repair?.skipDamaged === true) {
        this.skipDamagedEntries(journalPath, journal, bad, now);
        return;
      }
      if (bad !== undefined) {
        // FORMAT.md §5.1: a torn append is cut; anything else is damage and refuses to open.
        const torn = tornJournalTail(journal, bad.at);
        if (!torn) {
          throw new BrookError(
            "CORRUPT_DATA",
            `${journalPath}: metadata journal entry at byte ${bad.at} is damaged (${bad.problem}); ` +
              `${journal.length - bad.at} bytes from it on are kept untouched — run \`brook check --dir\` / \`brook repair --dir <dir> --skip-damaged\``,
          );
        }
        this.ctx.logger.warn("truncating torn metadata journal tail (an append cut short by a crash)", {
          file: journalPath,
          position: bad.at,
          cutBytes: journal.length - bad.at,
          reason: bad.problem,
        });
      }
    }
    this.journalFd = fs.openSync(journalPath, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    if (journal !== undefined && validEnd < journal.length) {
      fs.ftruncateSync(this.journalFd, validEnd);
      if (this.ctx.fsync !== "never") fs.fsyncSync(this.journalFd);
    }
    this.journalSize = validEnd;
    if (lostSnapshot) {
      this.compact();
      for (const g of generations.slice(0, -1)) unlinkIfExists(path.join(this.dir, `journal-${String(g).padStart(20, "0")}.log`));
    }
  }

  /**
   * FORMAT.md §9: replays every entry that passes its checks, before and after each damaged
   * one, keeps the old journal as `journal-<G>.<time>.damaged` and writes the state as a new
   * snapshot + empty journal.
   */
  private skipDamagedEntries(journalPath: string, journal: Buffer, first: { problem: string; at: number }, now: number): void {
    let bad: { problem: string; at: number } | undefined = first;
    while (bad !== undefined) {
      const from = bad.at;
      let next = journal.length;
      for (let p = from + 1; p + ENTRY_HEADER_BYTES <= journal.length; p++) {
        const l = journal.readUInt32BE(p);
        if (l >= ENTRY_HEADER_BYTES && l <= journal.length - p && journal.readUInt32BE(p + 4) === crc32c(journal.subarray(p + 8, p + l))) {
          next = p;
          break;
        }
      }
      const line = `skipped metadata journal ${journalPath}: bytes ${from}–${next - 1} (${bad.problem})`;
      this.ctx.logger.error("damaged metadata journal entry skipped by brook repair --skip-damaged", { file: journalPath, position: from, bytes: next - from, reason: bad.problem });
      this.ctx.repair?.report(line);
      bad = undefined;
      if (next < journal.length) {
        this.replay(journal, next, now, (problem, at) => {
          bad = { problem, at };
        });
      }
    }
    const aside = path.join(this.dir, `journal-${String(this.generation).padStart(20, "0")}.${Date.now()}.damaged`);
    fs.renameSync(journalPath, aside);
    this.journalFd = fs.openSync(journalPath, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o644);
    this.journalSize = 0;
    this.compact();
  }

  /** True when neither a snapshot nor a journal was found: a new directory (or lost metadata). */
  get wasEmpty(): boolean {
    return this.loadedEmpty;
  }

  private loadSnapshot(file: string, buf: Buffer): void {
    const bad = (why: string): BrookError =>
      new BrookError("CORRUPT_DATA", `${file}: metadata snapshot is damaged (${why}); restore it from a backup or move the data directory aside`);
    if (buf.length < SNAPSHOT_HEADER_BYTES || !buf.subarray(0, 8).equals(SNAPSHOT_MAGIC)) throw bad("bad header");
    this.generation = readInt64(buf, 8);
    let ended = false;
    const end = this.replay(buf, SNAPSHOT_HEADER_BYTES, Date.now(), (problem) => {
      throw bad(problem);
    }, (count, entries) => {
      if (count !== entries) throw bad(`end entry counts ${count} entries, found ${entries}`);
      ended = true;
    });
    if (!ended || end !== buf.length) throw bad("no end entry");
    this.snapshotBytes = buf.length;
  }

  /**
   * Applies the entries of `buf` from `start`; returns where valid entries end. `onBad` hears
   * of the first bad entry (replay stops there); `onEnd` of an end entry (FORMAT.md §5.2).
   */
  private replay(
    buf: Buffer,
    start: number,
    now: number,
    onBad: (problem: string, at: number) => void,
    onEnd?: (count: number, entries: number) => void,
  ): number {
    let at = start;
    let entries = 0;
    while (at < buf.length) {
      if (buf.length - at < ENTRY_HEADER_BYTES) {
        onBad(`${buf.length - at} bytes left, less than an entry header`, at);
        return at;
      }
      const len = buf.readUInt32BE(at);
      if (len < ENTRY_HEADER_BYTES || len > buf.length - at) {
        onBad(`entry length ${len} does not fit`, at);
        return at;
      }
      if (buf.readUInt32BE(at + 4) !== crc32c(buf.subarray(at + 8, at + len))) {
        onBad("checksum mismatch", at);
        return at;
      }
      const type = buf[at + 8] as number;
      try {
        if (type === END) {
          if (onEnd === undefined) throw new Error("end entry in a journal");
          onEnd(buf.readUInt32BE(at + ENTRY_HEADER_BYTES), entries);
        } else {
          this.applyEntry(buf, at + ENTRY_HEADER_BYTES, at + len, type, now);
        }
      } catch (err) {
        if (err instanceof BrookError) throw err;
        onBad(err instanceof Error ? err.message : String(err), at);
        return at;
      }
      entries++;
      at += len;
    }
    return at;
  }

  private applyEntry(buf: Buffer, at: number, end: number, type: number, now: number): void {
    const r = new EntryReader(buf, at, end);
    switch (type) {
      case TOPIC_PUT: {
        const name = r.str();
        const partitions = r.u32();
        const retentionMs = r.f64();
        const retentionBytes = r.f64();
        const createdAt = r.f64();
        this.topicConfigs.set(name, { partitions, retentionMs, retentionBytes: retentionBytes < 0 ? undefined : retentionBytes, createdAt });
        break;
      }
      case TOPIC_DELETED:
        this.forgetTopic(r.str());
        break;
      case COMMIT: {
        const group = r.str();
        const topic = r.str();
        this.setCommitted(group, topic, r.u32(), r.f64());
        break;
      }
      case GROUP_DELETED: {
        const group = r.str();
        this.forgetGroup(group, r.str());
        break;
      }
      case DEDUPE: {
        const topic = r.str();
        const key = r.str();
        const partition = r.u32();
        const offset = r.f64();
        const expiresAt = r.f64();
        if (expiresAt > now) this.setDedupe(topic, key, { partition, offset, expiresAt });
        else this.dedupe.get(topic)?.delete(key); // an expired entry removes the key (FORMAT.md §5.1)
        break;
      }
      case SEGMENT: {
        const topic = r.str();
        const partition = r.u32();
        this.entriesOf(topic, partition).segments.add(r.f64());
        break;
      }
      case LOG_START: {
        const topic = r.str();
        const partition = r.u32();
        this.applyLogStart(topic, partition, r.f64());
        break;
      }
      case SKIPPED: {
        const topic = r.str();
        const reason = r.str();
        const partition = r.u32();
        const from = r.f64();
        const to = r.f64();
        const skippedAt = r.f64();
        this.entriesOf(topic, partition).skipped.push({ from, to, reason, skippedAt });
        break;
      }
      default:
        throw new Error(`unknown entry type ${type}`);
    }
    r.done();
  }

  // -------------------------------------------------------------------------------------------
  // MetadataStore

  topics(): Map<string, TopicConfig> {
    const copy = new Map<string, TopicConfig>();
    for (const [name, config] of this.topicConfigs) copy.set(name, { ...config });
    return copy;
  }

  putTopic(name: string, config: TopicConfig): Promise<void> {
    this.checkOpen();
    if (typeof name !== "string" || name.length === 0) return Promise.reject(argError("putTopic: name", "a non-empty string", name));
    if (!Number.isSafeInteger(config.partitions) || config.partitions < 1 || config.partitions > 0xffff_ffff) {
      return Promise.reject(argError(`putTopic(${name}): partitions`, "a positive integer", config.partitions));
    }
    this.topicConfigs.set(name, { ...config });
    const retentionBytes = config.retentionBytes === undefined ? -1 : config.retentionBytes;
    return this.enqueue(encodeEntry(TOPIC_PUT, [name], config.partitions, [config.retentionMs, retentionBytes, config.createdAt]), true);
  }

  deleteTopic(name: string): Promise<void> {
    this.checkOpen();
    if (!this.topicConfigs.has(name) && !this.topicsWithPartitionEntries().has(name)) return Promise.resolve();
    this.forgetTopic(name);
    return this.enqueue(encodeEntry(TOPIC_DELETED, [name], undefined, []), true);
  }

  committed(group: string, topic: string): Map<number, number> {
    return new Map(this.offsets.get(group)?.get(topic));
  }

  commit(group: string, topic: string, partition: number, offset: number): Promise<void> {
    this.checkOpen();
    if (!Number.isSafeInteger(partition) || partition < 0 || partition > 0xffff_ffff) {
      return Promise.reject(argError(`commit(${group}, ${topic}): partition`, "a non-negative integer", partition));
    }
    if (!Number.isSafeInteger(offset) || offset < 0) {
      return Promise.reject(argError(`commit(${group}, ${topic}): offset`, "a non-negative integer", offset));
    }
    this.setCommitted(group, topic, partition, offset);
    return this.enqueue(encodeEntry(COMMIT, [group, topic], partition, [offset]), this.ctx.fsync === "always");
  }

  groups(): string[] {
    return [...this.offsets.keys()];
  }

  deleteGroup(group: string, topic: string): Promise<void> {
    this.checkOpen();
    this.forgetGroup(group, topic);
    return this.enqueue(encodeEntry(GROUP_DELETED, [group, topic], undefined, []), true);
  }

  dedupeGet(topic: string, key: string, now: number): DedupeEntry | undefined {
    const window = this.dedupe.get(topic);
    if (window === undefined) return undefined;
    window.expire(now);
    if (now - this.lastDedupeSweep >= DEDUPE_SWEEP_MS) this.sweepDedupe(now);
    return window.get(key, now);
  }

  dedupePut(topic: string, key: string, entry: DedupeEntry): void {
    this.checkOpen();
    this.setDedupe(topic, key, entry);
    // Written within one event-loop turn; under "always" fsynced with it, otherwise by the
    // interval timer (FORMAT.md §5.1). Nobody waits for it: dedupePut is synchronous.
    if (this.failure !== undefined) return; // the store already reports the failure on commits
    this.writeDedupeEntry(topic, key, entry.partition, entry.offset, entry.expiresAt);
    if (this.ctx.fsync === "always") this.syncRequested = true;
    this.scheduleFlush();
  }

  // -------------------------------------------------------------------------------------------
  // Partition entries (FORMAT.md §5.1): what segment files must exist, and skipped ranges

  /** The recorded segment bases of a partition, ascending. */
  segmentsOf(topic: string, partition: number): number[] {
    const e = this.partitionEntries.get(partitionKey(topic, partition));
    return e === undefined ? [] : [...e.segments].sort((a, b) => a - b);
  }

  /** Ranges an operator chose to skip (`brook repair --skip-damaged`), ascending. */
  skippedOf(topic: string, partition: number): SkippedRange[] {
    const e = this.partitionEntries.get(partitionKey(topic, partition));
    return e === undefined ? [] : [...e.skipped].sort((a, b) => a.from - b.from);
  }

  /** Topics with partition entries (topic directories the metadata knows of). */
  topicsWithPartitionEntries(): Set<string> {
    const out = new Set<string>();
    for (const key of this.partitionEntries.keys()) out.add(key.slice(0, key.lastIndexOf("\u0000")));
    return out;
  }

  /** Records segment files that exist (durable before it resolves, unless fsync "never"). */
  recordSegments(topic: string, partition: number, bases: readonly number[]): Promise<void> {
    this.checkOpen();
    const e = this.entriesOf(topic, partition);
    const fresh = bases.filter((b) => !e.segments.has(b));
    if (fresh.length === 0) return Promise.resolve();
    for (const b of fresh) e.segments.add(b);
    return this.enqueueAll(
      fresh.map((b) => encodeEntry(SEGMENT, [topic], partition, [b])),
      true,
    );
  }

  /** Retention deleted every segment below `start` (journaled, fsynced, before the unlinks). */
  recordLogStart(topic: string, partition: number, start: number): Promise<void> {
    this.checkOpen();
    this.applyLogStart(topic, partition, start);
    return this.enqueue(encodeEntry(LOG_START, [topic], partition, [start]), true);
  }

  /** The operator skipped the damaged offsets [from, to) (FORMAT.md §9). */
  recordSkipped(topic: string, partition: number, range: SkippedRange): Promise<void> {
    this.checkOpen();
    this.entriesOf(topic, partition).skipped.push({ ...range });
    return this.enqueue(encodeSkipped(topic, partition, range), true);
  }

  /**
   * FORMAT.md §7: dedupe entries pointing at or past the recovered end of a partition name
   * records a crash took away; a retry of their key must be appended, not reported as a
   * duplicate of nothing. Each is removed (journaled as an expired entry).
   */
  dropDedupeFrom(topic: string, partition: number, end: number): number {
    const window = this.dedupe.get(topic);
    if (window === undefined) return 0;
    let dropped = 0;
    for (const [key, e] of [...window.byKey]) {
      if (e.partition !== partition || e.offset < end) continue;
      window.delete(key);
      dropped++;
      if (this.failure === undefined && !this.closed) {
        this.sealDedupe();
        this.pending.push(encodeEntry(DEDUPE, [topic, key], partition, [e.offset, 0]));
        this.scheduleFlush();
      }
    }
    return dropped;
  }

  committedPast(topic: string, partition: number, end: number): Array<{ group: string; offset: number }> {
    const out: Array<{ group: string; offset: number }> = [];
    for (const [group, byTopic] of this.offsets) {
      const offset = byTopic.get(topic)?.get(partition);
      if (offset !== undefined && offset > end) out.push({ group, offset });
    }
    return out;
  }

  lastDedupeOffset(topic: string, partition: number): number | undefined {
    let last: number | undefined;
    for (const e of this.dedupe.get(topic)?.byKey.values() ?? []) if (e.partition === partition && (last === undefined || e.offset > last)) last = e.offset;
    return last;
  }

  highestKnownOffset(topic: string, partition: number): number {
    let high = 0;
    for (const byTopic of this.offsets.values()) high = Math.max(high, byTopic.get(topic)?.get(partition) ?? 0);
    for (const e of this.dedupe.get(topic)?.byKey.values() ?? []) if (e.partition === partition) high = Math.max(high, e.offset + 1);
    return high;
  }

  private entriesOf(topic: string, partition: number): PartitionEntries {
    const key = partitionKey(topic, partition);
    let e = this.partitionEntries.get(key);
    if (e === undefined) {
      e = { segments: new Set(), skipped: [] };
      this.partitionEntries.set(key, e);
    }
    return e;
  }

  private applyLogStart(topic: string, partition: number, start: number): void {
    const e = this.entriesOf(topic, partition);
    for (const b of e.segments) if (b < start) e.segments.delete(b);
    e.segments.add(start);
    e.skipped = e.skipped.filter((r) => r.to > start);
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  /** Entries written since the last fsync, for the store's interval timer. */
  intervalFsync(): void {
    if (!this.dirty || this.flushing || this.closed || this.journalFd === undefined) return;
    this.dirty = false;
    const fd = this.journalFd;
    this.flushing = true;
    fsyncFd(fd)
      .then(
        () => {
          this.ctx.stats.fsyncs++;
        },
        (err: unknown) => {
          this.failure ??= new BrookError("UNAVAILABLE", `metadata journal fsync failed: ${String(err)}`, { cause: err, retriable: false });
        },
      )
      .finally(() => {
        this.flushing = false;
        if (this.pending.length > 0 || this.dedupeBytesAt > this.dedupeSealedAt) this.scheduleFlush();
        else this.notifyIdle();
      });
  }

  // -------------------------------------------------------------------------------------------
  // State helpers (shared by replay and live calls)

  private forgetTopic(name: string): void {
    this.topicConfigs.delete(name);
    this.dedupe.delete(name);
    const prefix = `${name}\u0000`;
    for (const key of [...this.partitionEntries.keys()]) if (key.startsWith(prefix)) this.partitionEntries.delete(key);
    for (const [group, byTopic] of this.offsets) {
      byTopic.delete(name);
      if (byTopic.size === 0) this.offsets.delete(group);
    }
  }

  private forgetGroup(group: string, topic: string): void {
    const byTopic = this.offsets.get(group);
    byTopic?.delete(topic);
    if (byTopic !== undefined && byTopic.size === 0) this.offsets.delete(group);
  }

  private setCommitted(group: string, topic: string, partition: number, offset: number): void {
    let byTopic = this.offsets.get(group);
    if (byTopic === undefined) {
      byTopic = new Map();
      this.offsets.set(group, byTopic);
    }
    let byPartition = byTopic.get(topic);
    if (byPartition === undefined) {
      byPartition = new Map();
      byTopic.set(topic, byPartition);
    }
    byPartition.set(partition, offset);
  }

  private setDedupe(topic: string, key: string, entry: DedupeEntry): void {
    let window = this.dedupe.get(topic);
    if (window === undefined) {
      window = new DedupeWindow();
      this.dedupe.set(topic, window);
    }
    window.put(key, entry);
  }

  /** Every topic's expired entries (popped from each window's queue head, not a full scan). */
  private sweepDedupe(now: number): void {
    this.lastDedupeSweep = now;
    for (const [topic, window] of this.dedupe) {
      window.expire(now);
      if (window.size === 0) this.dedupe.delete(topic);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Journal writer: coalesced like the partition logs (FORMAT.md §5.1)

  private enqueue(entry: Buffer, durable: boolean): Promise<void> {
    return this.enqueueAll([entry], durable);
  }

  /**
   * A DEDUPE entry (one per idempotent message) is encoded straight into a shared chunk instead
   * of a Buffer of its own, and the chunk goes to the journal as one buffer: fewer allocations and
   * far fewer iovecs per write. Bytes handed to `pending` are never written over (a full chunk is
   * replaced, not reused), and every other entry seals the chunk first, so journal order holds.
   */
  private writeDedupeEntry(topic: string, key: string, partition: number, offset: number, expiresAt: number): void {
    const size = dedupeEntryBound(topic, key);
    if (this.dedupeBytes.length - this.dedupeBytesAt < size) {
      this.sealDedupe();
      this.dedupeBytes = Buffer.allocUnsafe(Math.max(DEDUPE_CHUNK_BYTES, size));
      this.dedupeBytesAt = 0;
      this.dedupeSealedAt = 0;
    }
    this.dedupeBytesAt = encodeDedupeInto(this.dedupeBytes, this.dedupeBytesAt, topic, key, partition, offset, expiresAt);
  }

  /** Moves the DEDUPE entries written into the chunk since the last seal to `pending`. */
  private sealDedupe(): void {
    if (this.dedupeBytesAt === this.dedupeSealedAt) return;
    this.pending.push(this.dedupeBytes.subarray(this.dedupeSealedAt, this.dedupeBytesAt));
    this.dedupeSealedAt = this.dedupeBytesAt;
  }

  private enqueueAll(entries: Buffer[], durable: boolean): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => {
      this.sealDedupe();
      this.pending.push(...entries);
      this.waiters.push({ resolve, reject });
      if (durable) this.syncRequested = true;
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(() => void this.flushLoop());
  }

  private async flushLoop(): Promise<void> {
    while ((this.sealDedupe(), this.pending.length > 0) && this.failure === undefined) {
      const buffers = this.pending;
      const waiters = this.waiters;
      const sync = this.syncRequested && this.ctx.fsync !== "never";
      this.pending = [];
      this.waiters = [];
      this.syncRequested = false;
      try {
        let bytes = 0;
        for (const b of buffers) bytes += b.length;
        const fd = this.journalFd as number;
        const written = await pwritev(fd, buffers, this.journalSize);
        this.ctx.stats.writes++;
        this.ctx.stats.bytesWritten += written;
        if (written !== bytes) throw new Error(`short write: ${written} of ${bytes} bytes`);
        this.journalSize += written;
        if (sync) {
          await fsyncFd(fd);
          this.ctx.stats.fsyncs++;
        } else {
          this.dirty = true;
        }
        if (this.journalSize > Math.max(this.ctx.compactBytes, 2 * this.snapshotBytes)) this.compact();
      } catch (err) {
        this.failure ??= new BrookError("UNAVAILABLE", `metadata journal ${this.journalPath}: write failed: ${String(err)}; reopen the store`, {
          cause: err,
          retriable: false,
        });
        this.ctx.logger.warn("metadata journal write failed", { file: this.journalPath, error: String(err) });
        for (const w of waiters) w.reject(this.failure);
        break;
      }
      for (const w of waiters) w.resolve();
    }
    if (this.failure !== undefined) {
      const rest = this.waiters;
      this.pending = [];
      this.dedupeSealedAt = this.dedupeBytesAt;
      this.waiters = [];
      for (const w of rest) w.reject(this.failure);
    }
    this.flushing = false;
    this.notifyIdle();
  }

  private notifyIdle(): void {
    const idle = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of idle) w();
  }

  /** FORMAT.md §5.2: fold the state into a new snapshot and start a new journal. */
  private compact(): void {
    const now = Date.now();
    const parts: Buffer[] = [Buffer.alloc(SNAPSHOT_HEADER_BYTES)];
    for (const [name, c] of this.topicConfigs) {
      parts.push(encodeEntry(TOPIC_PUT, [name], c.partitions, [c.retentionMs, c.retentionBytes ?? -1, c.createdAt]));
    }
    for (const [group, byTopic] of this.offsets) {
      for (const [topic, byPartition] of byTopic) {
        for (const [partition, offset] of byPartition) parts.push(encodeEntry(COMMIT, [group, topic], partition, [offset]));
      }
    }
    // DEDUPE entries (most of a snapshot under idempotent publishing) go into 64 KiB chunks.
    let chunk = Buffer.alloc(0);
    let chunkAt = 0;
    let chunks = 0;
    let chunked = 0; // entries inside chunks, counted by the END entry like the others
    for (const [topic, window] of this.dedupe) {
      for (const [key, e] of window.byKey) {
        if (e.expiresAt <= now) {
          window.delete(key);
          continue;
        }
        const size = dedupeEntryBound(topic, key);
        if (chunk.length - chunkAt < size) {
          if (chunkAt > 0) {
            parts.push(chunk.subarray(0, chunkAt));
            chunks++;
          }
          chunk = Buffer.allocUnsafe(Math.max(DEDUPE_CHUNK_BYTES, size));
          chunkAt = 0;
        }
        chunkAt = encodeDedupeInto(chunk, chunkAt, topic, key, e.partition, e.offset, e.expiresAt);
        chunked++;
      }
    }
    if (chunkAt > 0) {
      parts.push(chunk.subarray(0, chunkAt));
      chunks++;
    }
    for (const [key, e] of this.partitionEntries) {
      const cut = key.lastIndexOf("\u0000");
      const topic = key.slice(0, cut);
      const partition = Number(key.slice(cut + 1));
      for (const b of e.segments) parts.push(encodeEntry(SEGMENT, [topic], partition, [b]));
      for (const r of e.skipped) parts.push(encodeSkipped(topic, partition, r));
    }
    parts.push(encodeEntry(END, [], parts.length - 1 - chunks + chunked, []));
    const generation = this.generation + 1;
    const header = parts[0] as Buffer;
    SNAPSHOT_MAGIC.copy(header, 0);
    writeInt64(header, generation, 8);
    const snapshot = Buffer.concat(parts);
    // FORMAT.md §5.2: snapshot.tmp, then the new (empty) journal, both durable, then the
    // atomic rename — a crash at any point leaves either the old pair or the new pair whole.
    const tmp = path.join(this.dir, "snapshot.tmp");
    writeFileSyncDurable(tmp, snapshot, true);
    const oldPath = this.journalPath;
    const oldFd = this.journalFd as number;
    const newPath = path.join(this.dir, `journal-${String(generation).padStart(20, "0")}.log`);
    const newFd = fs.openSync(newPath, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o644);
    fs.fsyncSync(newFd);
    fsyncDirSync(this.dir);
    fs.renameSync(tmp, path.join(this.dir, "snapshot"));
    fsyncDirSync(this.dir);
    this.ctx.stats.fsyncs += 4;
    this.generation = generation;
    this.journalFd = newFd;
    this.journalSize = 0;
    this.snapshotBytes = snapshot.length;
    this.dirty = false;
    fs.closeSync(oldFd);
    unlinkIfExists(oldPath);
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    while (this.flushing) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    const fd = this.journalFd;
    this.journalFd = undefined;
    if (fd === undefined) return;
    try {
      if (this.failure === undefined) {
        fs.fsyncSync(fd);
        this.ctx.stats.fsyncs++;
      }
    } finally {
      fs.closeSync(fd);
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new BrookError("CLOSED", "metadata store is closed");
  }
}

/** A range of offsets an operator chose to skip (FORMAT.md §5.1 `skipped`). */
export interface SkippedRange {
  from: number;
  to: number;
  reason: string;
  skippedAt: number;
}

interface PartitionEntries {
  segments: Set<number>;
  skipped: SkippedRange[];
}

function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

function encodeSkipped(topic: string, partition: number, r: SkippedRange): Buffer {
  return encodeEntry(SKIPPED, [topic, r.reason], partition, [r.from, r.to, r.skippedAt]);
}

/**
 * FORMAT.md §5.1: the bad entry at `at` is a torn append (the last thing in the file, cut
 * short: fewer than 9 bytes left, or a length running past the end with no valid entry
 * starting after it, or nothing but zeros from it on) — or else damage.
 */
export function tornJournalTail(buf: Buffer, at: number): boolean {
  const left = buf.length - at;
  if (left < ENTRY_HEADER_BYTES) return true;
  let zeros = true;
  for (let i = at; i < buf.length; i++) {
    if (buf[i] !== 0) {
      zeros = false;
      break;
    }
  }
  if (zeros) return true;
  const len = buf.readUInt32BE(at);
  if (len <= left) return false; // a complete entry that fails its checks
  for (let p = at + 1; p + ENTRY_HEADER_BYTES <= buf.length; p++) {
    const l = buf.readUInt32BE(p);
    if (l >= ENTRY_HEADER_BYTES && l <= buf.length - p && buf.readUInt32BE(p + 4) === crc32c(buf.subarray(p + 8, p + l))) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Entry encoding (FORMAT.md §5.1): strings, then an optional uint32, then f64s.

function encodeEntry(type: number, strings: string[], u32: number | undefined, f64s: number[]): Buffer {
  let size = ENTRY_HEADER_BYTES + (u32 === undefined ? 0 : 4) + 8 * f64s.length;
  const lengths: number[] = [];
  for (const s of strings) {
    const n = Buffer.byteLength(s, "utf8");
    lengths.push(n);
    size += varintSize(n) + n;
  }
  const buf = Buffer.allocUnsafe(size);
  buf.writeUInt32BE(size, 0);
  buf[8] = type;
  let at = ENTRY_HEADER_BYTES;
  for (let i = 0; i < strings.length; i++) {
    at = writeVarint(buf, lengths[i] as number, at);
    at += buf.write(strings[i] as string, at, "utf8");
  }
  if (u32 !== undefined) {
    buf.writeUInt32BE(u32, at);
    at += 4;
  }
  for (const f of f64s) {
    buf.writeDoubleBE(f, at);
    at += 8;
  }
  buf.writeUInt32BE(crc32c(buf.subarray(8, size)), 4);
  return buf;
}

const DEDUPE_CHUNK_BYTES = 64 * 1024;

/** At most the bytes encodeDedupeInto writes (strings counted at 3 bytes per UTF-16 unit). */
function dedupeEntryBound(topic: string, key: string): number {
  return ENTRY_HEADER_BYTES + 2 * 8 + 3 * (topic.length + key.length) + 4 + 8 + 8;
}

/** encodeEntry(DEDUPE, [topic, key], partition, [offset, expiresAt]) written at `at`; returns the end. */
function encodeDedupeInto(buf: Buffer, at: number, topic: string, key: string, partition: number, offset: number, expiresAt: number): number {
  const start = at;
  let p = at + ENTRY_HEADER_BYTES;
  p = writeEntryString(buf, topic, p);
  p = writeEntryString(buf, key, p);
  buf.writeUInt32BE(partition, p);
  buf.writeDoubleBE(offset, p + 4);
  buf.writeDoubleBE(expiresAt, p + 12);
  p += 20;
  buf.writeUInt32BE(p - start, start);
  buf[start + 8] = DEDUPE;
  buf.writeUInt32BE(crc32c(buf.subarray(start + 8, p)), start + 4);
  return p;
}

/** A varint length and the UTF-8 bytes; ASCII (the usual key) without a native call. */
function writeEntryString(buf: Buffer, s: string, at: number): number {
  const n = s.length;
  if (n < 0x80) {
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[at + 1 + i] = c;
    }
    if (i === n) {
      buf[at] = n;
      return at + 1 + n;
    }
  }
  const bytes = Buffer.byteLength(s, "utf8");
  at = writeVarint(buf, bytes, at);
  return at + buf.write(s, at, "utf8");
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}

function writeVarint(buf: Buffer, n: number, at: number): number {
  while (n >= 0x80) {
    buf[at++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  buf[at++] = n;
  return at;
}

class EntryReader {
  constructor(
    private readonly buf: Buffer,
    private at: number,
    private readonly end: number,
  ) {}

  private need(n: number): void {
    if (this.at + n > this.end) throw new Error("entry shorter than its fields");
  }

  str(): string {
    let n = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      this.need(1);
      const byte = this.buf[this.at++] as number;
      n += (byte & 0x7f) * scale;
      if (byte < 0x80) break;
      if (i === 7) throw new Error("varint too long");
      scale *= 0x80;
    }
    this.need(n);
    const s = this.buf.toString("utf8", this.at, this.at + n);
    this.at += n;
    return s;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = this.buf.readDoubleBE(this.at);
    this.at += 8;
    return v;
  }

  done(): void {
    if (this.at !== this.end) throw new Error("entry longer than its fields");
  }
}

function argError(field: string, expected: string, got: unknown): BrookError {
  return new BrookError("INVALID_ARGUMENT", `${field}: expected ${expected}, got ${typeof got === "string" ? JSON.stringify(got) : String(got)}`);
}
