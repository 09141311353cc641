import { BrookError, type Capabilities, type Logger, type Publisher, type PublisherOptions } from "@brook/core";
import { BOUNDS, BrokerSkeleton, invalidArgument, type ResolvedSubscribeOptions } from "@brook/core/spi";
import { EventHubConsumerClient, EventHubProducerClient, type CheckpointStore } from "@azure/event-hubs";
import { EventHubsAdmin, checkHubName, notFound } from "./admin.js";
import { eventHubsCapabilities, eventHubsLimits } from "./capabilities.js";
import { eventHubsErrorCode, toEventHubsBrookError } from "./errors.js";
import type { ResolvedEventHubsOptions } from "./options.js";
import { EventHubsPublishTransport } from "./publisher.js";
import { EventHubsSubscriptionSource } from "./subscriber.js";

/** Publisher options of Event Hubs: Brook's, plus a fixed partition. */
export interface EventHubsPublisherOptions<T> extends PublisherOptions<T> {
  /** Sends every event of this publisher to this partition (keys still travel as partition keys). */
  partitionId?: string;
}

/**
 * A Brook broker over one Event Hubs namespace: a topic is an event hub. One producer client per
 * hub (shared by its publishers and the admin), one consumer client (a group member) per
 * subscription, checkpoints and ownership in the configured checkpoint store.
 */
export class EventHubsBroker extends BrokerSkeleton<EventHubsAdmin, EventHubsPublishTransport, EventHubsSubscriptionSource> {
  readonly capabilities: Capabilities;
  /** OpenTelemetry `messaging.system` of Azure Event Hubs (semantic conventions) */
  protected override readonly messagingSystem = "eventhubs";
  private readonly producers = new Map<string, EventHubProducerClient>();
  /** the partitionId of the publisher() call in progress, for openTransport (same tick) */
  private nextPartitionId: string | undefined;

  constructor(
    url: string,
    private readonly options: ResolvedEventHubsOptions,
    private readonly checkpointStore: CheckpointStore | undefined,
    logger?: Logger,
  ) {
    const clients = (hub: string): EventHubProducerClient => this.clientFor(hub);
    super(url, new EventHubsAdmin(clients, options.hubManager, options.hub, (name) => this.checkTopicName(name), () => this.checkpointStore), logger);
    this.capabilities = eventHubsCapabilities(options.maxMessageBytes);
  }

  /** The namespace host, e.g. "myns.servicebus.windows.net". */
  get fullyQualifiedNamespace(): string {
    return this.options.fullyQualifiedNamespace;
  }

  protected override checkTopicName(topic: string, field = "topic"): void {
    checkHubName(topic, field);
    const bound = this.options.hub;
    if (bound !== undefined && topic !== bound) {
      throw new BrookError("INVALID_ARGUMENT", `${field}: this broker is bound to event hub "${bound}" (the URL's path or the connection string's EntityPath), got "${topic}"`);
    }
  }

  /** A publisher of `topic`; with `partitionId`, every event goes to that partition. */
  override publisher<T = unknown>(topic: string, options: EventHubsPublisherOptions<T> = {}): Publisher<T> {
    const { partitionId, ...rest } = options;
    if (partitionId !== undefined && (typeof partitionId !== "string" || !/^\d+$/.test(partitionId))) {
      throw invalidArgument("partitionId", "a partition id (a non-negative integer string)", partitionId);
    }
    this.nextPartitionId = partitionId;
    try {
      return super.publisher<T>(topic, rest);
    } finally {
      this.nextPartitionId = undefined;
    }
  }

  protected openTransport(topic: string): EventHubsPublishTransport {
    return new EventHubsPublishTransport(topic, this.clientFor(topic), eventHubsLimits(this.options.maxMessageBytes), this.logger, this.nextPartitionId, this.options.publishPositions);
  }

  protected async openSource<T>(topic: string, options: ResolvedSubscribeOptions<T>): Promise<EventHubsSubscriptionSource> {
    const store = this.checkpointStore;
    if (store === undefined) {
      throw new BrookError(
        "INVALID_ARGUMENT",
        'checkpointStore: subscribing needs a checkpoint store for the group\'s checkpoints and partition ownership ("blob" with blobConnectionString and container, "memory", or a CheckpointStore)',
      );
    }
    let partitionIds: string[];
    try {
      partitionIds = await this.clientFor(topic).getPartitionIds();
    } catch (err) {
      if (eventHubsErrorCode(err) === "MessagingEntityNotFoundError") throw notFound(topic, err);
      throw toEventHubsBrookError(err, `subscribe to event hub "${topic}"`);
    }
    const o = this.options;
    const clientOptions = {
      retryOptions: { maxRetries: o.maxRetries, timeoutInMs: o.operationTimeoutMs },
      loadBalancingOptions: { strategy: o.loadBalancing, updateIntervalInMs: o.updateIntervalMs, partitionOwnershipExpirationIntervalInMs: o.ownershipExpirationMs },
    };
    const makeClient = (wrapped: CheckpointStore): EventHubConsumerClient =>
      o.connectionString !== undefined
        ? new EventHubConsumerClient(options.group, o.connectionString, topic, wrapped, clientOptions)
        : new EventHubConsumerClient(options.group, o.fullyQualifiedNamespace, topic, o.credential!, wrapped, clientOptions);
    return new EventHubsSubscriptionSource(store, makeClient, {
      hub: topic,
      group: options.group,
      startFrom: options.startFrom,
      partitionIds,
      receiveBatchSize: o.receiveBatchSize,
      maxWaitTimeMs: o.maxWaitTimeMs,
      partitionPropertiesIntervalMs: o.partitionPropertiesIntervalMs,
      firstAssignmentTimeoutMs: BOUNDS.firstAssignmentMs,
      logger: this.logger,
    });
  }

  protected async closeConnection(): Promise<void> {
    const clients = [...this.producers.values()];
    this.producers.clear();
    await Promise.allSettled(clients.map((c) => c.close()));
  }

  private clientFor(hub: string): EventHubProducerClient {
    let client = this.producers.get(hub);
    if (client === undefined) {
      const o = this.options;
      const clientOptions = { retryOptions: { maxRetries: o.maxRetries, timeoutInMs: o.operationTimeoutMs } };
      client =
        o.connectionString !== undefined
          ? new EventHubProducerClient(o.connectionString, hub, clientOptions)
          : new EventHubProducerClient(o.fullyQualifiedNamespace, hub, o.credential!, clientOptions);
      this.producers.set(hub, client);
    }
    return client;
  }
}
