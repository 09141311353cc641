/**
 * The seam between the adapter and a Kafka client library. The adapter speaks only these
 * interfaces; `kafkajs-driver.ts` implements them with KafkaJS 2.2.4 (the default) and
 * `platformatic-driver.ts` with @platformatic/kafka (`driver=platformatic`, Node >= 22.22).
 * Another client can be plugged in through the typed `driver` option by implementing the same
 * few methods: a fetch loop that hands records over one partition at a time and waits for the
 * adapter, group membership with a hook before each join, and plain admin and produce calls.
 *
 * Errors thrown by a driver carry `type` = the Kafka protocol error name (e.g.
 * "UNKNOWN_TOPIC_OR_PARTITION") when the cluster answered with one, `retriable`, `cause`, and a
 * `name` that errors.ts knows for client-side failures (KafkaJS' names, or the neutral
 * "KafkaConnectionError", "KafkaTimeoutError", "KafkaAuthenticationError"): errors.ts maps those.
 */
import type { Logger } from "@brook/core";

export type DriverLogLevel = "nothing" | "error" | "warn" | "info" | "debug";

export interface DriverSasl {
  mechanism: "plain" | "scram-sha-256" | "scram-sha-512";
  username: string;
  password: string;
}

/** How to reach the cluster; shared by every client the driver makes. */
export interface DriverConfig {
  brokers: string[];
  clientId: string;
  ssl: boolean;
  sasl: DriverSasl | undefined;
  connectionTimeoutMs: number;
  requestTimeoutMs: number;
  logLevel: DriverLogLevel;
  /** where the client library's own log lines go */
  logger: Logger;
}

/** A record as fetched. `offset` and `timestamp` are decimal strings (Kafka int64). */
export interface DriverRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  offset: string;
  timestamp: string;
}

export interface DriverBatch {
  topic: string;
  partition: number;
  /** the offset the next record appended to the partition will get */
  highWatermark: string;
  messages: DriverRecord[];
}

export interface ConsumerHooks {
  /**
   * Called with the fetched records of one partition at a time, in offset order. While it has
   * not resolved the driver fetches nothing more and keeps the group membership alive (it
   * heartbeats by itself). When it resolves, the partition's next fetch starts after the batch's
   * last record, unless `seek` moved the partition meanwhile (then the seek wins). The adapter
   * applies back-pressure by not resolving; it skips what it must not hand on (a partition
   * revoked or sought meanwhile) on its own.
   */
  records(batch: DriverBatch): Promise<void>;
  /**
   * Called before every JoinGroup (first join and every rebalance) and awaited: the member still
   * owns its partitions and the group waits for it (up to the rebalance timeout). The adapter
   * drains in-flight work and commits here, so no partition moves with work in flight.
   */
  beforeJoin(): Promise<void>;
  /**
   * Called after each join with the partitions of the subscribed topic this member now owns,
   * synchronously, before the driver fetches any of them (a pause here holds every fetch).
   */
  assigned(partitions: number[]): void;
  /** The client stopped on an error; `restarting` when it will rejoin by itself. */
  crashed(error: unknown, restarting: boolean): void;
  /**
   * A broker ("host:port") answered a request of this consumer: any response, fetch,
   * heartbeat, join, sync, commit or metadata, error responses included. The adapter's
   * watchdog (watchdog.ts) reports UNAVAILABLE when no answer comes for `unavailableAfterMs`; a
   * driver that never calls this is never reported (the watchdog starts at the first answer).
   */
  answered(broker: string): void;
  /**
   * The member's JoinGroup request is out, or its SyncGroup is about to be. The coordinator
   * holds a JoinGroup answer until every member has rejoined (up to rebalanceTimeoutMs), and a
   * follower's SyncGroup answer until the leader has sent the assignment, so the watchdog
   * allows that much more silence until the next answer. Optional for a driver to call, as
   * answered() is.
   */
  joining(): void;
}

export interface DriverConsumerOptions {
  group: string;
  /** where a partition without a committed offset starts, before the adapter seeks it */
  fromBeginning: boolean;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  heartbeatIntervalMs: number;
  maxWaitTimeMs: number;
}

export interface DriverConsumer {
  /** Connects, subscribes to `topic` and resolves once the first join has completed. */
  run(topic: string, hooks: ConsumerHooks): Promise<void>;
  /** Commits, per partition, the offset of the next record to read (last settled + 1). */
  commit(topic: string, offsets: Array<{ partition: number; offset: string }>): Promise<void>;
  /** Moves the fetch position of an owned partition; applied before the next fetch. */
  seek(topic: string, partition: number, offset: string): void;
  /** Stops fetching owned partitions (no fetch at all until resumed). */
  pause(topic: string, partitions: number[]): void;
  resume(topic: string, partitions: number[]): void;
  /** Leaves the group at once and closes the connections. */
  stop(): Promise<void>;
}

export interface DriverOutgoing {
  key: Buffer | null;
  value: Buffer;
  headers: Record<string, string>;
}

export interface DriverProducerOptions {
  idempotent: boolean;
  compression: "none" | "gzip";
  /** Chooses the partition of a record (the adapter passes Kafka's murmur2 partitioner). */
  partitioner: (key: Buffer | null, partitionCount: number) => number;
}

export interface DriverProducer {
  /**
   * Sends the records in order, all or nothing (a throw fails the call), acknowledged by all
   * in-sync replicas. Returns where each record landed (decimal strings), in input order.
   */
  send(topic: string, messages: DriverOutgoing[]): Promise<Array<{ partition: string; offset: string }>>;
  close(): Promise<void>;
}

export interface DriverTopicSpec {
  partitions: number | undefined;
  config: Record<string, string>;
}

export interface DriverAdmin {
  connect(): Promise<void>;
  close(): Promise<void>;
  listTopics(): Promise<string[]>;
  /** false when the topic already existed */
  createTopic(name: string, spec: DriverTopicSpec): Promise<boolean>;
  deleteTopic(name: string): Promise<void>;
  /** undefined when there is no such topic */
  describeTopic(name: string, configNames: string[]): Promise<{ partitions: number; config: Record<string, string> } | undefined>;
  /** the broker's `message.max.bytes`, when it can be read */
  messageMaxBytes(): Promise<number | undefined>;
  /** per partition: first offset still in the log and the next offset to be written */
  topicOffsets(topic: string): Promise<Array<{ partition: number; low: string; high: string }>>;
  /** per partition: the first offset whose timestamp is at or after `timestamp` (else the high watermark) */
  offsetsForTime(topic: string, timestamp: number): Promise<Array<{ partition: number; offset: string }>>;
  /** per partition: the group's committed offset (next to read), undefined when none */
  committedOffsets(group: string, topic: string): Promise<Map<number, string | undefined>>;
  /** Deletes a consumer group (its committed offsets); the cluster refuses a group with members. */
  deleteGroup(group: string): Promise<void>;
  /** Every consumer group: its members and, per member, the partitions it owns by topic. */
  listGroups(): Promise<DriverGroup[]>;
  /** Every topic the group has committed offsets on: partition → next offset to read. */
  groupOffsets(group: string): Promise<Map<string, Map<number, string>>>;
  /** Commits offsets for a group; the cluster refuses it while the group has members. */
  setGroupOffsets(group: string, topic: string, offsets: Array<{ partition: number; offset: string }>): Promise<void>;
}

export interface DriverGroup {
  group: string;
  members: Array<{ id: string; assignment: Map<string, number[]> }>;
}

export interface KafkaDriver {
  readonly name: string;
  admin(): DriverAdmin;
  producer(options: DriverProducerOptions): DriverProducer;
  consumer(options: DriverConsumerOptions): DriverConsumer;
}

export type KafkaDriverFactory = (config: DriverConfig) => KafkaDriver;
