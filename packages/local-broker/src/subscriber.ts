import { randomUUID } from "node:crypto";
import { BrookError, type SeekTarget, type StartFrom } from "@brook/core";
import { assignmentAt, nextAfter, toBrookError, type CommitSource, type DeliverySink, type SourceRecord } from "@brook/core/spi";
import type { EngineApi } from "./engine-api.js";
import type { GroupMember } from "./coordinator.js";
import type { StoredRecord } from "./storage/types.js";

const FETCH_WAIT_MS = 500;
const MAX_FETCH_RECORDS = 4_096;

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
    private readonly startFrom: StartFrom,
  ) {}

  async start(sink: DeliverySink): Promise<void> {
    this.sink = sink;
    await this.api.join(this.group, this.topic, this);
  }

  // ---- GroupMember ----

  async onAssign(partitions: number[]): Promise<void> {
    if (this.stopped || this.sink === undefined) return;
    const committed = await this.api.committed(this.group, this.topic);
    const starts = new Map<number, number>();
    for (const partition of partitions) starts.set(partition, committed.get(partition) ?? (await this.initialOffset(partition)));
    if (this.stopped) return;
    // Core must know the partitions before the first record of them arrives.
    this.sink.assigned([...starts].map(([partition, next]) => assignmentAt(String(partition), next)));
    for (const [partition, next] of starts) this.startLoop(partition, next);
  }

  async onRevoke(partitions: number[]): Promise<void> {
    await Promise.all(partitions.map((p) => this.stopLoop(p)));
    await this.sink?.revoked(partitions.map(String));
  }

  // ---- SubscriptionSource ----

  async commit(watermarks: Map<string, string>): Promise<void> {
    const offsets = new Map<number, number>();
    for (const [partition, last] of watermarks) offsets.set(Number(partition), Number(nextAfter(last)));
    await this.api.commit(this.group, this.topic, offsets);
  }

  async seek(target: SeekTarget): Promise<void> {
    const positions = new Map<number, number>();
    for (const loop of this.loops.values()) {
      if ("time" in target) {
        positions.set(loop.partition, await this.api.offsetForTime(this.topic, loop.partition, target.time.getTime()));
      } else {
        const pos = target.positions.find((p) => Number(p.partition) === loop.partition);
        if (pos !== undefined) positions.set(loop.partition, parseOffset(pos.offset));
      }
    }
    if ("positions" in target) {
      for (const p of target.positions) {
        if (!this.loops.has(Number(p.partition))) {
          throw new BrookError("INVALID_ARGUMENT", `positions: partition "${p.partition}" is not assigned to this subscriber`);
        }
      }
    }
    for (const [partition, offset] of positions) {
      const loop = this.loops.get(partition)!;
      await this.stopLoop(partition);
      this.sink?.reset(String(partition), assignmentAt(String(partition), offset));
      this.startLoop(partition, offset, loop.generation + 1);
    }
    // The seek is the group's new position: commit it so a restart resumes from here.
    await this.api.commit(this.group, this.topic, positions);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all([...this.loops.keys()].map((p) => this.stopLoop(p)));
    await this.api.leave(this.group, this.topic, this.id).catch(() => undefined);
  }

  // ---- fetch loops ----

  private async initialOffset(partition: number): Promise<number> {
    const startFrom = this.startFrom;
    if (startFrom === "earliest") return (await this.describePartition(partition)).start;
    if (startFrom === "latest") return (await this.describePartition(partition)).end;
    if ("time" in startFrom) return this.api.offsetForTime(this.topic, partition, startFrom.time.getTime());
    const pos = startFrom.positions.find((p) => Number(p.partition) === partition);
    if (pos !== undefined) return parseOffset(pos.offset);
    return (await this.describePartition(partition)).end;
  }

  private async describePartition(partition: number): Promise<{ start: number; end: number }> {
    const description = await this.api.describeTopic(this.topic);
    const info = description.partitions[partition];
    return info === undefined ? { start: 0, end: 0 } : info;
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

  private async run(loop: PartitionLoop): Promise<void> {
    const sink = this.sink!;
    const partition = String(loop.partition);
    let failures = 0;
    while (!loop.abort.signal.aborted && !sink.closing) {
      await sink.waitForCapacity();
      if (loop.abort.signal.aborted || sink.closing) return;
      let records: StoredRecord[];
      try {
        const fetched = await this.api.fetch(this.topic, loop.partition, loop.offset, Math.min(sink.available, MAX_FETCH_RECORDS), FETCH_WAIT_MS, loop.abort.signal);
        records = fetched.records;
        if (this.loops.get(loop.partition) === loop) sink.reportEnd(partition, String(fetched.endOffset));
        failures = 0;
      } catch (err) {
        const error = toBrookError(err, "UNAVAILABLE");
        sink.error(error);
        // A corrupt batch is not skipped silently: the loop stops on it and the partition stalls.
        if (error.code === "CORRUPT_DATA" || error.code === "TOPIC_NOT_FOUND" || error.code === "CLOSED") return;
        failures += 1;
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** failures, 5_000)));
        continue;
      }
      if (loop.abort.signal.aborted || this.loops.get(loop.partition) !== loop) return;
      if (records.length === 0) continue;
      const last = records[records.length - 1]!;
      loop.offset = last.offset + 1;
      sink.deliver(records.map((r) => toSourceRecord(partition, r)));
    }
  }
}

function toSourceRecord(partition: string, r: StoredRecord): SourceRecord {
  return {
    partition,
    offset: String(r.offset),
    key: r.key === undefined ? undefined : r.key.toString("utf8"),
    idempotencyKey: r.idempotencyKey,
    headers: r.headers,
    value: r.value,
    publishTime: new Date(r.timestamp),
  };
}

function parseOffset(offset: string): number {
  const n = Number(offset);
  if (!Number.isSafeInteger(n) || n < 0) throw new BrookError("INVALID_ARGUMENT", `offset: expected a non-negative integer string, got "${offset}"`);
  return n;
}
