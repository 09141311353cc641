/**
 * The position map: checkpoints the mirror writes to the target, beside the copy, and
 * `translate` reads back.
 *
 * A checkpoint states two facts about the moment it was taken (batches may be in flight):
 * - `marks[p]`: every source message of partition p the target acknowledged so far has offset
 *   ≤ `marks[p].offset` (log sources; the mirror copies a partition in order) and publish time
 *   ≤ `marks[p].time`. Every later source message is acknowledged after this moment (the source
 *   commit never passes an uncopied message, so a restart copies it again after it too).
 * - `ends[q]`: every copy not yet acknowledged lands at or after it on target partition q (log
 *   targets: the oldest in-flight batch's view of where q ended when it started); on a target
 *   without offsets nothing is in flight at a checkpoint and the record's own publish time on
 *   the target stands for the moment.
 * So a group whose source position is at or past every mark may start on the target at `ends`
 * (or that time) without missing anything: that is translate's rule. Copies acknowledged before
 * the moment that still lie at or after `ends` are counted in `marks[p].earlier`: repeats.
 */
import { BrookError, type Broker, type Publisher, type ReceivedMessage } from "@brook/core";
import { MAP_RETENTION_MS, compareOffsets, mapTopicFor, offsetsOf, parseOffset } from "./options.js";

export interface Mark {
  /** highest source offset mirrored (log sources) */
  offset?: string;
  /** latest source publish time mirrored, ISO 8601 */
  time?: string;
  /** messages of the partition this run copied up to the mark (counts where offsets have gaps) */
  n?: number;
  /**
   * Messages at or before the mark whose copies still lie at or after `ends` (acknowledged while
   * an older batch was in flight): a group translated with this checkpoint reads them again.
   */
  earlier?: number;
  /** the earliest source publish time among those, ISO 8601 */
  earlierTime?: string;
}

export interface Checkpoint {
  v: 1;
  /** one id per mirror run */
  run: string;
  /** checkpoints of one run, counted from 1 */
  seq: number;
  sourceTopic: string;
  targetTopic: string;
  /** the mirror's clock when it was written, ISO 8601 */
  at: string;
  /** messages this run copied before the checkpoint */
  mirrored: number;
  /** per source partition; a partition without a mark had nothing copied yet */
  marks: Record<string, Mark>;
  /**
   * Per target partition, where a translated group starts (log targets only): the next offset,
   * or, with `endsInclusive` (offsets with gaps: Kinesis), the last copy acknowledged before,
   * read again (it is counted in the marks' `earlier`).
   */
  ends?: Record<string, string>;
  endsInclusive?: boolean;
}

/**
 * Written when the target kept an earlier copy of a message instead of the one just published
 * (its publish dedupe window recognised the idempotency key, e.g. after a mirror restart): the
 * message's copy sits before the last checkpoint's `ends`, where translate must still reach it.
 * Written before the batch is acknowledged on the source, so no restart can lose it.
 */
export interface DuplicateRecord {
  v: 1;
  kind: "duplicates";
  run: string;
  sourceTopic: string;
  targetTopic: string;
  at: string;
  copies: Array<{ sourcePartition: string; sourceOffset: string; sourceTime: string; targetPartition: string; targetOffset: string }>;
}

/** A checkpoint as read back, with the time the target recorded for it. */
export interface StoredCheckpoint extends Checkpoint {
  targetTime: Date;
}

export interface PositionMap {
  checkpoints: StoredCheckpoint[];
  /** each duplicate record with the index of the first checkpoint written after it */
  duplicates: Array<DuplicateRecord & { before: number }>;
}

export async function ensureMapTopic(to: Broker, toTopic: string): Promise<string> {
  const topic = mapTopicFor(toTopic);
  // Retention lets translate read the map's history on every backend (Pub/Sub: topic retention).
  await to.admin.createTopic(topic, { partitions: 1, retentionMs: MAP_RETENTION_MS, ifNotExists: true });
  return topic;
}

export class PositionMapWriter {
  private readonly publisher: Publisher<Checkpoint | DuplicateRecord>;

  constructor(to: Broker, toTopic: string) {
    this.publisher = to.publisher<Checkpoint | DuplicateRecord>(mapTopicFor(toTopic), { codec: "json" });
  }

  async write(record: Checkpoint | DuplicateRecord): Promise<void> {
    // One key: the map keeps its write order on every backend.
    await this.publisher.publish({ key: record.sourceTopic, data: record });
  }

  close(): Promise<void> {
    return this.publisher.close();
  }
}

const READ_IDLE_MS = 3_000;
/** without ends: how long the first record may take (a Kinesis group takes its leases first) */
const READ_FIRST_MS = 15_000;
const READ_DEADLINE_MS = 120_000;

/**
 * Every checkpoint of `sourceTopic` → `toTopic` in write order. Log targets: read up to the
 * end the map has now. Targets without offsets: read until nothing arrives for a while.
 */
export async function readPositionMap(to: Broker, toTopic: string, sourceTopic: string): Promise<PositionMap> {
  const topic = mapTopicFor(toTopic);
  if (!(await to.admin.topicExists(topic))) return { checkpoints: [], duplicates: [] };
  let ends: Map<string, bigint> | undefined;
  if (to.capabilities.seek.offset) {
    // Offsets with gaps (Kinesis) have no ends to read up to: read until quiet, as without offsets.
    const offsets = await offsetsOf(to, topic);
    if (offsets !== undefined) {
      ends = new Map(offsets.filter((o) => o.end !== o.start).map((o) => [o.partition, BigInt(o.end) - 1n]));
      if (ends.size === 0) return { checkpoints: [], duplicates: [] };
    }
  }
  const got: ReceivedMessage<Checkpoint | DuplicateRecord>[] = [];
  const seen = new Set<string>();
  const reached = new Map<string, bigint>();
  let lastAt = Date.now();
  let wake: (() => void) | undefined;
  const sub = await to.subscribe<Checkpoint | DuplicateRecord>(topic, {
    group: `brook-mirror-translate-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
    startFrom: "earliest",
    codec: "json",
    // Sorted below; and an unordered Pub/Sub subscription accepts only "none".
    ordering: "none",
    handler: (m) => {
      lastAt = Date.now();
      if (!seen.has(m.id)) {
        seen.add(m.id);
        got.push(m);
      }
      if (ends !== undefined) reached.set(m.position.partition, BigInt(m.position.offset));
      wake?.();
    },
  });
  if (got.length === 0) lastAt = Date.now(); // subscribing itself may take a while (Kinesis leases)
  try {
    const deadline = Date.now() + READ_DEADLINE_MS;
    const done = (): boolean =>
      ends !== undefined ? [...ends].every(([p, last]) => (reached.get(p) ?? -1n) >= last) : Date.now() - lastAt >= (got.length === 0 ? READ_FIRST_MS : READ_IDLE_MS);
    while (!done()) {
      if (Date.now() > deadline) throw new BrookError("TIMEOUT", `reading the position map "${topic}" took longer than ${READ_DEADLINE_MS} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    await sub.close({ drain: false });
  }
  // Write order: log targets by offset; elsewhere by the time the target gave each record.
  const records = got
    .filter((m) => m.data !== null && typeof m.data === "object" && m.data.v === 1 && m.data.sourceTopic === sourceTopic)
    .map((m) => ({ data: m.data, targetTime: m.publishTime, order: m.position.offset }));
  if (to.capabilities.seek.offset) records.sort((a, b) => compareOffsets(parseOffset(a.order), parseOffset(b.order)));
  else records.sort((a, b) => a.targetTime.getTime() - b.targetTime.getTime());
  const map: PositionMap = { checkpoints: [], duplicates: [] };
  for (const r of records) {
    if ("kind" in r.data && r.data.kind === "duplicates") map.duplicates.push({ ...r.data, before: map.checkpoints.length });
    else if (!("kind" in r.data)) map.checkpoints.push({ ...(r.data as Checkpoint), targetTime: r.targetTime });
  }
  return map;
}
