import {
  BrookError,
  CorePublisher,
  ManagedSubscription,
  bytesCodec,
  defaultLogger,
  validateTopicName,
  type Broker,
  type Capabilities,
  type Logger,
  type Publisher,
  type PublisherOptions,
  type SubscribeOptions,
  type Subscription,
} from "@brook/core";
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
  private readonly publishers = new Set<Publisher<unknown>>();
  private readonly subscriptions = new Set<Subscription>();
  private closed = false;

  constructor(
    readonly url: string,
    private readonly api: EngineApi,
    private readonly logger: Logger = defaultLogger,
    private readonly onClose: () => Promise<void> = async () => undefined,
  ) {
    this.capabilities = localCapabilities(api.maxMessageBytes);
    this.admin = new LocalAdmin(api);
  }

  publisher<T = unknown>(topic: string, options: PublisherOptions<T> = {}): Publisher<T> {
    this.ensureOpen();
    validateTopicName(topic);
    const transport = new LocalPublishTransport(topic, this.api, {
      maxMessageBytes: this.capabilities.maxMessageBytes,
      maxBatchCount: this.capabilities.maxBatchCount,
      maxBatchBytes: this.capabilities.maxBatchBytes,
    });
    const publisher: Publisher<T> = new CorePublisher<T>(transport, options, {
      onClose: () => this.publishers.delete(publisher as Publisher<unknown>),
    });
    this.publishers.add(publisher as Publisher<unknown>);
    return publisher;
  }

  async subscribe<T = unknown>(topic: string, options: SubscribeOptions<T>): Promise<Subscription> {
    this.ensureOpen();
    validateTopicName(topic);
    if (!(await this.api.listTopics()).includes(topic)) {
      if (options?.createIfMissing !== true) throw new BrookError("TOPIC_NOT_FOUND", `topic "${topic}" does not exist (pass createIfMissing: true to create it)`);
      await this.api.createTopic(topic, {}, true);
    }
    const source = new LocalSubscriptionSource(this.api, topic, options?.group, options?.startFrom ?? "latest");
    const subscription = await ManagedSubscription.start<T>(source, options, {
      topic,
      logger: this.logger,
      nativeDeadLetter: false,
      openPublisher: (dlq) => this.publisher<Uint8Array>(dlq, { codec: bytesCodec() }),
    });
    this.subscriptions.add(subscription);
    const close = subscription.close.bind(subscription);
    subscription.close = async (opts) => {
      this.subscriptions.delete(subscription);
      await close(opts);
    };
    return subscription;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.subscriptions].map((s) => s.close({ drain: true, timeoutMs: 5_000 })));
    await Promise.allSettled([...this.publishers].map((p) => p.close()));
    await this.api.close();
    await this.onClose();
  }

  private ensureOpen(): void {
    if (this.closed) throw new BrookError("CLOSED", `broker ${this.url} is closed`);
  }
}
