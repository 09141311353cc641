import type { Capabilities, Logger } from "@brook/core";
import { BOUNDS, BrokerSkeleton, type ResolvedSubscribeOptions } from "@brook/core/spi";
import { KafkaAdmin } from "./admin.js";
import { kafkaCapabilities, kafkaLimits } from "./capabilities.js";
import type { DriverAdmin, KafkaDriver } from "./driver.js";
import type { ResolvedKafkaOptions } from "./options.js";
import { KafkaPublishTransport, javaCompatiblePartitioner } from "./publisher.js";
import { KafkaSubscriptionSource } from "./subscriber.js";

/**
 * A Brook broker over a Kafka cluster: one producer per publisher, one consumer-group member
 * per subscription, one admin client. Core's skeleton does the rest.
 */
export class KafkaBroker extends BrokerSkeleton<KafkaAdmin, KafkaPublishTransport, KafkaSubscriptionSource> {
  readonly capabilities: Capabilities;
  protected override readonly messagingSystem = "kafka";

  constructor(
    url: string,
    private readonly driver: KafkaDriver,
    private readonly driverAdmin: DriverAdmin,
    private readonly options: ResolvedKafkaOptions,
    /** the brokers' message.max.bytes */
    private readonly messageMaxBytes: number,
    logger?: Logger,
  ) {
    super(url, new KafkaAdmin(driverAdmin), logger);
    this.capabilities = kafkaCapabilities(messageMaxBytes);
  }

  protected openTransport(topic: string): KafkaPublishTransport {
    const producer = this.driver.producer({
      idempotent: this.options.idempotent,
      compression: this.options.compression,
      partitioner: javaCompatiblePartitioner(),
    });
    return new KafkaPublishTransport(topic, producer, this.admin, kafkaLimits(this.messageMaxBytes), this.messageMaxBytes);
  }

  protected async openSource<T>(topic: string, options: ResolvedSubscribeOptions<T>): Promise<KafkaSubscriptionSource> {
    const consumer = this.driver.consumer({
      group: options.group,
      fromBeginning: options.startFrom === "earliest",
      sessionTimeoutMs: this.options.sessionTimeoutMs,
      rebalanceTimeoutMs: this.options.rebalanceTimeoutMs,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs,
      maxWaitTimeMs: this.options.maxWaitTimeMs,
    });
    return new KafkaSubscriptionSource(consumer, this.driverAdmin, {
      topic,
      group: options.group,
      startFrom: options.startFrom,
      onOutOfRange: options.onOutOfRange,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs,
      unavailableAfterMs: this.options.unavailableAfterMs,
      rebalanceTimeoutMs: this.options.rebalanceTimeoutMs,
      brokers: this.options.brokers,
      firstAssignmentTimeoutMs: BOUNDS.firstAssignmentMs,
      logger: this.logger,
    });
  }

  protected async closeConnection(): Promise<void> {
    await this.driverAdmin.close().catch(() => undefined);
  }
}
