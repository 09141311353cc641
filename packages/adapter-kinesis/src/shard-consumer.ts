import { BrookError, type Logger } from "@brook/core";
import { toBrookError, type DeliverySink, type OutOfRangePolicy, type SourceRecord } from "@brook/core/spi";
import type { ChildShard } from "@aws-sdk/client-kinesis";
import { isSentinel, type Lease } from "./leases/lease.js";
import { compareSequence, formatOffset, parseOffset, toSourceRecords, type ExtendedSequence } from "./records.js";
import { abortError, sleep, untilAborted, type RecordFetcher, type StartPosition } from "./shard-reader.js";

/** Where a shard consumer begins, and which records at that position were already processed. */
export interface ConsumerStart {
  position: StartPosition;
  /**
   * The lease says LATEST and no reader pinned it yet: the first reader writes down when it
   * started (brookStartTimestamp) and reads from that time, so a later owner (after a crash or
   * hand-over before any checkpoint) starts there too instead of at a later LATEST.
   */
  pinLatest?: boolean;
  /** records at or before this were processed (resuming inside a KPL aggregate); undefined: none */
  after: ExtendedSequence | undefined;
  /** the group's checkpoint as an offset, for core's watermark */
  lastCommitted: string | undefined;
}

export interface ShardConsumerDeps {
  shardId: string;
  sink: DeliverySink;
  fetcher: (position: StartPosition) => RecordFetcher;
  /** whether every parent shard is finished (SHARD_END, or no lease) */
  parentsDone: () => Promise<boolean>;
  /** every record of the shard was handed to core */
  ended: (shardId: string, childShards: ChildShard[] | undefined) => void;
  /** records in the lease that reading starts at this time (pinLatest); false: the lease is gone */
  pinStart: (at: Date) => Promise<boolean>;
  logger: Logger;
  /** how often a child waits before it looks at its parents again */
  parentCheckMs: number;
  /** what to do when the record a start position names is gone from the shard (subscribe's onOutOfRange) */
  onOutOfRange: OutOfRangePolicy;
  /** names the shard, stream and group in errors */
  where: string;
}

const MAX_ERROR_BACKOFF_MS = 30_000;

/**
 * Reads one leased shard into core: waits until the shard's parents are finished (so per-key
 * order holds across a split or merge), positions the reader, tells core the shard is assigned
 * (with the group's checkpoint), then hands records over as core has room, reporting the
 * backlog for health(). At the shard's end it reports `ended`; the subscription checkpoints
 * SHARD_END once core has settled everything. Transient errors are reported and retried with
 * backoff from where reading stopped.
 */
export class ShardConsumer {
  /** the last offset handed to core */
  lastDelivered: string | undefined;
  /** core was told the shard is assigned (so it must be told when it goes) */
  assigned = false;
  private abort = new AbortController();
  private running: Promise<void> | undefined;
  private readyResolve: (() => void) | undefined;
  /** resolves once the shard is assigned in core, waits on its parents, or stopped */
  ready: Promise<void>;

  constructor(private readonly deps: ShardConsumerDeps) {
    this.ready = new Promise((resolve) => (this.readyResolve = resolve));
  }

  start(start: ConsumerStart | "SHARD_END"): void {
    this.abort = new AbortController();
    this.ready = new Promise((resolve) => (this.readyResolve = resolve));
    this.running = this.run(start, this.abort.signal).finally(() => this.markReady());
  }

  /** Stops reading and waits until the loop has exited; records not yet handed to core are dropped. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  private markReady(): void {
    this.readyResolve?.();
    this.readyResolve = undefined;
  }

  private async run(start: ConsumerStart | "SHARD_END", signal: AbortSignal): Promise<void> {
    const { shardId, sink } = this.deps;
    let failures = 0;
    try {
      while (!(await this.deps.parentsDone().catch(() => false))) {
        this.markReady();
        await sleep(this.deps.parentCheckMs, signal);
      }
      if (start === "SHARD_END") {
        // Finished before (a restart after the checkpoint, before the lease was let go).
        this.markReady();
        this.deps.ended(shardId, undefined);
        return;
      }
      let position = start.position;
      // A start at a sequence number (a checkpoint, a seek) reads that record first; a first
      // record after it means retention removed it, and maybe records behind it (never silent).
      let resumeCheck = position.type === "AT_SEQUENCE_NUMBER" ? position.sequence : undefined;
      if (start.pinLatest === true) {
        const at = new Date();
        for (;;) {
          try {
            if (!(await this.deps.pinStart(at))) return;
            break;
          } catch (err) {
            failures = await this.failed(err, failures, signal);
          }
        }
        position = { type: "AT_TIMESTAMP", time: at };
      }
      let fetcher = this.deps.fetcher(position);
      let after = start.after;
      try {
        for (;;) {
          try {
            await fetcher.prepare(signal);
            break;
          } catch (err) {
            failures = await this.failed(err, failures, signal);
          }
        }
        sink.assigned([{ partition: shardId, lastCommitted: start.lastCommitted }]);
        this.assigned = true;
        this.markReady();
        for (;;) {
          let result;
          try {
            result = await fetcher.fetch(signal);
            failures = 0;
          } catch (err) {
            failures = await this.failed(err, failures, signal);
            continue;
          }
          const first = result.records[0]?.SequenceNumber;
          if (resumeCheck !== undefined && first !== undefined) {
            const gone = compareSequence(first, resumeCheck) > 0 ? resumeCheck : undefined;
            resumeCheck = undefined;
            if (gone !== undefined) {
              const policy = this.deps.onOutOfRange;
              const resume = policy === "error" ? 'the shard is left unread (onOutOfRange: "error")' : policy === "latest" ? 'resuming at the shard\'s newest record (onOutOfRange: "latest")' : `resuming at ${first}, the oldest record left (onOutOfRange: "earliest")`;
              sink.error(new BrookError("OUT_OF_RANGE", `${this.deps.where}: the record at the start position ${gone} is no longer in the shard (retention removed it); records after it and before ${first} were skipped if there were any; ${resume}`));
              if (policy === "error") return;
              if (policy === "latest") {
                fetcher.close();
                fetcher = this.deps.fetcher({ type: "LATEST" });
                after = undefined;
                await fetcher.prepare(signal);
                continue;
              }
              after = undefined;
            }
          }
          const records: SourceRecord[] = [];
          for (const r of result.records) {
            if (after !== undefined && r.SequenceNumber !== undefined && compareSequence(r.SequenceNumber, after.sequence) > 0) after = undefined;
            for (const record of toSourceRecords(shardId, r, after)) records.push(record);
          }
          const behind = result.millisBehindLatest;
          // Behind the shard's newest record: more is there than this read returned, how much is unknown.
          const unknownMore = !result.end && behind !== undefined && behind > 0;
          await this.deliver(records, behind, unknownMore, signal);
          if (result.end) {
            this.deps.ended(shardId, result.childShards);
            return;
          }
        }
      } finally {
        fetcher.close();
      }
    } catch (err) {
      // Stopped, or core is closing the subscription (deliver() gave up): nothing went wrong.
      if (signal.aborted || sink.closing) return;
      this.deps.logger.error(`shard ${shardId}: reader stopped: ${err instanceof Error ? err.message : String(err)}`);
      sink.error(toBrookError(err, "INTERNAL"));
    }
  }

  /** Hands records to core as it has room; reports what is left for health(). */
  private async deliver(records: SourceRecord[], behindMs: number | undefined, unknownMore: boolean, signal: AbortSignal): Promise<void> {
    const { shardId, sink } = this.deps;
    const report = (left: number): void => sink.reportBacklog(shardId, { records: unknownMore ? undefined : left, behindMs });
    report(records.length);
    let next = 0;
    while (next < records.length) {
      if (signal.aborted || sink.closing) throw abortError();
      const room = sink.available;
      if (room === 0) {
        await untilAborted(sink.waitForCapacity(), signal);
        continue;
      }
      const chunk = records.slice(next, next + room);
      sink.deliver(chunk);
      next += chunk.length;
      this.lastDelivered = chunk[chunk.length - 1]!.offset;
      report(records.length - next);
    }
  }

  /** Reports a failed read (once per streak, then every 10th) and waits before the retry. */
  private async failed(err: unknown, failures: number, signal: AbortSignal): Promise<number> {
    if (signal.aborted) throw abortError();
    const error = toBrookError(err, "UNAVAILABLE");
    if (failures === 0 || failures % 10 === 0) this.deps.sink.error(error);
    this.deps.logger.warn(`shard ${this.deps.shardId}: ${error.message}; retrying`);
    await sleep(Math.min(MAX_ERROR_BACKOFF_MS, 500 * 2 ** failures), signal);
    return failures + 1;
  }
}

/**
 * Where a lease says reading begins: its checkpoint (KCL semantics: resume AT the checkpoint's
 * sequence number and skip what is at or before it, which also resumes inside an aggregate), or
 * the start it was created with.
 */
export function startOfLease(lease: Lease, fallbackTime: Date | undefined): ConsumerStart | "SHARD_END" {
  const cp = lease.checkpoint;
  if (cp === "SHARD_END") return "SHARD_END";
  if (!isSentinel(cp)) {
    const sub = lease.subSequence > 0 ? lease.subSequence : undefined;
    return {
      position: { type: "AT_SEQUENCE_NUMBER", sequence: cp },
      after: { sequence: cp, sub: lease.subSequence },
      lastCommitted: formatOffset(cp, sub),
    };
  }
  if (lease.startSequence !== undefined) return startAtOffset(lease.startSequence);
  if (cp === "LATEST") {
    if (lease.startTimestamp !== undefined) return { position: { type: "AT_TIMESTAMP", time: new Date(lease.startTimestamp) }, after: undefined, lastCommitted: undefined };
    return { position: { type: "LATEST" }, pinLatest: true, after: undefined, lastCommitted: undefined };
  }
  if (cp === "AT_TIMESTAMP") {
    const ms = lease.startTimestamp ?? fallbackTime?.getTime();
    // A KCL table's AT_TIMESTAMP without a time Brook knows: from the start, so nothing is skipped.
    if (ms !== undefined) return { position: { type: "AT_TIMESTAMP", time: new Date(ms) }, after: undefined, lastCommitted: undefined };
  }
  return { position: { type: "TRIM_HORIZON" }, after: undefined, lastCommitted: undefined };
}

/** Reading from an offset inclusive: "<seq>" from that record, "<seq>:<n>" from sub-record n. */
export function startAtOffset(offset: string): ConsumerStart {
  const { sequence, sub } = parseOffset(offset);
  return {
    position: { type: "AT_SEQUENCE_NUMBER", sequence },
    after: sub !== undefined && sub > 0 ? { sequence, sub: sub - 1 } : undefined,
    lastCommitted: undefined,
  };
}
