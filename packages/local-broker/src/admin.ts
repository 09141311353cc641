import { type Admin, type TopicDescription, type TopicOptions } from "@brook/core";
import { validateTopicName } from "@brook/core/spi";
import type { EngineApi } from "./engine-api.js";

export class LocalAdmin implements Admin {
  constructor(private readonly api: EngineApi) {}

  async createTopic(name: string, options: TopicOptions & { ifNotExists?: boolean } = {}): Promise<void> {
    validateTopicName(name);
    const { ifNotExists, ...config } = options;
    await this.api.createTopic(name, config, ifNotExists ?? false);
  }

  async deleteTopic(name: string): Promise<void> {
    validateTopicName(name);
    await this.api.deleteTopic(name);
  }

  async describeTopic(name: string): Promise<TopicDescription> {
    validateTopicName(name);
    const d = await this.api.describeTopic(name);
    return { name, partitions: d.config.partitions, retentionMs: d.config.retentionMs };
  }

  listTopics(): Promise<string[]> {
    return this.api.listTopics();
  }

  async topicExists(name: string): Promise<boolean> {
    validateTopicName(name);
    return (await this.api.listTopics()).includes(name);
  }
}
