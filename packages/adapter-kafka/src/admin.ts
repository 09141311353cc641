import { BrookError, type Admin, type GroupPosition, type PartitionOffsets, type TopicDescription, type TopicOptions } from "@brook/core";
import { checkGroupCopy, invalidArgument, validateTopicName } from "@brook/core/spi";
import type { DriverAdmin } from "./driver.js";
import { kafkaErrorType, toKafkaBrookError } from "./errors.js";
import { listKafkaGroups, setKafkaGroupOffsets, type KafkaGroupInfo, type KafkaMovedPartition, type KafkaSeekTo } from "./groups.js";

/** Topics on the Kafka cluster. Partition count is fixed at creation (Kafka can only add). */
export class KafkaAdmin implements Admin {
  constructor(private readonly admin: DriverAdmin) {}

  async createTopic(name: string, options: TopicOptions & { ifNotExists?: boolean } = {}): Promise<void> {
    validateTopicName(name);
    const { partitions, retentionMs, retentionBytes, ifNotExists } = options;
    if (partitions !== undefined && (!Number.isSafeInteger(partitions) || partitions < 1)) throw invalidArgument("partitions", "an integer >= 1", partitions);
    if (retentionMs !== undefined && !(Number.isSafeInteger(retentionMs) && (retentionMs > 0 || retentionMs === -1))) {
      throw invalidArgument("retentionMs", "a positive integer (or -1 for no limit)", retentionMs);
    }
    if (retentionBytes !== undefined && !(Number.isSafeInteger(retentionBytes) && (retentionBytes > 0 || retentionBytes === -1))) {
      throw invalidArgument("retentionBytes", "a positive integer (or -1 for no limit)", retentionBytes);
    }
    const config: Record<string, string> = {};
    if (retentionMs !== undefined) config["retention.ms"] = String(retentionMs);
    if (retentionBytes !== undefined) config["retention.bytes"] = String(retentionBytes);
    let created: boolean;
    try {
      created = await this.admin.createTopic(name, { partitions, config });
    } catch (err) {
      if (kafkaErrorType(err) === "TOPIC_ALREADY_EXISTS") created = false;
      else throw toKafkaBrookError(err, `create topic "${name}"`);
    }
    if (!created && ifNotExists !== true) throw new BrookError("ALREADY_EXISTS", `topic "${name}" already exists (pass ifNotExists: true to accept that)`);
  }

  async deleteTopic(name: string): Promise<void> {
    validateTopicName(name);
    // KafkaJS retries UNKNOWN_TOPIC_OR_PARTITION for seconds; ask first so a missing topic fails fast.
    if (!(await this.topicExists(name))) throw notFound(name);
    try {
      await this.admin.deleteTopic(name);
    } catch (err) {
      const error = toKafkaBrookError(err, `delete topic "${name}"`);
      throw error.code === "TOPIC_NOT_FOUND" ? notFound(name, err) : error;
    }
  }

  async describeTopic(name: string): Promise<TopicDescription> {
    validateTopicName(name);
    let described;
    try {
      described = await this.admin.describeTopic(name, ["retention.ms"]);
    } catch (err) {
      throw toKafkaBrookError(err, `describe topic "${name}"`);
    }
    if (described === undefined) throw notFound(name);
    const retention = described.config["retention.ms"];
    const retentionMs = retention === undefined ? undefined : Number(retention);
    return {
      name,
      partitions: described.partitions,
      retentionMs: retentionMs === undefined || !Number.isFinite(retentionMs) || retentionMs < 0 ? undefined : retentionMs,
    };
  }

  async listTopics(): Promise<string[]> {
    try {
      return (await this.admin.listTopics()).sort();
    } catch (err) {
      throw toKafkaBrookError(err, "list topics");
    }
  }

  /**
   * An extra beyond the contract: deletes a consumer group and its committed offsets (what
   * `brook tail` does with its throwaway group). Kafka refuses it while the group has members.
   */
  async deleteGroup(group: string): Promise<void> {
    if (typeof group !== "string" || group.length === 0) throw invalidArgument("group", "a non-empty string", group);
    try {
      await this.admin.deleteGroup(group);
    } catch (err) {
      throw toKafkaBrookError(err, `delete consumer group "${group}"`);
    }
  }

  /** An extra beyond the contract: per partition, the first offset written at or after `time` (else its end). */
  async partitionOffsetsAt(topic: string, time: Date): Promise<Array<{ partition: number; offset: string }>> {
    validateTopicName(topic);
    try {
      return await this.admin.offsetsForTime(topic, time.getTime());
    } catch (err) {
      throw toKafkaBrookError(err, `find the offsets of "${topic}" at ${time.toISOString()}`);
    }
  }

  /** An extra beyond the contract: every consumer group per topic, with members, committed offsets and lag. */
  listGroups(): Promise<KafkaGroupInfo[]> {
    return listKafkaGroups(this.admin);
  }

  /** An extra beyond the contract: moves a group's committed offsets (reset-offsets); refused while it has members. */
  setGroupOffsets(group: string, topic: string, to: KafkaSeekTo): Promise<KafkaMovedPartition[]> {
    return setKafkaGroupOffsets(this.admin, group, topic, to);
  }

  async topicExists(name: string): Promise<boolean> {
    validateTopicName(name);
    return (await this.listTopics()).includes(name);
  }

  /** Kafka commits "next to read"; the contract speaks "last settled" (one less). */
  async groupPositions(topic: string, group: string): Promise<GroupPosition[]> {
    const offsets = await this.partitionOffsets(topic);
    let committed: Map<number, string | undefined>;
    try {
      committed = await this.admin.committedOffsets(group, topic);
    } catch (err) {
      throw toKafkaBrookError(err, `read the committed offsets of group "${group}" on topic "${topic}"`);
    }
    const positions = offsets.map(({ partition }) => {
      const next = committed.get(Number(partition));
      return { partition, committed: next === undefined || BigInt(next) <= 0n ? undefined : (BigInt(next) - 1n).toString() };
    });
    return positions.some((p) => p.committed !== undefined) ? positions : [];
  }

  async copyGroupPositions(topic: string, from: string, to: string): Promise<GroupPosition[]> {
    validateTopicName(topic);
    checkGroupCopy(from, to);
    if (!(await this.topicExists(topic))) throw notFound(topic);
    let committed: Map<number, string | undefined>;
    try {
      committed = await this.admin.committedOffsets(from, topic);
    } catch (err) {
      throw toKafkaBrookError(err, `read the committed offsets of group "${from}" on topic "${topic}"`);
    }
    const offsets = new Map<number, string>();
    for (const [partition, next] of committed) if (next !== undefined) offsets.set(partition, next);
    if (offsets.size === 0) throw new BrookError("INVALID_ARGUMENT", `from: group "${from}" has no position on topic "${topic}" to copy`);
    try {
      await this.admin.setGroupOffsets(to, topic, [...offsets].map(([partition, offset]) => ({ partition, offset })));
    } catch (err) {
      if (/running instances|rebalanc|not empty/i.test((err as Error).message ?? "")) {
        throw new BrookError("INVALID_ARGUMENT", `to: group "${to}" has live members on the Kafka cluster; stop them before copying positions into it`, { cause: err });
      }
      throw toKafkaBrookError(err, `set the committed offsets of group "${to}" on topic "${topic}"`);
    }
    return this.groupPositions(topic, to);
  }

  async partitionOffsets(topic: string): Promise<PartitionOffsets[]> {
    // KafkaJS retries UNKNOWN_TOPIC_OR_PARTITION for seconds; ask first so a missing topic fails fast.
    if (!(await this.topicExists(topic))) throw notFound(topic);
    try {
      const offsets = await this.admin.topicOffsets(topic);
      return offsets.sort((a, b) => a.partition - b.partition).map((o) => ({ partition: String(o.partition), start: o.low, end: o.high }));
    } catch (err) {
      throw toKafkaBrookError(err, `read the offsets of topic "${topic}"`);
    }
  }
}

export function notFound(topic: string, cause?: unknown): BrookError {
  return new BrookError("TOPIC_NOT_FOUND", `topic "${topic}" does not exist on the Kafka cluster`, cause === undefined ? {} : { cause });
}
