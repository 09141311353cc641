import { BrookError } from "@brook/core";
import { GetRecordsCommand, GetShardIteratorCommand, type ChildShard, type KinesisClient, type ShardIteratorType } from "@aws-sdk/client-kinesis";
import { awsErrorName, streamNotFound, toKinesisBrookError } from "./errors.js";
import type { KinesisRecordIn } from "./records.js";

/** Where a reader starts in a shard (GetShardIterator's types). */
export type StartPosition =
  | { type: "TRIM_HORIZON" | "LATEST" }
  | { type: "AT_TIMESTAMP"; time: Date }
  | { type: "AT_SEQUENCE_NUMBER" | "AFTER_SEQUENCE_NUMBER"; sequence: string };

/** One read from a shard. */
export interface FetchResult {
  records: KinesisRecordIn[];
  /** how far the read is behind the shard's newest record; undefined when not reported */
  millisBehindLatest: number | undefined;
  /** the shard is closed and every record was returned */
  end: boolean;
  /** the shard's children, when it ended and the service named them */
  childShards: ChildShard[] | undefined;
}

/** How a shard consumer gets records: GetRecords polling, or enhanced fan-out. */
export interface RecordFetcher {
  /** Positions the reader (gets its iterator or subscription), so records published after it resolves are read. */
  prepare(signal: AbortSignal): Promise<void>;
  /** The next records, after whatever pacing the transport needs; rejects with a BrookError when it cannot go on. */
  fetch(signal: AbortSignal): Promise<FetchResult>;
  close(): void;
}

/** Kinesis allows 5 GetRecords calls per second per shard. */
const MIN_FETCH_GAP_MS = 200;
const MAX_THROTTLE_BACKOFF_MS = 5_000;
/** consecutive failures to get a working iterator before the reader gives up with an error */
const MAX_ITERATOR_ATTEMPTS = 5;

export interface PollingOptions {
  pollIntervalMs: number;
  maxRecordsPerFetch: number;
}

/**
 * GetRecords polling of one shard: gets an iterator for the start position, follows
 * NextShardIterator, and re-gets an expired or refused iterator after the last record it
 * returned. Waits pollIntervalMs after an empty read (growing to 4x while the shard stays
 * empty), never calls more often than Kinesis' 5 per second, and backs off exponentially when
 * throttled.
 */
export class PollingFetcher implements RecordFetcher {
  private iterator: string | undefined;
  private lastSequence: string | undefined;
  private nextAt = 0;
  private empties = 0;
  private throttles = 0;

  constructor(
    private readonly kinesis: KinesisClient,
    private readonly stream: string,
    private readonly shardId: string,
    private readonly start: StartPosition,
    private readonly options: PollingOptions,
  ) {}

  async prepare(signal: AbortSignal): Promise<void> {
    this.iterator ??= await this.getIterator(signal);
  }

  async fetch(signal: AbortSignal): Promise<FetchResult> {
    for (let attempt = 0; ; attempt++) {
      await sleep(this.nextAt - Date.now(), signal);
      if (this.iterator === undefined) this.iterator = await this.getIterator(signal);
      let response;
      try {
        // No abortSignal: GetRecords answers at once, so a stop waits at most one call, and the
        // SDK would add a listener to the long-lived signal on every call.
        response = await this.kinesis.send(new GetRecordsCommand({ ShardIterator: this.iterator, Limit: this.options.maxRecordsPerFetch }));
      } catch (err) {
        if (signal.aborted) throw abortError();
        const name = awsErrorName(err);
        if (name === "ProvisionedThroughputExceededException" || name === "KMSThrottlingException" || name === "LimitExceededException") {
          this.throttles += 1;
          this.nextAt = Date.now() + Math.min(MAX_THROTTLE_BACKOFF_MS, MIN_FETCH_GAP_MS * 2 ** this.throttles);
          continue;
        }
        if (name === "ResourceNotFoundException") throw streamNotFound(this.stream, err);
        // An iterator lives 5 minutes; an emulator answers a bad one with HTTP 500 and no body.
        const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if ((name === "ExpiredIteratorException" || name === "InvalidArgumentException" || status === 500) && attempt < MAX_ITERATOR_ATTEMPTS) {
          this.iterator = undefined;
          this.nextAt = Date.now() + MIN_FETCH_GAP_MS * attempt;
          continue;
        }
        throw toKinesisBrookError(err, `read shard ${this.shardId} of stream "${this.stream}"`);
      }
      this.throttles = 0;
      const records = response.Records ?? [];
      this.iterator = response.NextShardIterator ?? undefined;
      const last = records[records.length - 1];
      if (last?.SequenceNumber !== undefined) this.lastSequence = last.SequenceNumber;
      if (records.length > 0) {
        this.empties = 0;
        this.nextAt = Date.now() + ((response.MillisBehindLatest ?? 0) > 0 ? MIN_FETCH_GAP_MS : Math.min(this.options.pollIntervalMs, MIN_FETCH_GAP_MS * 2));
      } else {
        this.empties += 1;
        this.nextAt = Date.now() + Math.max(MIN_FETCH_GAP_MS, this.options.pollIntervalMs * Math.min(4, 2 ** (this.empties - 1)));
      }
      const end = this.iterator === undefined;
      return { records, millisBehindLatest: response.MillisBehindLatest, end, childShards: end ? response.ChildShards : undefined };
    }
  }

  close(): void {
    this.iterator = undefined;
  }

  /** An iterator at the start position, or just after the last record this reader returned. */
  private async getIterator(signal: AbortSignal): Promise<string> {
    const position: StartPosition = this.lastSequence === undefined ? this.start : { type: "AFTER_SEQUENCE_NUMBER", sequence: this.lastSequence };
    const input = {
      StreamName: this.stream,
      ShardId: this.shardId,
      ShardIteratorType: position.type as ShardIteratorType,
      ...("time" in position ? { Timestamp: position.time } : {}),
      ...("sequence" in position ? { StartingSequenceNumber: position.sequence } : {}),
    };
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await this.kinesis.send(new GetShardIteratorCommand(input));
        if (response.ShardIterator === undefined) throw new BrookError("UNAVAILABLE", `GetShardIterator for shard ${this.shardId} returned no iterator`);
        return response.ShardIterator;
      } catch (err) {
        if (signal.aborted) throw abortError();
        const name = awsErrorName(err);
        if (name === "ResourceNotFoundException") throw streamNotFound(this.stream, err);
        if ((name === "ProvisionedThroughputExceededException" || name === "LimitExceededException") && attempt < 20) {
          await sleep(Math.min(MAX_THROTTLE_BACKOFF_MS, MIN_FETCH_GAP_MS * 2 ** attempt), signal);
          continue;
        }
        throw toKinesisBrookError(err, `get an iterator (${position.type}) for shard ${this.shardId} of stream "${this.stream}"`);
      }
    }
  }
}

export function abortError(): BrookError {
  return new BrookError("CLOSED", "shard reader stopped");
}

/** Waits for `promise`; rejects with CLOSED when the signal aborts first. Leaves no listener behind. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError());
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

/** Waits `ms` (nothing when ≤ 0); rejects with CLOSED when the signal aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(abortError());
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
