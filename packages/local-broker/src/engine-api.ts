import type { PublishBatchResult } from "@brook/core";
import type { WireMessage } from "@brook/core/spi";
import type { CreateTopicConfig, FetchResult, LogEngine } from "./engine.js";
import type { GroupMember } from "./coordinator.js";
import type { TopicConfig } from "./storage/types.js";

export interface PartitionInfo {
  partition: number;
  start: number;
  end: number;
  bytes: number;
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
  /** Every group that has members or committed offsets, per topic, with lag per partition. */
  describeGroups(): Promise<GroupDescription[]>;
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

  async describeGroups(): Promise<GroupDescription[]> {
    return describeGroups(this.engine);
  }

  async close(): Promise<void> {
    if (this.ownsEngine) await this.engine.close();
  }
}

/** Groups known to the engine: those with members (coordinator) or commits (metadata). */
export function describeGroups(engine: LogEngine): GroupDescription[] {
  const pairs = new Map<string, { group: string; topic: string }>();
  const add = (group: string, topic: string): void => void pairs.set(`${group}\u0000${topic}`, { group, topic });
  for (const { group, topic } of engine.coordinator.groupNames()) if (engine.hasTopic(topic)) add(group, topic);
  const topics = engine.listTopics();
  for (const group of engine.store.metadata.groups()) {
    for (const topic of topics) if (engine.committed(group, topic).size > 0) add(group, topic);
  }
  const out: GroupDescription[] = [];
  for (const { group, topic } of [...pairs.values()].sort((a, b) => a.group.localeCompare(b.group) || a.topic.localeCompare(b.topic))) {
    const committed = engine.committed(group, topic);
    const owners = engine.coordinator.assignment(group, topic);
    const partitions = engine.describeTopic(topic).partitions.map(({ partition, end }) => {
      const next = committed.get(partition);
      return { partition, owner: owners.get(partition), committed: next, end, lag: next === undefined ? undefined : Math.max(0, end - next) };
    });
    out.push({ group, topic, members: engine.coordinator.members(group, topic), partitions });
  }
  return out;
}
