import { BrookError, type Capabilities, type Logger } from "@brook/core";
import { BOUNDS, BrokerSkeleton, type ResolvedSubscribeOptions } from "@brook/core/spi";
import { EventHubConsumerClient, EventHubProducerClient, type CheckpointStore } from "@azure/event-hubs";
import { EventHubsAdmin, checkHubName, notFound } from "./admin.js";
import { eventHubsCapabilities, eventHubsLimits } from "./capabilities.js";
import { eventHubsErrorCode, toEventHubsBrookError } from "./errors.js";
import type { ResolvedEventHubsOptions } from "./options.js";
import { EventHubsPublishTransport } from "./publisher.js";
import { EventHubsSubscriptionSource } from "./subscriber.js";

/**
 * A Brook broker over one Event Hubs namespace: a topic is an event hub. One producer client per
 * hub (shared by its publishers and the admin), one consumer client (a group member) per
 * subscription, checkpoints and ownership in the configured checkpoint store.
 */
export class EventHubsBroker extends BrokerSkeleton<EventHubsAdmin, EventHubsPublishTransport, EventHubsSubscriptionSource> {
  readonly capabilities: Capabilities;
  private readonly producers = new Map<string, EventHubProducerClient>();

  constructor(
    url: string,
    private readonly options: ResolvedEventHubsOptions,
    private readonly checkpointStore: CheckpointStore | undefined,
    logger?: Logger,
  ) {
    const clients = (hub: string): EventHubProducerClient => this.clientFor(hub);
    super(url, new EventHubsAdmin(clients, options.hubManager, options.hub, (name) => this.checkTopicName(name)), logger);
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

  protected openTransport(topic: string): EventHubsPublishTransport {
    return new EventHubsPublishTransport(topic, this.clientFor(topic), eventHubsLimits(this.options.maxMessageBytes), this.logger);
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
