import { BrookError, type Logger, type SubscribeOptions } from "@brook/core";
import { invalidArgument, resolveRetryPolicy } from "@brook/core/spi";
import type { PubSub } from "@google-cloud/pubsub";
import { toDuration, type PubSubAdmin } from "./admin.js";
import { GrpcStatus, grpcCodeOf, toPubSubError } from "./errors.js";
import {
  DEFAULT_DEAD_LETTER_TOPIC,
  DEFAULT_SUBSCRIPTION_RETENTION_MS,
  checkResourceId,
  fillTemplate,
  type PubSubBrokerOptions,
} from "./options.js";

/** Pub/Sub's bounds for deadLetterPolicy.maxDeliveryAttempts and retryPolicy backoffs. */
const MIN_DELIVERY_ATTEMPTS = 5;
const MAX_DELIVERY_ATTEMPTS = 100;
const MAX_BACKOFF_MS = 600_000;

/** Where a new group starts (a subscribe's startFrom, positions excluded: Pub/Sub has none). */
export type PubSubStartFrom = "earliest" | "latest" | { time: Date };

export interface ProvisioningContext {
  pubsub: PubSub;
  admin: PubSubAdmin;
  options: PubSubBrokerOptions;
  logger: Logger;
  requestTimeoutMs: number;
}

/**
 * Creates what a subscribe needs on Pub/Sub: the topic (createIfMissing), the group's
 * subscription with its start position, and the dead-letter topic and policy of
 * deadLetter "native".
 */
export class SubscriptionProvisioner {
  private readonly pubsub: PubSub;
  private readonly admin: PubSubAdmin;
  private readonly options: PubSubBrokerOptions;
  private readonly logger: Logger;
  private readonly requestTimeoutMs: number;

  constructor(context: ProvisioningContext) {
    this.pubsub = context.pubsub;
    this.admin = context.admin;
    this.options = context.options;
    this.logger = context.logger;
    this.requestTimeoutMs = context.requestTimeoutMs;
  }

  async ensureTopic(topic: string, createIfMissing: boolean): Promise<void> {
    if (await this.admin.topicExists(topic)) return;
    if (!createIfMissing) {
      throw new BrookError("TOPIC_NOT_FOUND", `topic "${topic}" does not exist (pass createIfMissing: true to create it)`);
    }
    await this.admin.createTopic(topic, { ifNotExists: true });
  }

  /**
   * Creates the group's subscription when it is missing, with retained acknowledged messages
   * (so seek can replay), message ordering (unless the broker's messageOrdering is false) and,
   * for deadLetter "native", a dead-letter and retry policy. An existing one is checked (same
   * topic; message ordering when the group needs order) and gets a dead-letter policy added
   * when "native" asks for one it lacks. startFrom applies to a new subscription only.
   */
  async ensureSubscription<T>(
    topic: string,
    subscription: string,
    options: SubscribeOptions<T>,
    ordered: boolean,
    startFrom: PubSubStartFrom,
  ): Promise<void> {
    const handle = this.pubsub.subscription(subscription);
    const topicPath = this.pubsub.topic(topic).name;
    const native = options.deadLetter === "native" ? await this.deadLetterPolicy(topic, subscription, options) : undefined;
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
          options.ordering ?? "key",
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
  private async applyStartFrom(topic: string, subscription: string, startFrom: PubSubStartFrom): Promise<void> {
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
    options: SubscribeOptions<T>,
  ): Promise<{ deadLetterPolicy: { deadLetterTopic: string; maxDeliveryAttempts: number }; retryPolicy?: Record<string, unknown> }> {
    const retry = resolveRetryPolicy(options.retry);
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
  }}
