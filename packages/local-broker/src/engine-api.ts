import type { PublishBatchResult } from "@brook/core";
import type { WireMessage } from "@brook/core/spi";
import type { GroupMember } from "./coordinator.js";
import type { StoredRecord, StoredRun, TopicConfig } from "./storage/types.js";

export interface CreateTopicConfig {
  partitions?: number;
  retentionMs?: number;
  retentionBytes?: number;
}

/** Options of one append call. */
export interface AppendOptions {
  /**
   * Put every message of the call in this partition instead of choosing by key (a Kafka
   * producer picks the partition itself). Only the in-process LogEngine supports it.
   */
  partition?: number;
}

export interface FetchResult {
  records: StoredRecord[];
  /** the offset the next append will get: lag = endOffset - consumer position */
  endOffset: number;
}

/** fetch() as one run of consecutive records, each decoded when asked (see StoredRun). */
export interface FetchRunResult {
  run: StoredRun;
  endOffset: number;
}

export interface PartitionInfo {
  partition: number;
  start: number;
  end: number;
  bytes: number;
}

export interface TopicDetails {
  name: string;
  config: TopicConfig;
  partitions: PartitionInfo[];
}

/** One group's view of one topic, for `brook groups` (lag per partition). */
export interface GroupDescription {
  group: string;
  topic: string;
  /** ids of the members currently in the group (empty when nobody consumes) */
  members: string[];
  partitions: Array<{
    partition: number;
    /** member owning the partition now, if any */
    owner: string | undefined;
    /** the next offset the group will read (its committed position), if it committed */
    committed: number | undefined;
    /** the offset the next append gets */
    end: number;
    /** end - committed; undefined before the first commit */
    lag: number | undefined;
  }>;
}

/**
 * Everything a client of the log engine needs, all async, so the same broker code runs
 * in-process (`LogEngine` itself) and over the wire to `brook serve` (`RemoteEngineApi`).
 */
export interface EngineApi {
  createTopic(name: string, config: CreateTopicConfig, ifNotExists: boolean): Promise<void>;
  deleteTopic(name: string): Promise<void>;
  listTopics(): Promise<string[]>;
  describeTopic(name: string): Promise<TopicDetails>;
  append(topic: string, messages: readonly WireMessage[], options?: AppendOptions): Promise<PublishBatchResult[]>;
  fetch(topic: string, partition: number, offset: number, maxRecords: number, waitMs: number, signal?: AbortSignal): Promise<FetchResult>;
  /** Optional: the embedded engine reads runs; over the wire (server mode) records come decoded. */
  fetchRuns?(topic: string, partition: number, offset: number, maxRecords: number, waitMs: number, signal?: AbortSignal): Promise<FetchRunResult>;
  offsetForTime(topic: string, partition: number, time: number): Promise<number>;
  committed(group: string, topic: string): Promise<Map<number, number>>;
  /** Fenced by `memberId` (the committing group member must own each partition); see LogEngine. */
  commit(group: string, topic: string, offsets: Map<number, number>, memberId?: string): Promise<void>;
  join(group: string, topic: string, member: GroupMember): Promise<void>;
  leave(group: string, topic: string, memberId: string): Promise<void>;
  /**
   * Forgets a group's committed offsets on a topic (the group is then new: its next member
   * starts at its startFrom). Refused while the group has members on that topic.
   */
  deleteGroup(group: string, topic: string): Promise<void>;
  /** Every group that has members or committed offsets, per topic, with lag per partition. */
  describeGroups(): Promise<GroupDescription[]>;
  /**
   * Kafka's DeleteRecords: drops a partition's records below `beforeOffset` and resolves with the
   * new start offset. Optional (LogEngine has it; over brook:// it is not offered); a store that
   * cannot (the file store) refuses with UNSUPPORTED.
   */
  deleteRecords?(topic: string, partition: number, beforeOffset: number): Promise<number>;
  readonly maxMessageBytes: number;
  /**
   * The broker using this API closes: a RemoteEngineApi drops its connection; a LogEngine
   * releases one owner and shuts down with the last (LogEngine.retain).
   */
  close(): Promise<void>;
}
