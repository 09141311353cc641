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
import { BrokerResources, CorePublisher, validateSubscribeOptions, validateTopicName } from "@brook/core/spi";
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
  private readonly resources: BrokerResources;

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
    this.resources = new BrokerResources(url);
  }

  publisher<T = unknown>(topic: string, options: PublisherOptions<T> = {}): Publisher<T> {
    this.resources.ensureOpen();
    validateTopicName(topic);
    const producer = this.driver.producer({
      idempotent: this.options.idempotent,
      compression: this.options.compression,
      partitioner: javaCompatiblePartitioner(),
    });
    const transport = new KafkaPublishTransport(topic, producer, this.admin, kafkaLimits(this.messageMaxBytes), this.messageMaxBytes);
    return this.resources.trackPublisher((onClose) => new CorePublisher<T>(transport, options, { onClose }));
  }

  async subscribe<T = unknown>(topic: string, options: SubscribeOptions<T>): Promise<Subscription> {
    this.resources.ensureOpen();
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
    return this.resources.startSubscription<T>(source, options, {
      topic,
      logger: this.logger,
      nativeDeadLetter: false,
      openPublisher: (dlq) => this.publisher<Uint8Array>(dlq, { codec: bytesCodec() }),
    });
  }

  async close(): Promise<void> {
    if (!(await this.resources.closeAll())) return;
    await this.driverAdmin.close().catch(() => undefined);
  }
}
