import { BrookError, type Admin, type GroupPosition, type PartitionOffsets, type TopicDescription, type TopicOptions } from "@brook/core";
import { checkGroupCopy, validateTopicName } from "@brook/core/spi";
import type { EngineApi } from "./engine-api.js";

/**
 * The admin of one LocalBroker. It answers CLOSED once its broker is closed, also while the
 * engine lives on for other brokers of the process that share it (memory:<name>, local:).
 */
export class LocalAdmin implements Admin {
  private broker: { readonly isClosed: boolean; readonly url: string } | undefined;

  constructor(private readonly api: EngineApi) {}

  /** Ties the admin to its broker's lifetime (called once, by LocalBroker's constructor). */
  attach(broker: { readonly isClosed: boolean; readonly url: string }): void {
    this.broker = broker;
  }

  private ensureOpen(): void {
    if (this.broker?.isClosed === true) throw new BrookError("CLOSED", `broker ${this.broker.url} is closed`);
  }

  async createTopic(name: string, options: TopicOptions & { ifNotExists?: boolean } = {}): Promise<void> {
    this.ensureOpen();
    validateTopicName(name);
    const { ifNotExists, ...config } = options;
    await this.api.createTopic(name, config, ifNotExists ?? false);
  }

  async deleteTopic(name: string): Promise<void> {
    this.ensureOpen();
    validateTopicName(name);
    await this.api.deleteTopic(name);
  }

  async describeTopic(name: string): Promise<TopicDescription> {
    this.ensureOpen();
    validateTopicName(name);
    const d = await this.api.describeTopic(name);
    return { name, partitions: d.config.partitions, retentionMs: d.config.retentionMs };
  }

  async listTopics(): Promise<string[]> {
    this.ensureOpen();
    return this.api.listTopics();
  }

  async topicExists(name: string): Promise<boolean> {
    this.ensureOpen();
    validateTopicName(name);
    return (await this.api.listTopics()).includes(name);
  }

  /** The engine stores "next to read"; the contract speaks "last settled" (one less). */
  async groupPositions(topic: string, group: string): Promise<GroupPosition[]> {
    validateTopicName(topic);
    const { partitions } = await this.api.describeTopic(topic);
    const committed = await this.api.committed(group, topic);
    if (committed.size === 0) return [];
    return partitions.map(({ partition }) => {
      const next = committed.get(partition);
      return { partition: String(partition), committed: next === undefined || next === 0 ? undefined : String(next - 1) };
    });
  }

  async copyGroupPositions(topic: string, from: string, to: string): Promise<GroupPosition[]> {
    validateTopicName(topic);
    checkGroupCopy(from, to);
    await this.api.describeTopic(topic); // TOPIC_NOT_FOUND first
    const committed = await this.api.committed(from, topic);
    if (committed.size === 0) throw new BrookError("INVALID_ARGUMENT", `from: group "${from}" has no position on topic "${topic}" to copy`);
    // The engine refuses an operator's commit while `to` has members (INVALID_ARGUMENT).
    await this.api.commit(to, topic, committed);
    return this.groupPositions(topic, to);
  }

  async partitionOffsets(topic: string): Promise<PartitionOffsets[]> {
    validateTopicName(topic);
    const { partitions } = await this.api.describeTopic(topic);
    return partitions.map((p) => ({ partition: String(p.partition), start: String(p.start), end: String(p.end) }));
  }
}
