import { randomUUID } from "node:crypto";
import { BrookError, type SeekTarget, type StartFrom } from "@brook/core";
import { assignmentAt, nextAfter, placeInLog, toBrookError, type CommitSource, type DeliverySink, type OutOfRangePolicy, type RecordRun, type SourceRecord } from "@brook/core/spi";
import type { EngineApi } from "./engine-api.js";
import type { GroupMember } from "./coordinator.js";
import type { RecordMaker, StoredRecord, StoredRun } from "./storage/types.js";

const FETCH_WAIT_MS = 500;
const MAX_FETCH_RECORDS = 4_096;
/** how often a consumer waiting for room in its in-flight window refreshes the end offset */
const END_REFRESH_MS = 1_000;

interface PartitionLoop {
  partition: number;
  /** next offset to fetch */
  offset: number;
  /** bumped by seek so a fetch already under way is thrown away */
  generation: number;
  abort: AbortController;
  done: Promise<void>;
}

/**
 * One group member on the local broker: joins the group, runs a fetch loop per assigned
 * partition (bounded by core's capacity), commits the watermarks core hands it, and on revoke
 * stops its loops before core drains and commits.
 */
export class LocalSubscriptionSource implements CommitSource, GroupMember {
  readonly settleMode = "commit" as const;
  readonly id = randomUUID();
  private sink: DeliverySink | undefined;
  private readonly loops = new Map<number, PartitionLoop>();
  private stopped = false;

  constructor(
    private readonly api: EngineApi,
    private readonly topic: string,
    private readonly group: string,
    private readonly options: { startFrom: StartFrom; onOutOfRange: OutOfRangePolicy },
  ) {}

  async start(sink: DeliverySink): Promise<void> {
    this.sink = sink;
    const { startFrom } = this.options;
    if (typeof startFrom === "object" && "positions" in startFrom) {
      // Refused before joining: a position naming a partition the topic lacks would never apply.
      const partitions = (await this.api.describeTopic(this.topic)).partitions.length;
      startFrom.positions.forEach((p, i) => {
        const partition = Number(p.partition);
        if (!Number.isSafeInteger(partition) || partition < 0 || partition >= partitions || String(partition) !== p.partition) {
          throw new BrookError("INVALID_ARGUMENT", `startFrom.positions[${i}].partition: expected a partition of topic "${this.topic}" (0..${partitions - 1}), got "${p.partition}"`);
        }
        parseOffset(p.offset, `startFrom.positions[${i}].offset`);
      });
    }
    await this.api.join(this.group, this.topic, this);
  }

  // ---- GroupMember ----

  async onAssign(partitions: number[]): Promise<void> {
    if (this.stopped || this.sink === undefined) return;
    const committed = await this.api.committed(this.group, this.topic);
    const starts = new Map<number, number>();
    const placed = new Map<number, number>();
    const unread = new Map<number, number>();
    const errors: BrookError[] = [];
    for (const partition of partitions) {
      const c = committed.get(partition);
      const wanted = c ?? (await this.initialOffset(partition));
      const { start, end } = await this.describePartition(partition);
      const placement = placeInLog(this.where(partition), BigInt(wanted), BigInt(start), BigInt(end), this.options.onOutOfRange);
      if (placement.error !== undefined) errors.push(placement.error);
      if (placement.next === undefined) unread.set(partition, wanted);
      else {
        starts.set(partition, Number(placement.next));
        if (c === undefined || placement.error !== undefined) placed.set(partition, Number(placement.next));
      }
    }
    if (this.stopped) return;
    // Core must know the partitions before the first record of them arrives.
    this.sink.assigned([...starts, ...unread].map(([partition, next]) => assignmentAt(String(partition), next)));
    for (const error of errors) this.sink.error(error);
    // Where a partition starts without a commit (or after a move by onOutOfRange) becomes the
    // group's position, so the next owner, or this one after a restart, continues from it.
    if (placed.size > 0) await this.api.commit(this.group, this.topic, placed, this.id).catch((err) => this.sink?.error(toBrookError(err)));
    for (const [partition, next] of starts) this.startLoop(partition, next);
  }

  async onRevoke(partitions: number[]): Promise<void> {
    await Promise.all(partitions.map((p) => this.stopLoop(p)));
    await this.sink?.revoked(partitions.map(String));
  }

  // ---- SubscriptionSource ----

  /** Fenced by this member's id: after an eviction the engine refuses it (FENCED). */
  async commit(watermarks: Map<string, string>): Promise<void> {
    const offsets = new Map<number, number>();
    for (const [partition, last] of watermarks) offsets.set(Number(partition), Number(nextAfter(last)));
    await this.api.commit(this.group, this.topic, offsets, this.id);
  }

  async seek(target: SeekTarget): Promise<void> {
    const positions = new Map<number, number>();
    if ("positions" in target) {
      for (const [i, p] of target.positions.entries()) {
        const partition = Number(p.partition);
        if (!this.loops.has(partition) || String(partition) !== p.partition) {
          throw new BrookError("INVALID_ARGUMENT", `positions[${i}].partition: "${p.partition}" is not assigned to this subscriber (assigned: ${[...this.loops.keys()].join(", ") || "none"})`);
        }
        const offset = parseOffset(p.offset, `positions[${i}].offset`);
        const { start, end } = await this.describePartition(partition);
        if (offset > end) {
          throw new BrookError("INVALID_ARGUMENT", `positions[${i}].offset: ${offset} is past the end of topic "${this.topic}" partition ${partition} (${end})`);
        }
        // Before the start there is nothing to skip: what retention removed cannot be replayed.
        positions.set(partition, Math.max(offset, start));
      }
    } else {
      for (const loop of this.loops.values()) {
        positions.set(loop.partition, await this.api.offsetForTime(this.topic, loop.partition, target.time.getTime()));
      }
    }
    for (const [partition, offset] of positions) {
      const loop = this.loops.get(partition);
      if (loop === undefined) continue;
      await this.stopLoop(partition);
      this.sink?.reset(String(partition), assignmentAt(String(partition), offset));
      this.startLoop(partition, offset, loop.generation + 1);
    }
    // The seek is the group's new position: commit it so a restart resumes from here.
    await this.api.commit(this.group, this.topic, positions, this.id);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all([...this.loops.keys()].map((p) => this.stopLoop(p)));
    await this.api.leave(this.group, this.topic, this.id).catch(() => undefined);
  }

  // ---- fetch loops ----

  private where(partition: number): string {
    return `topic "${this.topic}" partition ${partition} (group "${this.group}")`;
  }

  private async initialOffset(partition: number): Promise<number> {
    const startFrom = this.options.startFrom;
    if (startFrom === "earliest") return (await this.describePartition(partition)).start;
    if (startFrom === "latest") return (await this.describePartition(partition)).end;
    if ("time" in startFrom) return this.api.offsetForTime(this.topic, partition, startFrom.time.getTime());
    const pos = startFrom.positions.find((p) => Number(p.partition) === partition);
    if (pos !== undefined) return parseOffset(pos.offset, "startFrom.positions.offset");
    return (await this.describePartition(partition)).end;
  }

  private async describePartition(partition: number): Promise<{ start: number; end: number }> {
    const description = await this.api.describeTopic(this.topic);
    const info = description.partitions[partition];
    return info === undefined ? { start: 0, end: 0 } : info;
  }

  /**
   * The fetch position left the log while the loop ran (retention removed what this member had
   * not read yet, or the log was truncated): move by onOutOfRange, saying what was skipped.
   * Returns the offset to go on from, or undefined to leave the partition unread.
   */
  private async replace(loop: PartitionLoop): Promise<number | undefined> {
    const { start, end } = await this.describePartition(loop.partition);
    const placement = placeInLog(this.where(loop.partition), BigInt(loop.offset), BigInt(start), BigInt(end), this.options.onOutOfRange);
    if (placement.error !== undefined) this.sink?.error(placement.error);
    return placement.next === undefined ? undefined : Number(placement.next);
  }

  private startLoop(partition: number, offset: number, generation = 0): void {
    const loop: PartitionLoop = { partition, offset, generation, abort: new AbortController(), done: Promise.resolve() };
    this.loops.set(partition, loop);
    loop.done = this.run(loop).catch((err) => this.sink?.error(toBrookError(err, "UNAVAILABLE")));
  }

  private async stopLoop(partition: number): Promise<void> {
    const loop = this.loops.get(partition);
    if (loop === undefined) return;
    this.loops.delete(partition);
    loop.abort.abort();
    await loop.done;
  }

  /**
   * Waits for room in core's in-flight window. A consumer that is behind waits here while the
   * log grows, so the end offset is refreshed every second meanwhile: health() and the lag
   * metric then show the backlog as it is, not as it was at the last fetch.
   */
  private async waitForCapacity(loop: PartitionLoop, sink: DeliverySink, partition: string): Promise<void> {
    if (sink.available > 0) return;
    let room = false;
    const capacity = sink.waitForCapacity().then(() => void (room = true));
    // A seek or revoke stops the loop while handlers hold every slot: stop waiting then.
    let onAbort = (): void => undefined;
    const stopped = new Promise<void>((resolve) => (onAbort = resolve));
    loop.abort.signal.addEventListener("abort", onAbort, { once: true });
    try {
      await this.refreshWhileFull(loop, sink, partition, capacity, stopped, () => room);
    } finally {
      loop.abort.signal.removeEventListener("abort", onAbort);
    }
    if (!loop.abort.signal.aborted && !sink.closing) await capacity;
  }

  private async refreshWhileFull(loop: PartitionLoop, sink: DeliverySink, partition: string, capacity: Promise<void>, stopped: Promise<void>, room: () => boolean): Promise<void> {
    while (!room() && !loop.abort.signal.aborted && !sink.closing) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([capacity, stopped, new Promise((r) => (timer = setTimeout(r, END_REFRESH_MS)))]);
      clearTimeout(timer);
      if (room() || loop.abort.signal.aborted || sink.closing) break;
      try {
        const peek = await this.api.fetch(this.topic, loop.partition, loop.offset, 1, 0, loop.abort.signal);
        if (this.loops.get(loop.partition) === loop) sink.reportEnd(partition, String(peek.endOffset));
      } catch {
        // The fetch after the wait reports what is wrong; this is only for the lag figure.
      }
    }
  }

  private async run(loop: PartitionLoop): Promise<void> {
    const sink = this.sink!;
    const partition = String(loop.partition);
    let failures = 0;
    while (!loop.abort.signal.aborted && !sink.closing) {
      await this.waitForCapacity(loop, sink, partition);
      if (loop.abort.signal.aborted || sink.closing) return;
      let records: StoredRecord[] | StoredRun;
      try {
        const max = Math.min(sink.available, MAX_FETCH_RECORDS);
        // In process, records come as one run decoded on demand; over the wire, decoded.
        const fetched =
          this.api.fetchRuns === undefined
            ? await this.api.fetch(this.topic, loop.partition, loop.offset, max, FETCH_WAIT_MS, loop.abort.signal)
            : await this.api.fetchRuns(this.topic, loop.partition, loop.offset, max, FETCH_WAIT_MS, loop.abort.signal);
        records = "run" in fetched ? fetched.run : fetched.records;
        if (this.loops.get(loop.partition) === loop) sink.reportEnd(partition, String(fetched.endOffset));
        failures = 0;
      } catch (err) {
        const error = toBrookError(err, "UNAVAILABLE");
        if (error.code === "OUT_OF_RANGE" && !loop.abort.signal.aborted) {
          const next = await this.replace(loop);
          if (next === undefined) return;
          loop.offset = next;
          continue;
        }
        sink.error(error);
        // A corrupt batch is not skipped silently: the loop stops on it and the partition stalls.
        if (error.code === "CORRUPT_DATA" || error.code === "TOPIC_NOT_FOUND" || error.code === "CLOSED") return;
        failures += 1;
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** failures, 5_000)));
        continue;
      }
      if (loop.abort.signal.aborted || this.loops.get(loop.partition) !== loop) return;
      if (records.length === 0) continue;
      if (Array.isArray(records)) {
        loop.offset = records[records.length - 1]!.offset + 1;
        const make = sourceRecordMaker(partition);
        sink.deliver(records.map((r) => make(r.offset, r.timestamp, r.key, r.idempotencyKey, r.headers, r.value)));
      } else {
        loop.offset = records.firstOffset + records.length;
        sink.deliverRun(toRecordRun(partition, records));
      }
    }
  }
}

/** Each record of the run is decoded straight into a SourceRecord when core asks for it. */
function toRecordRun(partition: string, run: StoredRun): RecordRun {
  const make = sourceRecordMaker(partition);
  return { partition, firstOffset: run.firstOffset, count: run.length, record: (i) => run.recordAs(i, make) };
}

function sourceRecordMaker(partition: string): RecordMaker<SourceRecord> {
  return (offset, timestamp, key, idempotencyKey, headers, value) => ({
    partition,
    offset: String(offset),
    key: key === undefined ? undefined : key.toString("utf8"),
    idempotencyKey,
    headers,
    value,
    publishTime: new Date(timestamp),
  });
}

function parseOffset(offset: string, field = "offset"): number {
  const n = Number(offset);
  if (!/^\d+$/.test(offset) || !Number.isSafeInteger(n)) throw new BrookError("INVALID_ARGUMENT", `${field}: expected a non-negative integer string, got "${offset}"`);
  return n;
}
