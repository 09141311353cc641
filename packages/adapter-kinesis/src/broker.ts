import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { BrookError, type Capabilities, type Logger, type Publisher, type PublisherOptions } from "@brook/core";
import { BrokerSkeleton, CorePublisher, invalidArgument, type ResolvedSubscribeOptions } from "@brook/core/spi";
import type { KinesisClient } from "@aws-sdk/client-kinesis";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { KinesisAdmin, validateStreamName } from "./admin.js";
import { kinesisCapabilities, kinesisLimits } from "./capabilities.js";
import { streamNotFound } from "./errors.js";
import { LeaseKeys, isMultiStreamItem, type Lease } from "./leases/lease.js";
import { LeaseTable } from "./leases/lease-table.js";
import { checkStartPositions } from "./leases/shard-sync.js";
import { fillNameTemplate, type EnvelopeMode, type ResolvedKinesisOptions } from "./options.js";
import { KinesisPublishTransport, type KinesisPublishOptions } from "./publisher.js";
import { PollingFetcher, type RecordFetcher, type StartPosition } from "./shard-reader.js";
import { ShardMap } from "./shard-map.js";
import { KinesisSubscriptionSource } from "./subscriber.js";
import { EfoFetcher, ensureStreamConsumer } from "./efo.js";

/** publisher() options on Kinesis: core's, plus how messages become records. */
export interface KinesisPublisherOptions<T> extends PublisherOptions<T> {
  /** overrides the broker's envelope ("auto" | "kpl" | "none") for this publisher */
  envelope?: EnvelopeMode;
  /** overrides the broker's aggregate for this publisher */
  aggregate?: boolean;
  aggregateMaxBytes?: number;
  /** the explicit hash key (decimal, 0 – 2^128-1) for a message's key; undefined: Kinesis hashes the partition key */
  explicitHashKey?: (key: string | undefined) => string | undefined;
}

/**
 * A Brook broker over Kinesis Data Streams: PutRecords publishers, lease-coordinated consumer
 * groups with their leases in DynamoDB (one table per group), stream admin. Core's skeleton
 * does the rest.
 */
export class KinesisBroker extends BrokerSkeleton<KinesisAdmin, KinesisPublishTransport, KinesisSubscriptionSource> {
  readonly capabilities: Capabilities = kinesisCapabilities();
  /** OpenTelemetry semantic conventions' name for Kinesis Data Streams */
  protected override readonly messagingSystem = "aws_kinesis";
  /** subscriptions per worker id base, so two members in one process never share an id */
  private readonly members = new Map<string, number>();
  private readonly workerBase: string;

  constructor(
    url: string,
    readonly kinesis: KinesisClient,
    readonly dynamo: DynamoDBClient,
    readonly options: ResolvedKinesisOptions,
    logger?: Logger,
  ) {
    const admin = new KinesisAdmin(kinesis, logger ?? { debug() {}, info() {}, warn() {}, error() {} });
    super(url, admin, logger);
    admin.readLeasesWith((topic, group) => this.groupLeases(topic, group));
    this.workerBase = options.workerId ?? `${hostname()}:${process.pid}`;
  }

  override publisher<T = unknown>(topic: string, options: KinesisPublisherOptions<T> = {}): Publisher<T> {
    const publish = this.publishOptions(options);
    return this.buildPublisher<T, CorePublisher<T>>(topic, options, (transport, opts, onClose) => {
      transport.configure(publish, kinesisLimits(publish.aggregate));
      return new CorePublisher<T>(transport, opts, { onClose });
    });
  }

  protected override checkTopicName(topic: string, field = "topic"): void {
    validateStreamName(topic, field);
  }

  protected openTransport(topic: string): KinesisPublishTransport {
    return new KinesisPublishTransport(topic, this.kinesis, new ShardMap(this.kinesis, topic));
  }

  protected async openSource<T>(topic: string, options: ResolvedSubscribeOptions<T>): Promise<KinesisSubscriptionSource> {
    checkStartPositions(options.startFrom);
    const summary = await this.admin.summary(topic);
    if (summary === undefined) throw streamNotFound(topic);
    const table = new LeaseTable(this.dynamo, fillNameTemplate(this.options.leaseTable, { group: options.group, topic }));
    await table.ensure();
    const keys = await this.leaseKeys(table, topic, summary.StreamARN, summary.StreamCreationTimestamp);
    const o = this.options;
    const polling = { pollIntervalMs: o.pollIntervalMs, maxRecordsPerFetch: o.maxRecordsPerFetch };
    let fetcher = (shardId: string, position: StartPosition): RecordFetcher => new PollingFetcher(this.kinesis, topic, shardId, position, polling);
    if (o.efo) {
      if (summary.StreamARN === undefined) throw new BrookError("UNAVAILABLE", `stream "${topic}" has no ARN, which enhanced fan-out needs`);
      const consumerArn = await ensureStreamConsumer(this.kinesis, summary.StreamARN, fillNameTemplate(o.efoConsumerName, { group: options.group, topic }, 128));
      fetcher = (shardId, position) => new EfoFetcher(this.kinesis, topic, consumerArn, shardId, position, polling, o.efoRenewMs);
    }
    return new KinesisSubscriptionSource({
      topic,
      group: options.group,
      startFrom: options.startFrom,
      onOutOfRange: options.onOutOfRange,
      kinesis: this.kinesis,
      table,
      keys,
      coordinator: {
        workerId: this.nextWorkerId(`${table.name}/${topic}`),
        failoverTimeMs: o.failoverTimeMs,
        renewIntervalMs: o.renewIntervalMs,
        takeIntervalMs: o.takeIntervalMs,
        maxStealsPerRound: o.maxStealsPerRound,
        shardSyncIntervalMs: o.shardSyncIntervalMs,
      },
      fetcher,
      logger: this.logger,
    });
  }

  protected async closeConnection(): Promise<void> {
    this.kinesis.destroy();
    this.dynamo.destroy();
  }

  /** The group's leases on the stream (admin.groupPositions), or undefined when it has no lease table. */
  private async groupLeases(topic: string, group: string): Promise<Map<string, Lease> | undefined> {
    const summary = await this.admin.summary(topic);
    if (summary === undefined) throw streamNotFound(topic);
    const table = new LeaseTable(this.dynamo, fillNameTemplate(this.options.leaseTable, { group, topic }));
    if (!(await table.exists())) return undefined;
    const keys = await this.leaseKeys(table, topic, summary.StreamARN, summary.StreamCreationTimestamp);
    return table.leases(keys);
  }

  /**
   * The key form of this stream's leases in `table`: as configured, or (auto) single-stream when
   * the table already holds KCL single-stream leases (a KCL application moving to Brook), else
   * multi-stream, so one table per group serves every stream the group reads.
   */
  private async leaseKeys(table: LeaseTable, topic: string, arn: string | undefined, created: Date | undefined): Promise<LeaseKeys> {
    let mode = this.options.leaseKeys;
    if (mode === "auto") mode = (await table.scan()).some((item) => !isMultiStreamItem(item)) ? "shard" : "stream";
    if (mode === "shard") return LeaseKeys.singleStream();
    const account = arn?.split(":")[4] ?? "";
    if (account.length === 0 || created === undefined) throw new BrookError("UNAVAILABLE", `stream "${topic}": DescribeStreamSummary gave no ARN or creation time, which multi-stream lease keys need`);
    return LeaseKeys.multiStream(account, topic, Math.floor(created.getTime() / 1_000));
  }

  private nextWorkerId(scope: string): string {
    const n = (this.members.get(scope) ?? 0) + 1;
    this.members.set(scope, n);
    if (this.options.workerId !== undefined) return n === 1 ? this.workerBase : `${this.workerBase}#${n}`;
    return `${this.workerBase}:${randomBytes(4).toString("hex")}`;
  }

  private publishOptions<T>(options: KinesisPublisherOptions<T>): KinesisPublishOptions {
    const envelope = options.envelope ?? this.options.envelope;
    if (envelope !== "auto" && envelope !== "kpl" && envelope !== "none") throw invalidArgument("envelope", '"auto", "kpl" or "none"', envelope);
    const aggregate = options.aggregate ?? this.options.aggregate;
    if (typeof aggregate !== "boolean") throw invalidArgument("aggregate", "a boolean", aggregate);
    if (aggregate && envelope === "none") throw invalidArgument("aggregate", 'false with envelope "none" (aggregates are KPL records)', aggregate);
    const aggregateMaxBytes = options.aggregateMaxBytes ?? this.options.aggregateMaxBytes;
    if (!Number.isSafeInteger(aggregateMaxBytes) || aggregateMaxBytes < 1 || aggregateMaxBytes > 1_048_576) {
      throw invalidArgument("aggregateMaxBytes", "an integer from 1 to 1048576", aggregateMaxBytes);
    }
    if (options.explicitHashKey !== undefined && typeof options.explicitHashKey !== "function") {
      throw invalidArgument("explicitHashKey", "a function from a message key to a decimal hash key", options.explicitHashKey);
    }
    return { envelope, aggregate, aggregateMaxBytes, explicitHashKey: options.explicitHashKey };
  }
}
