import type { PublishBatchResult, WireMessage } from "@brook/core";
import type { CreateTopicConfig, FetchResult, LogEngine } from "./engine.js";
import type { GroupMember } from "./coordinator.js";
import type { TopicConfig } from "./storage/types.js";

export interface PartitionInfo {
  partition: number;
  start: number;
  end: number;
  bytes: number;
}

/**
 * Everything a client of the log engine needs, all async, so the same broker code runs
 * in-process (`DirectEngineApi`) and over the wire to `brook serve` (the server client).
 */
export interface EngineApi {
  createTopic(name: string, config: CreateTopicConfig, ifNotExists: boolean): Promise<void>;
  deleteTopic(name: string): Promise<void>;
  listTopics(): Promise<string[]>;
  describeTopic(name: string): Promise<{ name: string; config: TopicConfig; partitions: PartitionInfo[] }>;
  append(topic: string, messages: readonly WireMessage[]): Promise<PublishBatchResult[]>;
  fetch(topic: string, partition: number, offset: number, maxRecords: number, waitMs: number, signal?: AbortSignal): Promise<FetchResult>;
  offsetForTime(topic: string, partition: number, time: number): Promise<number>;
  committed(group: string, topic: string): Promise<Map<number, number>>;
  commit(group: string, topic: string, offsets: Map<number, number>): Promise<void>;
  join(group: string, topic: string, member: GroupMember): Promise<void>;
  leave(group: string, topic: string, memberId: string): Promise<void>;
  readonly maxMessageBytes: number;
  close(): Promise<void>;
}

export class DirectEngineApi implements EngineApi {
  constructor(
    readonly engine: LogEngine,
    private readonly ownsEngine: boolean,
  ) {}

  get maxMessageBytes(): number {
    return this.engine.maxMessageBytes;
  }

  createTopic(name: string, config: CreateTopicConfig, ifNotExists: boolean): Promise<void> {
    return this.engine.createTopic(name, config, ifNotExists);
  }

  deleteTopic(name: string): Promise<void> {
    return this.engine.deleteTopic(name);
  }

  async listTopics(): Promise<string[]> {
    return this.engine.listTopics();
  }

  async describeTopic(name: string): Promise<{ name: string; config: TopicConfig; partitions: PartitionInfo[] }> {
    return this.engine.describeTopic(name);
  }

  append(topic: string, messages: readonly WireMessage[]): Promise<PublishBatchResult[]> {
    return this.engine.append(topic, messages);
  }

  fetch(topic: string, partition: number, offset: number, maxRecords: number, waitMs: number, signal?: AbortSignal): Promise<FetchResult> {
    return this.engine.fetch(topic, partition, offset, maxRecords, waitMs, signal);
  }

  offsetForTime(topic: string, partition: number, time: number): Promise<number> {
    return this.engine.offsetForTime(topic, partition, time);
  }

  async committed(group: string, topic: string): Promise<Map<number, number>> {
    return this.engine.committed(group, topic);
  }

  async commit(group: string, topic: string, offsets: Map<number, number>): Promise<void> {
    for (const [partition, next] of offsets) await this.engine.commit(group, topic, partition, next);
  }

  join(group: string, topic: string, member: GroupMember): Promise<void> {
    this.engine.topic(topic);
    return this.engine.coordinator.join(group, topic, member);
  }

  leave(group: string, topic: string, memberId: string): Promise<void> {
    return this.engine.coordinator.leave(group, topic, memberId);
  }

  async close(): Promise<void> {
    if (this.ownsEngine) await this.engine.close();
  }
}
