import { randomBytes } from "node:crypto";
import { BrookError, type Admin, type GroupPosition, type Logger, type PartitionOffsets, type TopicDescription, type TopicOptions } from "@brook/core";
import { checkGroupCopy, invalidArgument, validateTopicName } from "@brook/core/spi";
import type { PubSub } from "@google-cloud/pubsub";
import { GrpcStatus, grpcCodeOf, toPubSubError } from "./errors.js";
import { PUBSUB_PARTITION } from "./capabilities.js";
import { DEFAULT_SUBSCRIPTION_NAME, TOPIC_RETENTION_MAX_MS, TOPIC_RETENTION_MIN_MS, checkResourceId, fillTemplate } from "./options.js";

/**
 * A snapshot lives 7 days minus the age of the oldest unacknowledged message of the subscription
 * it was made from (Pub/Sub's Snapshot.expire_time), so its expiry less 7 days is that
 * message's publish time. Measured on emulator jar 0.8.20: expire_time − 7 days equals the
 * publish time of the oldest unacked message to the millisecond, and the snapshot's creation
 * time when every message is acknowledged.
 */
const SNAPSHOT_LIFETIME_MS = 7 * 24 * 3600_000;

/**
 * Topics on Pub/Sub. `retentionMs` is the topic's message retention, which lets a new
 * subscription start from before it was created (startFrom "earliest" or { time }); topics
 * created here get `defaultRetentionMs` when the caller names none (0: none).
 *
 * Capacity hints are accepted and ignored, so the same createTopic call runs on every backend:
 * - `partitions`: a Pub/Sub topic is one stream with order per ordering key and no partitions to
 *   size. An application never relies on a partition count for correctness (order is per key
 *   everywhere), only for throughput, which Pub/Sub scales by itself. describeTopic reports
 *   `partitions: undefined`.
 * - `retentionBytes`: Pub/Sub retains by time only. A byte cap only bounds how far back a
 *   replay can reach; ignoring it keeps more history (still bounded by the time retention),
 *   never less, so nothing an application counts on is lost. Storage is bounded by retentionMs.
 * Both are still validated as on every backend (an integer >= 1; a positive integer or -1) and
 * logged at debug level.
 */
export class PubSubAdmin implements Admin {
  constructor(
    private readonly pubsub: PubSub,
    private readonly requestTimeoutMs: number,
    private readonly defaultRetentionMs: number,
    private readonly logger: Logger,
    /** the broker's subscriptionName template ("{topic}.{group}" by default) */
    private readonly subscriptionTemplate: string = DEFAULT_SUBSCRIPTION_NAME,
  ) {}

  async createTopic(name: string, options: TopicOptions & { ifNotExists?: boolean } = {}): Promise<void> {
    checkTopicName(name);
    const { ifNotExists, partitions, retentionMs, retentionBytes } = options;
    if (partitions !== undefined) {
      if (!Number.isSafeInteger(partitions) || partitions < 1) throw invalidArgument("partitions", "an integer >= 1", partitions);
      this.logger.debug(`pubsub: topic "${name}": partitions ${partitions} ignored (Pub/Sub topics have no partitions; order is per ordering key)`, {
        topic: name,
        partitions,
      });
    }
    if (retentionBytes !== undefined) {
      if (!(Number.isSafeInteger(retentionBytes) && (retentionBytes > 0 || retentionBytes === -1))) {
        throw invalidArgument("retentionBytes", "a positive integer (or -1 for no limit)", retentionBytes);
      }
      this.logger.debug(`pubsub: topic "${name}": retentionBytes ${retentionBytes} ignored (Pub/Sub retains by time only: retentionMs)`, {
        topic: name,
        retentionBytes,
      });
    }
    const metadata: { name: string; messageRetentionDuration?: { seconds: number; nanos: number } } = { name };
    if (retentionMs !== undefined) {
      if (!(retentionMs >= TOPIC_RETENTION_MIN_MS && retentionMs <= TOPIC_RETENTION_MAX_MS)) {
        throw invalidArgument("retentionMs", `a number of ms from ${TOPIC_RETENTION_MIN_MS} (10 min) to ${TOPIC_RETENTION_MAX_MS} (31 days)`, retentionMs);
      }
      metadata.messageRetentionDuration = toDuration(retentionMs);
    } else if (this.defaultRetentionMs > 0) {
      metadata.messageRetentionDuration = toDuration(this.defaultRetentionMs);
    }
    try {
      await this.pubsub.createTopic(metadata, { timeout: this.requestTimeoutMs });
    } catch (err) {
      if (ifNotExists === true && grpcCodeOf(err) === GrpcStatus.ALREADY_EXISTS) return;
      throw toPubSubError(err, `create topic "${name}"`);
    }
  }

  async deleteTopic(name: string): Promise<void> {
    checkTopicName(name);
    try {
      await this.pubsub.topic(name).delete({ timeout: this.requestTimeoutMs });
    } catch (err) {
      throw notFoundOr(err, name, "delete");
    }
  }

  async describeTopic(name: string): Promise<TopicDescription> {
    checkTopicName(name);
    try {
      const [metadata] = await this.pubsub.topic(name).getMetadata({ timeout: this.requestTimeoutMs });
      return { name, partitions: undefined, retentionMs: fromDuration(metadata.messageRetentionDuration) };
    } catch (err) {
      throw notFoundOr(err, name, "describe");
    }
  }

  async listTopics(): Promise<string[]> {
    try {
      const [topics] = await this.pubsub.getTopics({ autoPaginate: true, gaxOpts: { timeout: this.requestTimeoutMs } });
      return topics.map((t) => t.name.slice(t.name.lastIndexOf("/") + 1)).sort();
    } catch (err) {
      throw toPubSubError(err, "list topics");
    }
  }

  async topicExists(name: string): Promise<boolean> {
    checkTopicName(name);
    try {
      const [exists] = await this.pubsub.topic(name).exists();
      return exists;
    } catch (err) {
      throw toPubSubError(err, `check topic "${name}"`);
    }
  }

  /**
   * A group is a subscription, and Pub/Sub acknowledges message by message: there is no offset,
   * only the oldest message not yet acknowledged. A snapshot of the subscription records its
   * publish time in the snapshot's expiry (see SNAPSHOT_LIFETIME_MS); the snapshot is deleted
   * again at once. Nothing is pulled, so no delivery attempt is counted.
   */
  async groupPositions(topic: string, group: string): Promise<GroupPosition[]> {
    checkTopicName(topic);
    if (!(await this.topicExists(topic))) throw new BrookError("TOPIC_NOT_FOUND", `topic "${topic}" does not exist`);
    const subscription = checkResourceId(fillTemplate(this.subscriptionTemplate, { topic, group }), "group (as a Pub/Sub subscription id)", "subscription");
    let metadata: { topic?: string | null };
    try {
      [metadata] = await this.pubsub.subscription(subscription).getMetadata({ timeout: this.requestTimeoutMs });
    } catch (err) {
      if (grpcCodeOf(err) === GrpcStatus.NOT_FOUND) return [];
      throw toPubSubError(err, `look up subscription "${subscription}"`);
    }
    if (metadata.topic !== this.pubsub.topic(topic).name) return [];
    const snapshot = `brook-position-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
    let expireMs: number;
    try {
      const [created] = await this.pubsub.subscription(subscription).createSnapshot(snapshot, { timeout: this.requestTimeoutMs });
      const expire = (created.metadata as { expireTime?: { seconds?: unknown; nanos?: unknown } | null } | undefined)?.expireTime;
      expireMs = Number(expire?.seconds ?? NaN) * 1000 + Math.floor(Number(expire?.nanos ?? 0) / 1e6);
    } catch (err) {
      throw toPubSubError(err, `snapshot subscription "${subscription}" to read the position of group "${group}"`);
    } finally {
      await this.pubsub.snapshot(snapshot).delete().catch(() => undefined);
    }
    if (!Number.isFinite(expireMs)) {
      throw new BrookError("INTERNAL", `snapshot of subscription "${subscription}" has no expire time; cannot tell group "${group}"'s position`);
    }
    return [{ partition: PUBSUB_PARTITION, committed: undefined, settledBefore: new Date(expireMs - SNAPSHOT_LIFETIME_MS) }];
  }

  /**
   * A snapshot of `from`'s subscription (its unacknowledged messages and acknowledgement state),
   * then `to`'s subscription (created with `from`'s settings when missing) sought to it; the
   * snapshot is deleted again.
   */
  async copyGroupPositions(topic: string, from: string, to: string): Promise<GroupPosition[]> {
    checkTopicName(topic);
    checkGroupCopy(from, to);
    if (!(await this.topicExists(topic))) throw new BrookError("TOPIC_NOT_FOUND", `topic "${topic}" does not exist`);
    const name = (group: string, field: string): string => checkResourceId(fillTemplate(this.subscriptionTemplate, { topic, group }), `${field} (as a Pub/Sub subscription id)`, "subscription");
    const source = this.pubsub.subscription(name(from, "from"));
    const target = this.pubsub.subscription(name(to, "to"));
    let metadata: Record<string, unknown> & { topic?: string | null };
    try {
      [metadata] = (await source.getMetadata({ timeout: this.requestTimeoutMs })) as unknown as [Record<string, unknown> & { topic?: string | null }];
    } catch (err) {
      if (grpcCodeOf(err) === GrpcStatus.NOT_FOUND) throw new BrookError("INVALID_ARGUMENT", `from: group "${from}" has no position on topic "${topic}" to copy`, { cause: err });
      throw toPubSubError(err, `look up subscription "${source.name}"`);
    }
    if (metadata.topic !== this.pubsub.topic(topic).name) throw new BrookError("INVALID_ARGUMENT", `from: group "${from}" has no position on topic "${topic}" to copy`);
    const snapshot = `brook-copy-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
    try {
      await source.createSnapshot(snapshot, { timeout: this.requestTimeoutMs });
      const [exists] = await target.exists();
      if (!exists) {
        const settings: Record<string, unknown> = {};
        for (const key of ["ackDeadlineSeconds", "enableMessageOrdering", "retryPolicy", "deadLetterPolicy", "filter", "messageRetentionDuration", "retainAckedMessages", "enableExactlyOnceDelivery", "expirationPolicy"]) {
          if (metadata[key] !== undefined && metadata[key] !== null && metadata[key] !== "") settings[key] = metadata[key];
        }
        await this.pubsub.topic(topic).createSubscription(target.name.split("/").pop()!, settings);
      }
      await target.seek(snapshot);
    } catch (err) {
      throw toPubSubError(err, `copy the position of group "${from}" to group "${to}" on topic "${topic}"`);
    } finally {
      await this.pubsub.snapshot(snapshot).delete().catch(() => undefined);
    }
    return this.groupPositions(topic, to);
  }

  async partitionOffsets(topic: string): Promise<PartitionOffsets[]> {
    checkTopicName(topic);
    throw new BrookError("UNSUPPORTED", `partitionOffsets of topic "${topic}": Pub/Sub messages have ids, not offsets (capability seek.offset is false)`);
  }

  /** Deletes a snapshot made with subscription.createSnapshot() (adapter extra). */
  async deleteSnapshot(snapshot: string): Promise<void> {
    checkResourceId(snapshot, "snapshot", "subscription");
    try {
      await this.pubsub.snapshot(snapshot).delete();
    } catch (err) {
      throw toPubSubError(err, `delete snapshot "${snapshot}"`);
    }
  }

  /** Deletes a group's subscription (adapter extra): the group's position and backlog go with it. */
  async deleteSubscription(subscription: string): Promise<void> {
    checkResourceId(subscription, "subscription", "subscription");
    try {
      await this.pubsub.subscription(subscription).delete({ timeout: this.requestTimeoutMs });
    } catch (err) {
      throw toPubSubError(err, `delete subscription "${subscription}"`);
    }
  }
}

export function checkTopicName(name: string, field = "topic"): string {
  validateTopicName(name, field);
  return checkResourceId(name, field, "topic");
}

function notFoundOr(err: unknown, name: string, action: string): BrookError {
  if (grpcCodeOf(err) === GrpcStatus.NOT_FOUND) {
    return new BrookError("TOPIC_NOT_FOUND", `${action} topic "${name}": no such topic`, { cause: err });
  }
  return toPubSubError(err, `${action} topic "${name}"`);
}

export function toDuration(ms: number): { seconds: number; nanos: number } {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

export function fromDuration(duration: { seconds?: unknown; nanos?: unknown } | null | undefined): number | undefined {
  if (duration === null || duration === undefined) return undefined;
  const seconds = Number(duration.seconds ?? 0);
  const nanos = Number(duration.nanos ?? 0);
  const ms = seconds * 1000 + nanos / 1e6;
  return ms > 0 ? ms : undefined;
}
