import { BrookError, type Admin, type TopicDescription, type TopicOptions } from "@brook/core";
import { invalidArgument, validateTopicName } from "@brook/core/spi";
import type { PubSub } from "@google-cloud/pubsub";
import { GrpcStatus, grpcCodeOf, toPubSubError } from "./errors.js";
import { checkResourceId } from "./options.js";

/** Pub/Sub's bounds for a topic's messageRetentionDuration. */
const TOPIC_RETENTION_MIN_MS = 10 * 60_000;
const TOPIC_RETENTION_MAX_MS = 31 * 24 * 3600_000;

/**
 * Topics on Pub/Sub. A topic has no partitions: `partitions` may be omitted or 1 (one stream),
 * anything else is UNSUPPORTED. `retentionMs` is the topic's message retention, which lets a
 * new subscription start from before it was created (startFrom "earliest" or { time }).
 */
export class PubSubAdmin implements Admin {
  constructor(
    private readonly pubsub: PubSub,
    private readonly requestTimeoutMs: number,
  ) {}

  async createTopic(name: string, options: TopicOptions & { ifNotExists?: boolean } = {}): Promise<void> {
    checkTopicName(name);
    const { ifNotExists, partitions, retentionMs, retentionBytes } = options;
    if (partitions !== undefined && partitions !== 1) {
      throw new BrookError("UNSUPPORTED", `partitions: Pub/Sub topics have no partitions (order is per ordering key); omit it or pass 1, got ${String(partitions)}`);
    }
    if (retentionBytes !== undefined) {
      throw new BrookError("UNSUPPORTED", "retentionBytes: Pub/Sub retains by time only; use retentionMs");
    }
    const metadata: { name: string; messageRetentionDuration?: { seconds: number; nanos: number } } = { name };
    if (retentionMs !== undefined) {
      if (!(retentionMs >= TOPIC_RETENTION_MIN_MS && retentionMs <= TOPIC_RETENTION_MAX_MS)) {
        throw invalidArgument("retentionMs", `a number of ms from ${TOPIC_RETENTION_MIN_MS} (10 min) to ${TOPIC_RETENTION_MAX_MS} (31 days)`, retentionMs);
      }
      metadata.messageRetentionDuration = toDuration(retentionMs);
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
