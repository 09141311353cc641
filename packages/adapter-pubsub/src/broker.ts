import { BrookError, type Capabilities, type Logger, type PublisherOptions, type SubscribeOptions, type Subscription } from "@brook/core";
import { BrokerSkeleton, ManagedSubscription, invalidArgument, type ResolvedSubscribeOptions } from "@brook/core/spi";
// @google-cloud/pubsub is pinned to 6.3.0 exactly: 6.3.2 does not install (it needs
// @google-cloud/pubsub-api@^0.7.0, which the registry does not serve). 6.x declares
// engines node>=22 but works on Node 20 (the repo's .npmrc has engine-strict=false).
import { PubSub, type ClientConfig } from "@google-cloud/pubsub";
import { PubSubAdmin, checkTopicName, toDuration } from "./admin.js";
import { pubsubCapabilities } from "./capabilities.js";
import { GrpcStatus, grpcCodeOf, toPubSubError } from "./errors.js";
import {
  DEFAULT_DEAD_LETTER_TOPIC,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_SUBSCRIPTION_NAME,
  DEFAULT_SUBSCRIPTION_RETENTION_MS,
  checkResourceId,
  fillTemplate,
  type PubSubBrokerOptions,
} from "./options.js";
import { PubSubPublishTransport, PubSubPublisherImpl, type PubsubMessageProto, type PubSubPublisher, type PublishRpc } from "./publisher.js";
import { PubSubSubscriptionSource } from "./subscriber.js";

/** Pub/Sub's bounds for deadLetterPolicy.maxDeliveryAttempts and retryPolicy backoffs. */
const MIN_DELIVERY_ATTEMPTS = 5;
const MAX_DELIVERY_ATTEMPTS = 100;
const MAX_BACKOFF_MS = 600_000;
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
 * acknowledged messages (for seek) and, with deadLetter "native", a dead-letter policy.
 */
export class PubSubBroker extends BrokerSkeleton<PubSubAdmin, PubSubPublishTransport, PubSubSubscriptionSource> {
  readonly capabilities: Capabilities;
  private readonly pubsub: PubSub;
  private publisherStub: Promise<PublisherStub> | undefined;
  private readonly requestTimeoutMs: number;

  constructor(
    url: string,
    private readonly options: PubSubBrokerOptions,
    logger?: Logger,
  ) {
    const pubsub = new PubSub(clientConfig(options));
    const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    super(url, new PubSubAdmin(pubsub, requestTimeoutMs), logger);
    this.pubsub = pubsub;
    this.requestTimeoutMs = requestTimeoutMs;
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
    await this.ensureSubscription(topic, subscription, resolved, ordered, startFrom);
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

  /**
   * Creates the group's subscription when it is missing, with retained acknowledged messages
   * (so seek can replay), message ordering (unless the broker's messageOrdering is false) and,
   * for deadLetter "native", a dead-letter and retry policy. An existing one is checked (same
   * topic; message ordering when the group needs order) and gets a dead-letter policy added
   * when "native" asks for one it lacks. startFrom applies to a new subscription only.
   */
  private async ensureSubscription<T>(
    topic: string,
    subscription: string,
    options: ResolvedSubscribeOptions<T>,
    ordered: boolean,
    startFrom: "earliest" | "latest" | { time: Date },
  ): Promise<void> {
    const handle = this.pubsub.subscription(subscription);
    const topicPath = this.pubsub.topic(topic).name;
    const native = options.deadLetter.kind === "native" ? await this.deadLetterPolicy(topic, subscription, options) : undefined;
    let existing:
      | { topic?: string | null; enableMessageOrdering?: boolean | null; deadLetterPolicy?: { deadLetterTopic?: string | null } | null }
      | undefined;
    try {
      [existing] = await handle.getMetadata({ timeout: this.requestTimeoutMs });
    } catch (err) {
      if (grpcCodeOf(err) !== GrpcStatus.NOT_FOUND) throw toPubSubError(err, `look up subscription "${subscription}"`);
    }
    if (existing !== undefined) {
      if (existing.topic === "_deleted-topic_") {
        throw invalidArgument(
          "group",
          `a group with a live subscription: "${subscription}" was detached when its topic was deleted and receives nothing from a new "${topic}" (admin.deleteSubscription("${subscription}") and subscribe again, or use another group)`,
          options.group,
        );
      }
      if (existing.topic !== topicPath) {
        throw invalidArgument("group", `a group whose subscription "${subscription}" belongs to topic "${topic}"`, `one of ${String(existing.topic)}`);
      }
      if (ordered && options.ordering !== "none" && existing.enableMessageOrdering !== true) {
        // Message ordering is fixed when a subscription is created; without it Pub/Sub does
        // not deliver a key's messages in order, so core could not keep them in order either.
        throw invalidArgument(
          "ordering",
          `"none" for group "${options.group}": its subscription "${subscription}" was created without message ordering (use another group for ordered delivery)`,
          options.ordering,
        );
      }
      if (native !== undefined && existing.deadLetterPolicy?.deadLetterTopic !== native.deadLetterPolicy.deadLetterTopic) {
        try {
          await handle.setMetadata(native, { timeout: this.requestTimeoutMs });
        } catch (err) {
          throw toPubSubError(err, `add a dead-letter policy to subscription "${subscription}"`);
        }
      }
      return;
    }
    const retentionMs = this.options.subscriptionRetentionMs ?? DEFAULT_SUBSCRIPTION_RETENTION_MS;
    try {
      await this.pubsub.topic(topic).createSubscription(subscription, {
        enableMessageOrdering: ordered,
        retainAckedMessages: true,
        messageRetentionDuration: toDuration(retentionMs),
        ...(this.options.exactlyOnceDelivery === true ? { enableExactlyOnceDelivery: true } : {}),
        ...(native ?? {}),
        gaxOpts: { timeout: this.requestTimeoutMs },
      });
    } catch (err) {
      // Another member of the group created it first: that is the group's subscription.
      if (grpcCodeOf(err) === GrpcStatus.ALREADY_EXISTS) return;
      if (grpcCodeOf(err) === GrpcStatus.NOT_FOUND) {
        throw new BrookError("TOPIC_NOT_FOUND", `topic "${topic}" does not exist (create subscription "${subscription}")`, { cause: err });
      }
      throw toPubSubError(err, `create subscription "${subscription}" on topic "${topic}"`);
    }
    await this.applyStartFrom(topic, subscription, startFrom);
  }

  /**
   * A new subscription receives what is published after its creation ("latest"). "earliest"
   * and { time } reach further back only on a topic with message retention (admin.createTopic
   * with retentionMs): the subscription is then moved back with a seek.
   */
  private async applyStartFrom(topic: string, subscription: string, startFrom: "earliest" | "latest" | { time: Date }): Promise<void> {
    if (startFrom === "latest") return;
    let target: Date | undefined;
    if (startFrom === "earliest") {
      const retentionMs = (await this.admin.describeTopic(topic)).retentionMs;
      if (retentionMs !== undefined) target = new Date(Date.now() - retentionMs);
    } else {
      target = startFrom.time;
    }
    if (target === undefined) return;
    try {
      await this.pubsub.subscription(subscription).seek(target, { timeout: this.requestTimeoutMs });
    } catch (err) {
      // Leave no half-made group behind: the next subscribe would skip startFrom.
      await this.pubsub.subscription(subscription).delete().catch(() => undefined);
      const error = toPubSubError(err, `startFrom: seek of new subscription "${subscription}" to ${target.toISOString()}`);
      if (error.code === "UNSUPPORTED") {
        throw new BrookError(
          "UNSUPPORTED",
          `${error.message} (the Pub/Sub emulator does not implement seek to a time on subscriptions with message ordering)`,
          { cause: err },
        );
      }
      throw error;
    }
  }

  private async deadLetterPolicy<T>(
    topic: string,
    subscription: string,
    options: ResolvedSubscribeOptions<T>,
  ): Promise<{ deadLetterPolicy: { deadLetterTopic: string; maxDeliveryAttempts: number }; retryPolicy?: Record<string, unknown> }> {
    const retry = options.retry;
    if (retry.maxAttempts < MIN_DELIVERY_ATTEMPTS || retry.maxAttempts > MAX_DELIVERY_ATTEMPTS) {
      throw invalidArgument(
        "retry.maxAttempts",
        `${MIN_DELIVERY_ATTEMPTS} to ${MAX_DELIVERY_ATTEMPTS} with deadLetter "native" (Pub/Sub's maxDeliveryAttempts bounds)`,
        retry.maxAttempts,
      );
    }
    const dlq = checkResourceId(
      fillTemplate(this.options.deadLetterTopic ?? DEFAULT_DEAD_LETTER_TOPIC, { topic, group: options.group, subscription }),
      "deadLetterTopic",
      "topic",
    );
    await this.admin.createTopic(dlq, { ifNotExists: true });
    const deadLetterPolicy = { deadLetterTopic: this.pubsub.topic(dlq).name, maxDeliveryAttempts: retry.maxAttempts };
    if (this.options.retryPolicy === false) return { deadLetterPolicy };
    return {
      deadLetterPolicy,
      // Pub/Sub's own backoff between redeliveries after a nack (it has no per-message delay).
      retryPolicy: {
        minimumBackoff: toDuration(Math.min(retry.minDelayMs, MAX_BACKOFF_MS)),
        maximumBackoff: toDuration(Math.min(retry.maxDelayMs, MAX_BACKOFF_MS)),
      },
    };
  }

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
