import { BrookError, type Admin, type GroupPosition, type PartitionOffsets, type TopicDescription, type TopicOptions } from "@brook/core";
import { invalidArgument, validateTopicName } from "@brook/core/spi";
import type { DriverAdmin } from "./driver.js";
import { kafkaErrorType, toKafkaBrookError } from "./errors.js";

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
