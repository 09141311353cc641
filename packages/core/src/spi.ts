/**
 * `@brook/core/spi`: what an adapter supplies to core, and what it builds with. Core owns every
 * piece of shared machinery (codecs, validation, batching, retries, the keyed executor,
 * watermark commits, dead letters, dedupe, health, the broker's publisher/subscribe/close);
 * an adapter extends `BrokerSkeleton` and supplies only what differs: a PublishTransport that
 * sends encoded messages, a SubscriptionSource that fetches them and commits or acks what core
 * says is settled, its Admin, its Capabilities and its typed extras.
 *
 * ## Offsets: one convention
 * Offsets are opaque strings. Every committed position that crosses this SPI
 * (`PartitionAssignment.lastCommitted`, `CommitSource.commit`) is the LAST SETTLED offset: the
 * contiguous watermark, every offset at or below it settled (the form Kinesis and Event Hubs
 * checkpoint). Logs whose native commit is "next to read" (Kafka, the local broker) convert at
 * their edge with `nextAfter` / `assignmentAt` below, the only ±1 in Brook. A `RecordRun`
 * carries its first offset as a number: runs exist only for logs whose offsets are consecutive
 * integers, and its records still carry string offsets.
 */
import type { BrookError } from "./errors.js";
import type { Headers, PartitionHealth, PublishBatchResult, SeekTarget } from "./contract.js";

/** An encoded message on its way to a backend. */
export interface WireMessage {
  key: string | undefined;
  idempotencyKey: string | undefined;
  headers: Headers;
  value: Uint8Array;
}

export interface BackendLimits {
  maxMessageBytes: number;
  maxBatchCount: number;
  maxBatchBytes: number;
  /** batches a publisher may have in flight at once; > 1 only where sends keep call order per key */
  maxInFlightBatches?: number;
}

export interface PublishTransport {
  readonly topic: string;
  readonly limits: BackendLimits;
  /** OpenTelemetry `messaging.system` of the backend ("kafka", "gcp_pubsub", …; default "brook") */
  readonly system?: string;
  /**
   * Sends messages in order and returns one result per message, in the same order. A failure
   * of one entry is an `{ ok: false }` result; a throw fails the whole call. Retriable failures
   * (error.retriable) are retried by core for that entry alone.
   */
  send(messages: WireMessage[]): Promise<PublishBatchResult[]>;
  close?(): Promise<void>;
}

/** A fetched message as an adapter hands it to core. */
export interface SourceRecord {
  partition: string;
  offset: string;
  /** provider message id; default `${partition}/${offset}` */
  id?: string;
  key: string | undefined;
  idempotencyKey: string | undefined;
  headers: Headers;
  value: Uint8Array;
  publishTime: Date;
  /** the provider's own delivery count, when it keeps one */
  deliveryAttempt?: number;
  /** anything the adapter needs back in ack()/redeliver() (e.g. the SDK's message object) */
  handle?: unknown;
}

/**
 * A run of consecutive records of ONE partition, as a log whose offsets are integers reads
 * them (one fetch): record i has offset `firstOffset + i`, and its SourceRecord is made only
 * when core asks for it, so a batch handler that reads a few messages, or a run settled as a
 * whole, costs no object per record. Core tracks and settles a run as one range.
 */
export interface RecordRun {
  readonly partition: string;
  /** the offset of record 0, a non-negative safe integer */
  readonly firstOffset: number;
  /** how many records (≥ 1); the last one's offset is firstOffset + count - 1 */
  readonly count: number;
  /** Makes record i (0 ≤ i < count), a fresh object per call; its offset is String(firstOffset + i). */
  record(i: number): SourceRecord;
}

/** What a source knows of a partition's unread messages (see DeliverySink.reportBacklog). */
export interface PartitionBacklog {
  records: number | undefined;
  behindMs?: number | undefined;
}

export interface PartitionAssignment {
  partition: string;
  /** the group's committed position: the last settled offset (see "Offsets" above) */
  lastCommitted?: string | undefined;
  /** first offset this member will read, when known (for lag before the first delivery) */
  startOffset?: string | undefined;
}

/** Core's side of a subscription, as seen by the adapter's source. */
export interface DeliverySink {
  /** Hands fetched records to core. Records of one partition must arrive in offset order. */
  deliver(records: SourceRecord[]): void;
  /**
   * Hands a run of one partition's consecutive records to core (see RecordRun), in offset
   * order with deliver()'s records. Sources that cannot read runs call deliver() instead.
   */
  deliverRun(run: RecordRun): void;
  /** How many more records core will take before passing maxInFlight. */
  readonly available: number;
  /** Resolves when available > 0 (or the subscription is closing). */
  waitForCapacity(): Promise<void>;
  assigned(partitions: PartitionAssignment[]): void;
  /** Stops work on the partitions, waits (bounded) for their in-flight messages, commits them. */
  revoked(partitions: string[]): Promise<void>;
  /** Forgets in-flight work on the partition after a seek; late settles are not committed. */
  reset(partition: string, assignment: PartitionAssignment): void;
  /** The offset the next published message will get, for lag in health(). */
  reportEnd(partition: string, endOffset: string): void;
  /**
   * For logs whose offsets are not consecutive numbers (Kinesis sequence numbers), instead of
   * reportEnd: the partition's messages the source has not handed to core yet (fetched and held
   * back, or still unread), `undefined` when the reader is behind by a count it cannot know; and
   * how far behind the partition's newest message the reader is, in ms, where the backend says.
   * health() then reports lag as these plus the messages in flight.
   */
  reportBacklog(partition: string, backlog: PartitionBacklog): void;
  error(error: BrookError): void;
  readonly closing: boolean;
}

interface SourceBase {
  start(sink: DeliverySink): Promise<void>;
  seek(target: SeekTarget): Promise<void>;
  /** Stops fetching and leaves the group / releases partitions. */
  stop(): Promise<void>;
  /**
   * Optional: core's stall watchdog found the partition with lag or in-flight work and no
   * progress for stallTimeoutMs (called right after the "stalled" event). A source whose
   * receivers can go silent restarts the partition's receiver here; `health.inFlight` tells a
   * silent receiver (0) from handlers that are slow.
   */
  stalled?(partition: string, health: PartitionHealth): void;
}

/** A log source: core commits, per partition, the contiguous watermark. */
export interface CommitSource extends SourceBase {
  readonly settleMode: "commit";
  /** Commits, per partition, the last settled offset (see "Offsets" above). */
  commit(watermarks: Map<string, string>): Promise<void>;
}

/** A queue source: core acknowledges each message on its own. */
export interface AckSource extends SourceBase {
  readonly settleMode: "ack";
  ack(record: SourceRecord): void;
  /** Provider-side redelivery after `delayMs` (used with deadLetter "native"). */
  redeliver(record: SourceRecord, delayMs: number): void;
}

/** The compiler holds an adapter to its mode: a commit source commits, an ack source acks. */
export type SubscriptionSource = CommitSource | AckSource;

// ---- what an adapter builds with: the shared machinery, the one copy of each ----
export { assignmentAt, nextAfter, placeInLog } from "./offsets.js";
export type { OutOfRangePlacement } from "./offsets.js";
export { closedError, invalidArgument, isBrookErrorCode, toBrookError } from "./errors.js";
export { registerBackend } from "./registry.js";
export type { BrokerFactory } from "./registry.js";
export { ContiguousCommitTracker } from "./commit-tracker.js";
export { KeyedExecutor } from "./keyed-executor.js";
export { DEFAULT_RETRY, resolveRetryPolicy, runWithRetry } from "./retry.js";
export type { RetryPolicy, RetryRunOptions } from "./retry.js";
export { Batcher } from "./batcher.js";
export type { BatcherLimits } from "./batcher.js";
export { murmur2, partitionForKey } from "./partitioner.js";
export { CorePublisher, validateHeaders, validateTopicName, wireSize } from "./publisher.js";
export { checkGroupCopy } from "./admin-checks.js";
export { checkTypedOptions, mergeTypedOptions, parseUrlParameters, urlParameterNames } from "./url-parameters.js";
export type { UrlParameterSpec } from "./url-parameters.js";
export * from "./subscription/index.js";
export { BrokerSkeleton } from "./broker-skeleton.js";
export type { PublisherBuilder, SubscriptionBuilder } from "./broker-skeleton.js";
export { BOUNDS, SUBSCRIBE_DEFAULTS } from "./bounds.js";
export { partitionedLogCapabilities } from "./capabilities.js";
export { DLQ_HEADERS, IDEMPOTENCY_HEADER, setHeader } from "./headers.js";
export { TypedEmitter } from "./emitter.js";
export { formatTraceparent, loadOtel, parseTraceparent } from "./tracing.js";
export type { TraceParent } from "./tracing.js";
