import { BrookError, defaultLogger, type Capabilities, type Logger, type PublisherOptions, type SubscribeOptions, type Subscription } from "@brook/core";
import { BrokerSkeleton, ManagedSubscription, invalidArgument, type ResolvedSubscribeOptions } from "@brook/core/spi";
// @google-cloud/pubsub is pinned to 6.3.0 exactly: 6.3.2 does not install (it needs
// @google-cloud/pubsub-api@^0.7.0, which the registry does not serve). 6.x declares
// engines node>=22 but works on Node 20 (the repo's .npmrc has engine-strict=false).
import { PubSub, type ClientConfig } from "@google-cloud/pubsub";
import { PubSubAdmin, checkTopicName } from "./admin.js";
import { pubsubCapabilities } from "./capabilities.js";
import {
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_SUBSCRIPTION_NAME,
  DEFAULT_TOPIC_RETENTION_MS,
  checkResourceId,
  fillTemplate,
  type PubSubBrokerOptions,
} from "./options.js";
import { PubSubPublishTransport, PubSubPublisherImpl, type PubsubMessageProto, type PubSubPublisher, type PublishRpc } from "./publisher.js";
import { SubscriptionProvisioner } from "./provisioning.js";
import { PubSubSubscriptionSource } from "./subscriber.js";

const DEFAULT_MAX_STREAMS = 5;
const DEFAULT_BUFFERED_MESSAGES = 1_000;

/** A Brook subscription on Pub/Sub, with snapshots as an adapter extra. */
export interface PubSubSubscription extends Subscription {
  /** the Pub/Sub subscription id this group uses */
  readonly subscriptionName: string;
  /** Saves the subscription's acknowledgement state as a snapshot (Pub/Sub CreateSnapshot). */
  createSnapshot(snapshot: string): Promise<void>;
  /** Moves the subscription to a snapshot; messages in flight from before are not acked. */
  seekToSnapshot(snapshot: string): Promise<void>;
}

/** Core's subscription with Pub/Sub's snapshot extras, typed on the broker. */
class PubSubManagedSubscription<T> extends ManagedSubscription<T, PubSubSubscriptionSource> implements PubSubSubscription {
  get subscriptionName(): string {
    return this.source.subscriptionName;
  }

  createSnapshot(snapshot: string): Promise<void> {
    return this.source.createSnapshot(checkResourceId(snapshot, "snapshot", "subscription"));
  }

  seekToSnapshot(snapshot: string): Promise<void> {
    return this.source.seekToSnapshot(checkResourceId(snapshot, "snapshot", "subscription"));
  }
}

/** The Publish RPC of the generated client (google.pubsub.v1.Publisher/Publish). */
interface PublisherStub {
  publish(
    request: { topic: string; messages: PubsubMessageProto[] },
    options: { isBundling: false; retry: null; timeout: number },
  ): Promise<[{ messageIds?: string[] | null }, ...unknown[]]>;
}

/**
 * Brook on Google Cloud Pub/Sub. Topics are topics; a group is a subscription named
 * `<topic>.<group>` (configurable), created on first subscribe with message ordering, retained
 * acknowledged messages (for seek) and, with deadLetter "native", a dead-letter policy (see
 * provisioning.ts). Topics it creates get message retention, so new groups can reach back.
 */
export class PubSubBroker extends BrokerSkeleton<PubSubAdmin, PubSubPublishTransport, PubSubSubscriptionSource> {
  readonly capabilities: Capabilities;
  protected override readonly messagingSystem = "gcp_pubsub";
  private readonly pubsub: PubSub;
  private publisherStub: Promise<PublisherStub> | undefined;
  private readonly requestTimeoutMs: number;
  private readonly provisioning: SubscriptionProvisioner;

  constructor(
    url: string,
    private readonly options: PubSubBrokerOptions,
    logger?: Logger,
  ) {
    const pubsub = new PubSub(clientConfig(options));
    const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    super(
      url,
      new PubSubAdmin(pubsub, requestTimeoutMs, options.topicRetentionMs ?? DEFAULT_TOPIC_RETENTION_MS, logger ?? defaultLogger, options.subscriptionName ?? DEFAULT_SUBSCRIPTION_NAME),
      logger,
    );
    this.pubsub = pubsub;
    this.requestTimeoutMs = requestTimeoutMs;
    this.provisioning = new SubscriptionProvisioner({ pubsub, admin: this.admin, options, logger: this.logger, requestTimeoutMs });
    this.capabilities = pubsubCapabilities({ emulator: options.emulatorHost !== undefined, messageOrdering: options.messageOrdering !== false });
  }

  override publisher<T = unknown>(topic: string, options: PublisherOptions<T> = {}): PubSubPublisher<T> {
    return this.buildPublisher(topic, options, (transport, opts, onClose) => new PubSubPublisherImpl<T>(transport, opts, onClose));
  }

  override subscribe<T = unknown>(topic: string, options: SubscribeOptions<T>): Promise<PubSubSubscription> {
    return this.buildSubscription(topic, options, (init) => new PubSubManagedSubscription<T>(init));
  }

  protected override checkTopicName(topic: string, field = "topic"): void {
    checkTopicName(topic, field);
  }

  protected openTransport(topic: string): PubSubPublishTransport {
    return new PubSubPublishTransport(topic, this.pubsub.topic(topic).name, this.publishRpc);
  }

  protected async openSource<T>(topic: string, resolved: ResolvedSubscribeOptions<T>): Promise<PubSubSubscriptionSource> {
    const subscription = checkResourceId(
      fillTemplate(this.options.subscriptionName ?? DEFAULT_SUBSCRIPTION_NAME, { topic, group: resolved.group }),
      "group (as a Pub/Sub subscription id)",
      "subscription",
    );
    const startFrom = resolved.startFrom;
    if (typeof startFrom === "object" && "positions" in startFrom) {
      throw new BrookError("UNSUPPORTED", "startFrom { positions } is not supported on Pub/Sub (no offsets); use \"earliest\", \"latest\" or { time }");
    }
    const ordered = this.options.messageOrdering !== false;
    if (!ordered && resolved.ordering !== "none") {
      throw invalidArgument(
        "ordering",
        `"none" on a broker with messageOrdering=false (its subscriptions deliver without per-key order)`,
        resolved.ordering,
      );
    }
    await this.provisioning.ensureSubscription(topic, subscription, resolved, ordered, startFrom);
    return new PubSubSubscriptionSource({
      pubsub: this.pubsub,
      topic,
      subscription,
      maxBufferedMessages: Math.max(this.options.maxBufferedMessages ?? DEFAULT_BUFFERED_MESSAGES, resolved.maxInFlight),
      maxStreams: this.options.maxStreams ?? DEFAULT_MAX_STREAMS,
      exactlyOnceDelivery: this.options.exactlyOnceDelivery === true,
      requestTimeoutMs: this.requestTimeoutMs,
    });
  }

  protected async closeConnection(): Promise<void> {
    await this.pubsub.close().catch(() => undefined);
  }

  // ---- internals ----

  /** One Publish RPC per call: core already batched, so the client's own batching is off. */
  private readonly publishRpc: PublishRpc = async (topicPath, messages) => {
    this.publisherStub ??= new Promise<PublisherStub>((resolve, reject) => {
      this.pubsub.getClient_({ client: "PublisherClient" }, (err, client) => {
        if (err !== null && err !== undefined) reject(err);
        else resolve(client as unknown as PublisherStub);
      });
    });
    this.publisherStub.catch(() => (this.publisherStub = undefined));
    const stub = await this.publisherStub;
    // Retries are core's (per entry, transient errors only); the client's would hide them.
    const [response] = await stub.publish({ topic: topicPath, messages }, { isBundling: false, retry: null, timeout: this.requestTimeoutMs });
    return response.messageIds ?? [];
  };
}

/** Plain-text gRPC to the emulator, or the service (or another endpoint). */
function clientConfig(options: PubSubBrokerOptions): ClientConfig {
  const config: ClientConfig = { projectId: options.projectId };
  if (options.emulatorHost !== undefined) {
    // No request is signed. Naming the universe domain keeps the auth library from looking for
    // Application Default Credentials to learn it, which probes the GCE metadata server (the
    // effect of METADATA_SERVER_DETECTION=none, without changing the whole process's env).
    config.apiEndpoint = options.emulatorHost;
    config.emulatorMode = true;
    config.universeDomain = "googleapis.com";
  } else if (options.apiEndpoint !== undefined) {
    config.apiEndpoint = options.apiEndpoint;
  }
  return config;
}
