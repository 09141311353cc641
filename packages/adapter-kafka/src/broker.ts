import {
  BrookError,
  CorePublisher,
  ManagedSubscription,
  bytesCodec,
  defaultLogger,
  validateSubscribeOptions,
  validateTopicName,
  type Broker,
  type Capabilities,
  type Logger,
  type Publisher,
  type PublisherOptions,
  type SubscribeOptions,
  type Subscription,
} from "@brook/core";
import { KafkaAdmin, notFound } from "./admin.js";
import { kafkaCapabilities, kafkaLimits } from "./capabilities.js";
import type { DriverAdmin, KafkaDriver } from "./driver.js";
import type { ResolvedKafkaOptions } from "./options.js";
import { KafkaPublishTransport, javaCompatiblePartitioner } from "./publisher.js";
import { KafkaSubscriptionSource } from "./subscriber.js";

/** How long subscribe() waits for the member's first partitions before resolving anyway. */
const FIRST_ASSIGNMENT_TIMEOUT_MS = 30_000;

/**
 * A Brook broker over a Kafka cluster. Core does batching, retries, the keyed executor,
 * watermark commits, dead letters and dedupe; this class wires Kafka clients into it: one
 * producer per publisher, one consumer-group member per subscription, one admin client.
 */
export class KafkaBroker implements Broker {
  readonly capabilities: Capabilities;
  readonly admin: KafkaAdmin;
  private readonly publishers = new Set<Publisher<unknown>>();
  private readonly subscriptions = new Set<Subscription>();
  private closed = false;

  constructor(
    readonly url: string,
    private readonly driver: KafkaDriver,
    private readonly driverAdmin: DriverAdmin,
    private readonly options: ResolvedKafkaOptions,
    /** the brokers' message.max.bytes */
    private readonly messageMaxBytes: number,
    private readonly logger: Logger = defaultLogger,
  ) {
    this.capabilities = kafkaCapabilities(messageMaxBytes);
    this.admin = new KafkaAdmin(driverAdmin);
  }

  publisher<T = unknown>(topic: string, options: PublisherOptions<T> = {}): Publisher<T> {
    this.ensureOpen();
    validateTopicName(topic);
    const producer = this.driver.producer({
      idempotent: this.options.idempotent,
      compression: this.options.compression,
      partitioner: javaCompatiblePartitioner(),
    });
    const transport = new KafkaPublishTransport(topic, producer, this.admin, kafkaLimits(this.messageMaxBytes), this.messageMaxBytes);
    const publisher: Publisher<T> = new CorePublisher<T>(transport, options, {
      onClose: () => this.publishers.delete(publisher as Publisher<unknown>),
    });
    this.publishers.add(publisher as Publisher<unknown>);
    return publisher;
  }

  async subscribe<T = unknown>(topic: string, options: SubscribeOptions<T>): Promise<Subscription> {
    this.ensureOpen();
    validateTopicName(topic);
    validateSubscribeOptions(options, false);
    if (!(await this.admin.topicExists(topic))) {
      if (options.createIfMissing !== true) {
        const error = notFound(topic);
        throw new BrookError("TOPIC_NOT_FOUND", `${error.message} (pass createIfMissing: true to create it)`);
      }
      await this.admin.createTopic(topic, { ifNotExists: true });
    }
    const startFrom = options.startFrom ?? "latest";
    const consumer = this.driver.consumer({
      group: options.group,
      fromBeginning: startFrom === "earliest",
      sessionTimeoutMs: this.options.sessionTimeoutMs,
      rebalanceTimeoutMs: this.options.rebalanceTimeoutMs,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs,
      maxWaitTimeMs: this.options.maxWaitTimeMs,
    });
    const source = new KafkaSubscriptionSource(consumer, this.driverAdmin, {
      topic,
      group: options.group,
      startFrom,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs,
      firstAssignmentTimeoutMs: FIRST_ASSIGNMENT_TIMEOUT_MS,
      logger: this.logger,
    });
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
    await this.driverAdmin.close().catch(() => undefined);
  }

  private ensureOpen(): void {
    if (this.closed) throw new BrookError("CLOSED", `broker ${this.url} is closed`);
  }
}
