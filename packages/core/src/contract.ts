/**
 * The Brook contract: what every backend (local broker, Kafka, Pub/Sub, Kinesis, Event Hubs)
 * guarantees to application code. Each guarantee is stated beside the member that carries it;
 * `@brook/contract-tests` proves them against a real server, switched by `Capabilities`.
 */
import type { BrookError } from "./errors.js";
import type { Codec, CodecName } from "./codec.js";
import type { DedupeStore } from "./dedupe.js";

/** Where a message sits in its topic. Offsets are opaque strings (Kinesis needs > 64 bits). */
export interface Position {
  partition: string;
  offset: string;
}

export type Headers = Record<string, string>;

export interface OutgoingMessage<T> {
  data: T;
  /** Messages with the same key keep their publish order for subscribers (see ordering). */
  key?: string;
  /** A repeat within the backend's dedupe window is dropped (capability `publishDedupe`). */
  idempotencyKey?: string;
  headers?: Headers;
}

export interface PublishResult {
  position: Position;
  /** true when the backend recognised the idempotency key and kept the original instead. */
  duplicate: boolean;
}

/** One result per `publishBatch` entry, in entry order: a batch is never all-or-nothing. */
export type PublishBatchResult =
  | { ok: true; position: Position; duplicate: boolean }
  | { ok: false; error: BrookError };

export interface PublisherOptions<T> {
  /** How `data` becomes bytes: "json" (default), "string", "bytes", or a custom codec. */
  codec?: CodecName | Codec<T>;
  /** How long a publish may wait for others to share its batch (default 0: next tick). */
  lingerMs?: number;
  /** Caps below the backend's own limits; the smaller of the two applies. */
  maxBatchCount?: number;
  maxBatchBytes?: number;
  /** Transient failures are retried this many times per entry before they are reported. */
  maxRetries?: number;
}

/**
 * How long a caller waits. Aborting rejects the call with ABORTED. It stops the waiting, not
 * the work: a message already handed to the backend may still be published (at least once).
 */
export interface WaitOptions {
  signal?: AbortSignal;
}

export interface Publisher<T> extends AsyncDisposable {
  readonly topic: string;
  /** Resolves once the backend has acknowledged the message (durably, where it can). */
  publish(message: OutgoingMessage<T>, options?: WaitOptions): Promise<PublishResult>;
  /** Publishes every entry; a bad or failed entry fails alone, the rest are published. */
  publishBatch(messages: readonly OutgoingMessage<T>[], options?: WaitOptions): Promise<PublishBatchResult[]>;
  /** Resolves when everything published so far has been acknowledged or has failed. */
  flush(options?: WaitOptions): Promise<void>;
  /** Flushes, then refuses further publishes with CLOSED. `await using` calls it. */
  close(options?: WaitOptions): Promise<void>;
}

export interface ReceivedMessage<T> {
  /** Stable per message within a topic (partition/offset or the provider's message id). */
  id: string;
  topic: string;
  data: T;
  key?: string;
  idempotencyKey?: string;
  /** The publisher's headers; Brook's own transport headers are removed. */
  headers: Headers;
  publishTime: Date;
  position: Position;
  /** 1 on first delivery, incremented on each redelivery Brook knows about. */
  deliveryAttempt: number;
}

/** Resolve = acknowledged. Throw = retried after backoff; `PermanentError` = dead-lettered now. */
export type MessageHandler<T> = (message: ReceivedMessage<T>) => Promise<void> | void;
/** Resolve acknowledges the whole batch; a throw retries the whole batch. */
export type BatchHandler<T> = (messages: ReceivedMessage<T>[]) => Promise<void> | void;

export type StartFrom = "earliest" | "latest" | { time: Date } | { positions: Position[] };
export type SeekTarget = { time: Date } | { positions: Position[] };

export interface RetryOptions {
  /** Deliveries in total, the first included, before the message is dead-lettered (default 5). */
  maxAttempts?: number;
  minDelayMs?: number;
  maxDelayMs?: number;
}

export type DeadLetterOptions = { topic: string } | "native";

/** Everything subscribe() takes besides the handler (consume() takes exactly these). */
export interface ConsumeOptions<T> {
  /** Every group receives every message (fan-out); members of one group share the work. */
  group: string;
  /** How bytes become `data`: "auto" (default: by the content-type header), "json", "string", "bytes", or a custom codec. */
  codec?: CodecName | Codec<T>;
  /**
   * "key" (default): one key's messages run strictly in order, different keys concurrently.
   * "partition": one partition's messages run strictly in order. "none": no order.
   */
  ordering?: "key" | "partition" | "none";
  /**
   * Messages delivered to this subscriber and not yet settled, at most (default 256; with a
   * batchHandler, 4 × maxBatchSize).
   */
  maxInFlight?: number;
  /** Where a group with no committed position starts (default "latest"). */
  startFrom?: StartFrom;
  /**
   * Where a group resumes when its committed position is no longer in the log: retention
   * removed it, or it is past the log's end (Kafka's auto.offset.reset). "earliest" (default)
   * or "latest" resume there and emit an "error" (code OUT_OF_RANGE) naming the skipped
   * offsets; "error" emits it and leaves the partition unread. Never silent.
   */
  onOutOfRange?: "earliest" | "latest" | "error";
  retry?: RetryOptions;
  /** Without it, a message that exhausts its attempts is logged, reported as "error" and acked. */
  deadLetter?: DeadLetterOptions;
  /** Consumer-side idempotency: each idempotency key reaches the handler once while remembered. */
  dedupe?: { store: DedupeStore; ttlMs?: number };
  /** A partition with lag and no progress for this long emits "stalled" (default 60 s). */
  stallTimeoutMs?: number;
  /** How often the contiguous watermark is committed on log backends (default 1 s). */
  commitIntervalMs?: number;
  /** Create the topic or subscription when it is missing instead of failing with TOPIC_NOT_FOUND. */
  createIfMissing?: boolean;
  /** Aborting it closes the subscription (draining, as close() does); before it started, subscribe() rejects with ABORTED. */
  signal?: AbortSignal;
}

/** One message at a time (`handler`) or batches (`batchHandler`): exactly one of them. */
export type SubscribeOptions<T> = ConsumeOptions<T> &
  (
    | { handler: MessageHandler<T>; batchHandler?: never; maxBatchSize?: never }
    | {
        batchHandler: BatchHandler<T>;
        handler?: never;
        /** messages per call, at most (default 1000) */
        maxBatchSize?: number;
      }
  );

export interface PartitionHealth {
  partition: string;
  /** last offset whose commit the backend acknowledged (every offset up to it is settled) */
  committed: string | undefined;
  /** messages published to the partition and not yet settled by this group, when known */
  lag: number | undefined;
  inFlight: number;
  /** how far the reader is behind the partition's newest message, in ms, where the backend reports it (Kinesis) */
  lagMs?: number;
  lastProgressAt: Date | undefined;
  stalled: boolean;
}

export interface SubscriptionEvents {
  assigned: [partitions: string[]];
  revoked: [partitions: string[]];
  error: [error: BrookError];
  stalled: [health: PartitionHealth];
}

export interface CloseOptions {
  /** true (default): stop fetching, let in-flight handlers finish (bounded), commit, leave. */
  drain?: boolean;
  timeoutMs?: number;
  /** Aborting ends the drain early, as timeoutMs does: what is still in flight is redelivered later. */
  signal?: AbortSignal;
}

export interface Subscription extends AsyncDisposable {
  readonly topic: string;
  readonly group: string;
  on<E extends keyof SubscriptionEvents>(event: E, listener: (...args: SubscriptionEvents[E]) => void): this;
  off<E extends keyof SubscriptionEvents>(event: E, listener: (...args: SubscriptionEvents[E]) => void): this;
  /** Moves the group's position; messages in flight from before the seek are not committed. */
  seek(target: SeekTarget): Promise<void>;
  health(): PartitionHealth[];
  /** Partitions, or partition-like units, this member currently owns. */
  assignment(): string[];
  /** Commits the contiguous watermark now (log backends) and resolves when acknowledged. */
  commit(): Promise<void>;
  /**
   * With drain: finishes in-flight work (bounded by timeoutMs), commits, leaves the group.
   * Without: abandons in-flight work uncommitted (it will be redelivered) and leaves at once.
   */
  close(options?: CloseOptions): Promise<void>;
}

export interface TopicOptions {
  partitions?: number;
  retentionMs?: number;
  retentionBytes?: number;
}

export interface TopicDescription {
  name: string;
  partitions: number | undefined;
  retentionMs: number | undefined;
}

/** Where a consumer group stands on one partition of a topic (Admin.groupPositions). */
export interface GroupPosition {
  partition: string;
  /**
   * Log backends: the group's committed position as the last settled offset (every offset at
   * or below it is settled); undefined where the group committed nothing on the partition.
   */
  committed: string | undefined;
  /**
   * Backends without offsets (Pub/Sub): every message published before this time is settled
   * by the group (some published after it may be too). Absent on log backends.
   */
  settledBefore?: Date;
}

/** The offsets a partition holds now (Admin.partitionOffsets). */
export interface PartitionOffsets {
  partition: string;
  /** the first offset still retained */
  start: string;
  /** the offset the next message will get (start = end: nothing retained) */
  end: string;
}

export interface Admin {
  /** Fails with ALREADY_EXISTS when the topic exists, unless `ifNotExists`. */
  createTopic(name: string, options?: TopicOptions & { ifNotExists?: boolean }): Promise<void>;
  /** Fails with TOPIC_NOT_FOUND when there is no such topic. */
  deleteTopic(name: string): Promise<void>;
  describeTopic(name: string): Promise<TopicDescription>;
  listTopics(): Promise<string[]>;
  topicExists(name: string): Promise<boolean>;
  /**
   * What `group` has settled on `topic`, per partition, as the backend stores it; empty when the
   * group has no position there. Reads only: no member joins. TOPIC_NOT_FOUND for a missing topic.
   */
  groupPositions(topic: string, group: string): Promise<GroupPosition[]>;
  /**
   * Each partition's retained offsets now. UNSUPPORTED where messages have no offsets
   * (capability seek.offset false: Pub/Sub). TOPIC_NOT_FOUND for a missing topic.
   */
  partitionOffsets(topic: string): Promise<PartitionOffsets[]>;
  /**
   * Blue/green: starts group `to` where group `from` stands on `topic`, through the backend's own
   * mechanism (committed offsets on logs; a snapshot and seek on Pub/Sub), so a new version of a
   * consumer can run beside the old one from the same place and take over without a message
   * handled by neither. Returns the positions `to` now has. INVALID_ARGUMENT when `from` has no
   * position, when the groups are the same, or while `to` has live members; UNSUPPORTED where
   * the backend cannot set a group's position from outside.
   */
  copyGroupPositions(topic: string, from: string, to: string): Promise<GroupPosition[]>;
}

/**
 * What a backend can and cannot do. The rule: portable code never branches on the backend to
 * run; it branches only to use an extra.
 * - May differ (a flag here, and UNSUPPORTED when used where missing, never a silent no-op):
 *   features an application chooses to rely on — seek by offset or time, replay after ack,
 *   native dead letter, publish dedupe, history for new groups, partition-level order.
 * - Must never differ: every message reaches every group at least once; one key's messages
 *   keep their order; errors are typed BrookErrors with the same codes; inputs are validated
 *   alike; capacity hints (partitions, retentionBytes) are accepted everywhere, and ignored
 *   with a debug log where the backend has no such knob.
 * - A publish-only sink (Firehose: records go to S3, nothing reads them back through Brook) has
 *   `subscribe: false`: subscribe() and consume() throw UNSUPPORTED naming the backend, and the
 *   contract suite runs only its publish and bad-input cases there. Everything above holds for
 *   what it does do: publishing, errors, input validation.
 */
export interface Capabilities {
  /** messages can be read back through Brook (subscribe, consume, seek); false for a publish-only sink */
  subscribe: boolean;
  /** the finest unit of guaranteed order */
  ordering: "key" | "partition";
  seek: { offset: boolean; time: boolean };
  /** the log is retained after acknowledgement, so a seek can replay it */
  replayAfterAck: boolean;
  /**
   * A group created after messages were published can start before it existed (startFrom
   * "earliest" or { time } reaches messages published before its first subscribe).
   */
  historyForNewGroups: boolean;
  nativeDeadLetter: boolean;
  publishDedupe: "window" | "none";
  consumerGroups: boolean;
  partitions: "fixed" | "resharding" | "none";
  maxMessageBytes: number;
  maxBatchCount: number;
  maxBatchBytes: number;
}

export interface Broker extends AsyncDisposable {
  readonly url: string;
  readonly capabilities: Capabilities;
  readonly admin: Admin;
  publisher<T = unknown>(topic: string, options?: PublisherOptions<T>): Publisher<T>;
  /** Resolves once the subscriber is running; fails with TOPIC_NOT_FOUND for a missing topic. */
  subscribe<T = unknown>(topic: string, options: SubscribeOptions<T>): Promise<Subscription>;
  /**
   * The same subscription as an async iterator: `for await (const m of broker.consume(…))`.
   * A message is acknowledged when the loop asks for the next one; leaving the loop (break,
   * return or a throw) closes the subscription, and the message it was on is delivered again
   * later (at least once), as with a handler that throws.
   */
  consume<T = unknown>(topic: string, options: ConsumeOptions<T>): MessageStream<T>;
  /** Closes every publisher and subscription this broker opened, then the connection. */
  close(options?: WaitOptions): Promise<void>;
}

/** What consume() returns: an async iterator of messages that is also disposable. */
export interface MessageStream<T> extends AsyncIterableIterator<ReceivedMessage<T>>, AsyncDisposable {
  /** The subscription behind the stream (for health(), seek() and its events), once started. */
  readonly subscription: Subscription | undefined;
  /** Closes the subscription; what was handed out and not yet acknowledged is redelivered later. */
  close(): Promise<void>;
}
