import {
  BrookError,
  bytesCodec,
  defaultLogger,
  type Broker,
  type Capabilities,
  type Logger,
  type Publisher,
  type PublisherOptions,
  type SubscribeOptions,
  type Subscription,
} from "@brook/core";
import { BrokerResources, CorePublisher, validateTopicName } from "@brook/core/spi";
import { LocalAdmin } from "./admin.js";
import { localCapabilities } from "./capabilities.js";
import type { EngineApi } from "./engine-api.js";
import { LocalPublishTransport } from "./publisher.js";
import { LocalSubscriptionSource } from "./subscriber.js";

/**
 * A Brook broker over the local log engine: `memory:`, `local:./dir` (in-process) and
 * `brook://host:port` (a `brook serve` process) all use this class with a different EngineApi.
 */
export class LocalBroker implements Broker {
  readonly capabilities: Capabilities;
  readonly admin: LocalAdmin;
  private readonly resources: BrokerResources;

  constructor(
    readonly url: string,
    private readonly api: EngineApi,
    private readonly logger: Logger = defaultLogger,
    private readonly onClose: () => Promise<void> = async () => undefined,
  ) {
    this.capabilities = localCapabilities(api.maxMessageBytes);
    this.admin = new LocalAdmin(api);
    this.resources = new BrokerResources(url);
  }

  publisher<T = unknown>(topic: string, options: PublisherOptions<T> = {}): Publisher<T> {
    this.resources.ensureOpen();
    validateTopicName(topic);
    const transport = new LocalPublishTransport(topic, this.api, {
      maxMessageBytes: this.capabilities.maxMessageBytes,
      maxBatchCount: this.capabilities.maxBatchCount,
      maxBatchBytes: this.capabilities.maxBatchBytes,
    });
    return this.resources.trackPublisher((onClose) => new CorePublisher<T>(transport, options, { onClose }));
  }

  async subscribe<T = unknown>(topic: string, options: SubscribeOptions<T>): Promise<Subscription> {
    this.resources.ensureOpen();
    validateTopicName(topic);
    if (!(await this.api.listTopics()).includes(topic)) {
      if (options?.createIfMissing !== true) throw new BrookError("TOPIC_NOT_FOUND", `topic "${topic}" does not exist (pass createIfMissing: true to create it)`);
      await this.api.createTopic(topic, {}, true);
    }
    const source = new LocalSubscriptionSource(this.api, topic, options?.group, options?.startFrom ?? "latest");
    return this.resources.startSubscription<T>(source, options, {
      topic,
      logger: this.logger,
      nativeDeadLetter: false,
      openPublisher: (dlq) => this.publisher<Uint8Array>(dlq, { codec: bytesCodec() }),
    });
  }

  async close(): Promise<void> {
    if (!(await this.resources.closeAll())) return;
    await this.api.close();
    await this.onClose();
  }
}
