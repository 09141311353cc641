import { BrookError, type Admin, type GroupPosition, type Logger, type PartitionOffsets, type TopicDescription, type TopicOptions } from "@brook/core";
import { invalidArgument, validateTopicName, checkGroupCopy } from "@brook/core/spi";
import {
  CreateStreamCommand,
  DeleteStreamCommand,
  DescribeStreamSummaryCommand,
  IncreaseStreamRetentionPeriodCommand,
  ListStreamsCommand,
  UpdateShardCountCommand,
  type KinesisClient,
  type StreamDescriptionSummary,
} from "@aws-sdk/client-kinesis";
import { awsErrorName, streamNotFound, toKinesisBrookError } from "./errors.js";
import { isSentinel, type Lease } from "./leases/lease.js";
import { formatOffset } from "./records.js";

/** How long admin calls wait for a stream to become ACTIVE (or to disappear) before TIMEOUT. */
export const STREAM_STATE_TIMEOUT_MS = 120_000;
const HOUR_MS = 3_600_000;
/** Kinesis retention: 24 hours (the default) to 365 days, in whole hours. */
const MIN_RETENTION_HOURS = 24;
const MAX_RETENTION_HOURS = 8_760;

/**
 * Streams on Kinesis. Topics are streams; partitions are shards (fixed count at creation,
 * changed later with setPartitions, which reshards). Every call that changes a stream waits
 * until it is ACTIVE again, so what follows it sees the new state.
 */
export class KinesisAdmin implements Admin {
  constructor(
    private readonly kinesis: KinesisClient,
    private readonly logger: Logger,
  ) {}

  /** the group's leases on the stream, by shard id (undefined: the group has no lease table) */
  private groupLeases: ((topic: string, group: string) => Promise<Map<string, Lease> | undefined>) | undefined;

  /** The broker gives the admin its lease tables (groupPositions). */
  readLeasesWith(read: (topic: string, group: string) => Promise<Map<string, Lease> | undefined>): void {
    this.groupLeases = read;
  }

  /** Creates a stream of `partitions` shards (default 1), provisioned mode, and waits until it is ACTIVE. */
  async createTopic(name: string, options: TopicOptions & { ifNotExists?: boolean } = {}): Promise<void> {
    validateStreamName(name);
    const { partitions, retentionMs, retentionBytes, ifNotExists } = options;
    if (partitions !== undefined && (!Number.isSafeInteger(partitions) || partitions < 1)) throw invalidArgument("partitions", "an integer >= 1", partitions);
    let hours: number | undefined;
    if (retentionMs !== undefined) {
      if (!Number.isSafeInteger(retentionMs) || retentionMs < MIN_RETENTION_HOURS * HOUR_MS || retentionMs > MAX_RETENTION_HOURS * HOUR_MS) {
        throw invalidArgument("retentionMs", `between ${MIN_RETENTION_HOURS} hours and 365 days (Kinesis keeps records in whole hours)`, retentionMs);
      }
      hours = Math.ceil(retentionMs / HOUR_MS);
    }
    if (retentionBytes !== undefined) this.logger.debug(`createTopic "${name}": retentionBytes is ignored, Kinesis retains by time only`);
    try {
      await this.kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: partitions ?? 1 }));
    } catch (err) {
      if (awsErrorName(err) === "ResourceInUseException") {
        if (ifNotExists === true) {
          await this.waitActive(name);
          return;
        }
        throw new BrookError("ALREADY_EXISTS", `stream "${name}" already exists (pass ifNotExists: true to accept that)`, { cause: err });
      }
      throw toKinesisBrookError(err, `create stream "${name}"`);
    }
    await this.waitActive(name);
    if (hours !== undefined && hours > MIN_RETENTION_HOURS) {
      try {
        await this.kinesis.send(new IncreaseStreamRetentionPeriodCommand({ StreamName: name, RetentionPeriodHours: hours }));
      } catch (err) {
        throw toKinesisBrookError(err, `set the retention of stream "${name}" to ${hours} hours`);
      }
      await this.waitActive(name);
    }
  }

  /** Deletes the stream (and its enhanced fan-out consumers) and waits until it is gone. */
  async deleteTopic(name: string): Promise<void> {
    validateStreamName(name);
    try {
      await this.kinesis.send(new DeleteStreamCommand({ StreamName: name, EnforceConsumerDeletion: true }));
    } catch (err) {
      if (awsErrorName(err) === "ResourceNotFoundException") throw streamNotFound(name, err);
      throw toKinesisBrookError(err, `delete stream "${name}"`);
    }
    await this.waitFor(name, (s) => s === undefined, "deleted");
  }

  async describeTopic(name: string): Promise<TopicDescription> {
    validateStreamName(name);
    const summary = await this.summary(name);
    if (summary === undefined) throw streamNotFound(name);
    return {
      name,
      partitions: summary.OpenShardCount,
      retentionMs: summary.RetentionPeriodHours === undefined ? undefined : summary.RetentionPeriodHours * HOUR_MS,
    };
  }

  async listTopics(): Promise<string[]> {
    const names: string[] = [];
    let next: string | undefined;
    let exclusiveStart: string | undefined;
    try {
      for (let page = 0; page < 1_000; page++) {
        const response = await this.kinesis.send(
          new ListStreamsCommand(next !== undefined ? { NextToken: next } : exclusiveStart !== undefined ? { ExclusiveStartStreamName: exclusiveStart } : {}),
        );
        const batch = response.StreamNames ?? [];
        names.push(...batch);
        if (response.HasMoreStreams !== true || batch.length === 0) break;
        next = response.NextToken;
        exclusiveStart = batch[batch.length - 1];
      }
    } catch (err) {
      throw toKinesisBrookError(err, "list streams");
    }
    return names.sort();
  }

  async topicExists(name: string): Promise<boolean> {
    validateStreamName(name);
    return (await this.summary(name)) !== undefined;
  }

  /**
   * Reshards the stream to `partitions` open shards with UpdateShardCount (uniform scaling:
   * Kinesis splits or merges shards; a closed shard stays readable for the retention period
   * and Brook's consumers finish it before they start its children). Waits until ACTIVE.
   */
  async setPartitions(name: string, partitions: number): Promise<void> {
    validateStreamName(name);
    if (!Number.isSafeInteger(partitions) || partitions < 1) throw invalidArgument("partitions", "an integer >= 1", partitions);
    const summary = await this.summary(name);
    if (summary === undefined) throw streamNotFound(name);
    if (summary.OpenShardCount === partitions) return;
    try {
      await this.kinesis.send(new UpdateShardCountCommand({ StreamName: name, TargetShardCount: partitions, ScalingType: "UNIFORM_SCALING" }));
    } catch (err) {
      if (awsErrorName(err) === "ResourceNotFoundException") throw streamNotFound(name, err);
      throw toKinesisBrookError(err, `change the shard count of stream "${name}" to ${partitions}`);
    }
    await this.waitActive(name);
  }

  /**
   * The group's checkpoints, read from its lease table (KCL semantics: the sequence number of
   * the last record processed, `<sequence>:<sub-record>` inside an aggregate). Sequence numbers
   * are ordered within a shard but not contiguous: a position is comparable, not countable. A
   * shard without a record checkpoint (only a start sentinel) or finished (SHARD_END, whose last
   * record the lease does not name) has no committed offset. No lease table: no positions.
   */
  async groupPositions(topic: string, group: string): Promise<GroupPosition[]> {
    validateStreamName(topic);
    if (typeof group !== "string" || group.length === 0) throw invalidArgument("group", "a non-empty string", group);
    if (this.groupLeases === undefined) throw new BrookError("UNSUPPORTED", `groupPositions of group "${group}" on stream "${topic}": this admin has no lease table access`);
    const leases = await this.groupLeases(topic, group);
    if (leases === undefined || leases.size === 0) return [];
    const positions = [...leases.values()]
      .sort((a, b) => (a.shardId < b.shardId ? -1 : a.shardId > b.shardId ? 1 : 0))
      .map((lease) => {
        const cp = lease.checkpoint;
        return { partition: lease.shardId, committed: isSentinel(cp) ? undefined : formatOffset(cp, lease.subSequence > 0 ? lease.subSequence : undefined) };
      });
    return positions.some((p) => p.committed !== undefined) ? positions : [];
  }

  /** Not yet on Kinesis: the checkpoints to copy live in the groups' lease tables. */
  async copyGroupPositions(topic: string, from: string, to: string): Promise<GroupPosition[]> {
    validateStreamName(topic);
    checkGroupCopy(from, to);
    throw new BrookError("UNSUPPORTED", `copyGroupPositions of group "${from}" to "${to}" on stream "${topic}": not yet on Kinesis (the checkpoints are in the groups' lease tables)`);
  }

  /** Kinesis sequence numbers are not contiguous: a shard has no "offset the next record gets". */
  async partitionOffsets(topic: string): Promise<PartitionOffsets[]> {
    validateStreamName(topic);
    throw new BrookError("UNSUPPORTED", `partitionOffsets of stream "${topic}": Kinesis sequence numbers are not contiguous, so a shard has no next offset to report`);
  }

  /** The stream's summary, or undefined when there is no such stream. */
  async summary(name: string): Promise<StreamDescriptionSummary | undefined> {
    try {
      const response = await this.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name }));
      return response.StreamDescriptionSummary;
    } catch (err) {
      if (awsErrorName(err) === "ResourceNotFoundException") return undefined;
      throw toKinesisBrookError(err, `describe stream "${name}"`);
    }
  }

  /** Waits until the stream is ACTIVE (creating, updating and resharding end there). */
  async waitActive(name: string): Promise<StreamDescriptionSummary> {
    const summary = await this.waitFor(name, (s) => s === "ACTIVE", "ACTIVE");
    return summary!;
  }

  private async waitFor(name: string, done: (status: string | undefined) => boolean, what: string): Promise<StreamDescriptionSummary | undefined> {
    const deadline = Date.now() + STREAM_STATE_TIMEOUT_MS;
    for (let delay = 50; ; delay = Math.min(delay * 2, 1_000)) {
      const summary = await this.summary(name);
      if (done(summary?.StreamStatus)) return summary;
      if (summary === undefined && what === "ACTIVE") throw streamNotFound(name);
      if (Date.now() > deadline) throw new BrookError("TIMEOUT", `stream "${name}" was not ${what} within ${STREAM_STATE_TIMEOUT_MS} ms (status ${summary?.StreamStatus ?? "gone"})`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/** Brook's topic rules, then Kinesis': 1–128 characters of [A-Za-z0-9_.-]. */
export function validateStreamName(name: string, field = "topic"): void {
  validateTopicName(name, field);
  if (name.length > 128) throw invalidArgument(field, "at most 128 characters (a Kinesis stream name)", name);
}
