import { BrookError, type Logger } from "@brook/core";
import { invalidArgument, type ResolvedSubscribeOptions } from "@brook/core/spi";
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
/**
 * "earliest" seeks this much further back than the topic's retention: a seek before the
 * retention window is allowed (only what is retained comes back), and the margin keeps a clock
 * running behind the service's from cutting off the oldest retained messages.
 */
const EARLIEST_MARGIN_MS = 3600_000;

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
 * Creates what a subscribe needs on Pub/Sub (the skeleton has already checked or created the
 * topic): the group's subscription with its start position, and the dead-letter topic and policy of
 * deadLetter "native".
 *
 * Where a new group starts (measured on emulator jar 0.8.20, documented for the service):
 * - The service starts a new subscription at its creation. Topic message retention (Brook gives
 *   the topics it creates 7 days, see PubSubBrokerOptions.topicRetentionMs) lets a seek to a
 *   time move it back before its creation, which is how "earliest" and { time } reach messages
 *   published before the group existed (dead letters written before the DLQ's first reader, a
 *   new service replaying a topic).
 * - The emulator instead hands a new subscription everything the topic retains, ordered or
 *   not, and answers UNIMPLEMENTED to a seek to a time on a subscription with message ordering
 *   (seek to a snapshot is refused across ordered and unordered subscriptions, so a snapshot
 *   cannot stand in). So on the emulator "latest" is sought to the subscription's creation, and
 *   on an ordered subscription there "earliest" holds without the seek, { time } is
 *   UNSUPPORTED and "latest" also delivers what the topic retains (warned once per topic).
 */
export class SubscriptionProvisioner {
  private readonly pubsub: PubSub;
  private readonly admin: PubSubAdmin;
  private readonly options: PubSubBrokerOptions;
  private readonly logger: Logger;
  private readonly requestTimeoutMs: number;
  private readonly emulator: boolean;
  /** topics whose "latest" caveat on the ordered emulator was logged (once per topic) */
  private readonly warnedLatest = new Set<string>();

  constructor(context: ProvisioningContext) {
    this.pubsub = context.pubsub;
    this.admin = context.admin;
    this.options = context.options;
    this.logger = context.logger;
    this.requestTimeoutMs = context.requestTimeoutMs;
    this.emulator = context.options.emulatorHost !== undefined;
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
    options: ResolvedSubscribeOptions<T>,
    ordered: boolean,
    startFrom: PubSubStartFrom,
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
    const createdAt = new Date();
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
    try {
      await this.applyStartFrom(topic, subscription, options.group, startFrom, createdAt);
    } catch (err) {
      // Leave no half-made group behind: the next subscribe would skip startFrom.
      await handle.delete({ timeout: this.requestTimeoutMs }).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Moves a new subscription to where startFrom says (see the class comment for the service
   * and the emulator). A topic without retention (one Brook did not create, or
   * topicRetentionMs=0) keeps nothing a new subscription could reach back to: "earliest" and a
   * past { time } then start at the subscription's creation, with a warning naming the topic.
   * Not an error: "earliest" means the oldest message the backend still has (on Kafka too, a
   * retention that deleted everything leaves nothing before "now"), and failing would make
   * portable code branch on the backend; the warning keeps it from passing unnoticed.
   */
  private async applyStartFrom(topic: string, subscription: string, group: string, startFrom: PubSubStartFrom, createdAt: Date): Promise<void> {
    // The service starts a new subscription at its creation: nothing to do, nothing to ask.
    if (startFrom === "latest" && !this.emulator) return;
    const retentionMs = (await this.admin.describeTopic(topic)).retentionMs;
    if (startFrom === "latest") {
      // The emulator hands a new subscription what the topic retains; a seek to its creation
      // marks that acknowledged. It rounds seek times down to whole seconds, so up to a second
      // of older messages still arrive (at least once, never fewer).
      if (retentionMs === undefined) return;
      const sought = await this.seek(subscription, createdAt, "latest");
      if (!sought && !this.warnedLatest.has(topic)) {
        this.warnedLatest.add(topic);
        this.logger.warn(
          `pubsub emulator: startFrom "latest" for group "${group}" on topic "${topic}" also delivers the messages the topic retains: the emulator gives a new subscription everything its topic retains and cannot seek a subscription with message ordering (the real service starts it at its creation; messageOrdering=false avoids this on the emulator)`,
          { topic, group, subscription },
        );
      }
      return;
    }
    const target = startFrom === "earliest" ? new Date(Date.now() - (retentionMs ?? 0) - EARLIEST_MARGIN_MS) : startFrom.time;
    if (retentionMs === undefined && target.getTime() < createdAt.getTime()) {
      this.logger.warn(
        `pubsub: startFrom ${startFrom === "earliest" ? '"earliest"' : `{ time: ${target.toISOString()} }`} for group "${group}": topic "${topic}" has no message retention, so its new subscription "${subscription}" starts at its creation and messages published before are not delivered (give the topic a retention, e.g. gcloud pubsub topics update ${topic} --message-retention-duration=7d; topics Brook creates have one)`,
        { topic, group, subscription },
      );
      if (startFrom === "earliest") return;
    }
    if (await this.seek(subscription, target, startFrom === "earliest" ? "earliest" : "time")) return;
    if (startFrom === "earliest") {
      // Only the emulator answers UNIMPLEMENTED (ordered subscriptions), and it has already
      // handed the new subscription everything the topic retains: "earliest" holds.
      this.logger.debug(`pubsub emulator: startFrom "earliest" for "${subscription}" without a seek (the emulator delivers what the topic retains)`, {
        topic,
        subscription,
      });
      return;
    }
    throw new BrookError(
      "UNSUPPORTED",
      `startFrom { time } for group "${group}" on topic "${topic}": the Pub/Sub emulator does not implement seek to a time on subscriptions with message ordering (connect with messageOrdering=false, or use "earliest" / "latest")`,
    );
  }

  /** Seeks to a time; false when the server does not implement it (the emulator, ordered subscriptions). */
  private async seek(subscription: string, time: Date, why: string): Promise<boolean> {
    try {
      await this.pubsub.subscription(subscription).seek(time, { timeout: this.requestTimeoutMs });
      return true;
    } catch (err) {
      if (grpcCodeOf(err) === GrpcStatus.UNIMPLEMENTED) return false;
      throw toPubSubError(err, `startFrom ${why}: seek of new subscription "${subscription}" to ${time.toISOString()}`);
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
    // Created with the default topic retention: a dead-letter reader that subscribes later
    // with startFrom "earliest" still finds what was forwarded before it existed.
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
