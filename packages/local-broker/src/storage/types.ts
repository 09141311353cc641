/**
 * The storage seam of the local broker. The engine (topics, groups, subscribers) talks only to
 * these interfaces; `memory-store.ts` keeps everything in memory and `file-store.ts` keeps a
 * durable segmented log on disk (see ../../FORMAT.md). Offsets are plain numbers: a local log
 * stays far below 2^53 records.
 */

import type { RecordMaker, StoredRun } from "./file-format.js";

export type { RecordMaker, StoredRun };

/** A record as the engine hands it to a partition log for appending. */
export interface AppendRecord {
  /** milliseconds since the epoch, set by the broker when the publish arrives */
  timestamp: number;
  key: Buffer | undefined;
  idempotencyKey: string | undefined;
  headers: Record<string, string>;
  value: Buffer;
}

/**
 * What append() takes: an AppendRecord, or a record without a timestamp of its own, which then
 * gets the call's `timestamp`. The engine hands its unkeyed messages over as they are: an
 * AppendRecord per message was ~15% of a publish's garbage.
 */
export interface AppendInput {
  timestamp?: number;
  key?: Buffer | undefined;
  idempotencyKey?: string | undefined;
  headers: Record<string, string>;
  value: Uint8Array;
}

/** A record read back from a partition log. */
export interface StoredRecord extends AppendRecord {
  offset: number;
}

export interface PartitionLog {
  /** the first offset still retained (equals endOffset when the log is empty) */
  readonly startOffset: number;
  /** the offset the next appended record gets */
  readonly endOffset: number;
  /**
   * Appends records in order and resolves with the first one's offset once they are as
   * durable as the store's fsync policy promises. Concurrent calls keep call order.
   * `timestamp` is the timestamp of the records that carry none.
   */
  append(records: readonly AppendInput[], timestamp?: number): Promise<number>;
  /**
   * Reads up to `maxRecords` records starting at `fromOffset` (clamped to startOffset).
   * Resolves with [] at the end of the log. Rejects with BrookError CORRUPT_DATA naming the file
   * and offset when a stored batch fails its checksum; never returns a corrupt record.
   */
  read(fromOffset: number, maxRecords: number, maxBytes?: number): Promise<StoredRecord[]>;
  /**
   * As read(), with the same limits, checks and CORRUPT_DATA, but the records come as one run
   * over the stored batch bytes, each decoded only when asked (`run.record(i)`).
   */
  readRuns(fromOffset: number, maxRecords: number, maxBytes?: number): Promise<StoredRun>;
  /** The first offset whose timestamp is >= `timestamp`, or endOffset when there is none. */
  offsetForTime(timestamp: number): Promise<number>;
  /**
   * Drops whole segments (never single records) older than `retentionMs` or beyond
   * `retentionBytes`, always keeping the active segment. Returns the new startOffset.
   */
  applyRetention(now: number, retentionMs: number, retentionBytes: number | undefined): Promise<number>;
  /**
   * Drops every record below `offset` (≤ endOffset): startOffset becomes `offset`, as after
   * Kafka's DeleteRecords. Optional: a store without it refuses with UNSUPPORTED (the file store
   * drops whole segments by retention only; a start offset inside a segment is not in its format).
   */
  deleteBefore?(offset: number): Promise<number>;
  /** Bytes the partition occupies in the store. */
  sizeBytes(): number;
  /**
   * True when the log was not closed cleanly before it was opened (a durable store after a
   * crash): the dedupe entries of its last records may not have been written (FORMAT.md §7).
   */
  readonly recoveredUnclean?: boolean;
  close(): Promise<void>;
}

export interface TopicConfig {
  partitions: number;
  retentionMs: number;
  retentionBytes: number | undefined;
  createdAt: number;
}

/** A publish-side dedupe entry: an idempotency key seen within the window and where it went. */
export interface DedupeEntry {
  partition: number;
  offset: number;
  expiresAt: number;
}

/**
 * Everything a broker keeps besides the partition logs: topic configs, committed group offsets
 * and the publish dedupe window. A durable store must keep these across restarts.
 */
export interface MetadataStore {
  topics(): Map<string, TopicConfig>;
  putTopic(name: string, config: TopicConfig): Promise<void>;
  deleteTopic(name: string): Promise<void>;
  committed(group: string, topic: string): Map<number, number>;
  /** `offset` is the next offset the group will read in that partition */
  commit(group: string, topic: string, partition: number, offset: number): Promise<void>;
  groups(): string[];
  /** Forgets the group's committed offsets on the topic (`brook groups delete`). */
  deleteGroup(group: string, topic: string): Promise<void>;
  /** The live entry of the key at `now` (the store's own object: callers do not change it). */
  dedupeGet(topic: string, key: string, now: number): DedupeEntry | undefined;
  /** Remembers the key; the store keeps `entry` itself, so the caller passes a fresh object. */
  dedupePut(topic: string, key: string, entry: DedupeEntry): void;
  /** the highest offset a live dedupe entry of that partition points at (durable stores) */
  lastDedupeOffset?(topic: string, partition: number): number | undefined;
  close(): Promise<void>;
}

export interface Store {
  readonly durable: boolean;
  readonly metadata: MetadataStore;
  /** Opens (creating when missing) the log of one partition. */
  openPartition(topic: string, partition: number): Promise<PartitionLog>;
  deleteTopic(topic: string): Promise<void>;
  close(): Promise<void>;
}
