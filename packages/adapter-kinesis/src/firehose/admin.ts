import { BrookError, type Admin, type GroupPosition, type Logger, type PartitionOffsets, type TopicDescription, type TopicOptions } from "@brook/core";
import { invalidArgument } from "@brook/core/spi";
import {
  CreateDeliveryStreamCommand,
  DeleteDeliveryStreamCommand,
  DescribeDeliveryStreamCommand,
  ListDeliveryStreamsCommand,
  type DeliveryStreamDescription,
  type FirehoseClient,
} from "@aws-sdk/client-firehose";
import { awsErrorName } from "../errors.js";
import { STREAM_STATE_TIMEOUT_MS } from "../admin.js";
import { deliveryStreamNotFound, toFirehoseBrookError } from "./errors.js";
import { validateBucketName } from "./options.js";

/** Where a DirectPut delivery stream delivers: an S3 bucket (and key prefix). */
export interface FirehoseS3Destination {
  /** the bucket (default: the broker's `bucket` option) */
  bucket?: string;
  /** the object key prefix (default: the broker's `prefix` option, else Firehose's YYYY/MM/DD/HH/) */
  prefix?: string;
  /** the role Firehose assumes to write the bucket (default: the broker's `roleArn` option) */
  roleArn?: string;
  /** buffering before an object is written: seconds (0–900) and MiB (1–128); Firehose's defaults when absent */
  bufferingIntervalSeconds?: number;
  bufferingSizeMiB?: number;
}

export interface FirehoseTopicOptions extends TopicOptions {
  ifNotExists?: boolean;
  s3?: FirehoseS3Destination;
}

export interface FirehoseTopicDescription extends TopicDescription {
  /** CREATING, ACTIVE, DELETING, … */
  status: string;
  /** the S3 destination, when the stream delivers to S3 */
  s3: { bucket: string; prefix: string | undefined } | undefined;
}

/** Defaults createTopic takes from the broker's options. */
export interface FirehoseAdminDefaults {
  bucket: string | undefined;
  prefix: string | undefined;
  roleArn: string | undefined;
}

/**
 * Delivery streams on Firehose. Topics are DirectPut delivery streams; createTopic creates one
 * to S3 and waits until it is ACTIVE, deleteTopic waits until it is gone. There are no
 * partitions and no retention (records leave for S3): both options are accepted and ignored.
 */
export class FirehoseAdmin implements Admin {
  constructor(
    private readonly firehose: FirehoseClient,
    private readonly defaults: FirehoseAdminDefaults,
    private readonly logger: Logger,
  ) {}

  async createTopic(name: string, options: FirehoseTopicOptions = {}): Promise<void> {
    validateDeliveryStreamName(name);
    if (typeof options !== "object" || options === null) throw invalidArgument("options", "an object", options);
    const { partitions, retentionMs, retentionBytes, ifNotExists, s3 = {} } = options;
    if (partitions !== undefined || retentionMs !== undefined || retentionBytes !== undefined) {
      this.logger.debug(`createTopic "${name}": partitions and retention are ignored, a Firehose delivery stream has neither`);
    }
    if (typeof s3 !== "object" || s3 === null) throw invalidArgument("s3", "{ bucket, prefix?, roleArn? }", s3);
    const bucket = s3.bucket ?? this.defaults.bucket;
    if (bucket === undefined) throw invalidArgument("s3.bucket", "the S3 bucket the delivery stream writes to (or the broker's bucket option)", bucket);
    validateBucketName(bucket, "s3.bucket");
    const prefix = s3.prefix ?? this.defaults.prefix;
    if (prefix !== undefined && typeof prefix !== "string") throw invalidArgument("s3.prefix", "a string", prefix);
    const roleArn = s3.roleArn ?? this.defaults.roleArn;
    if (typeof roleArn !== "string" || !roleArn.startsWith("arn:")) throw invalidArgument("s3.roleArn", "the ARN of the IAM role Firehose assumes to write the bucket (or the broker's roleArn option)", roleArn);
    const hints = bufferingHints(s3);
    try {
      await this.firehose.send(
        new CreateDeliveryStreamCommand({
          DeliveryStreamName: name,
          DeliveryStreamType: "DirectPut",
          ExtendedS3DestinationConfiguration: {
            BucketARN: `arn:aws:s3:::${bucket}`,
            RoleARN: roleArn,
            ...(prefix === undefined ? {} : { Prefix: prefix }),
            ...(hints === undefined ? {} : { BufferingHints: hints }),
          },
        }),
      );
    } catch (err) {
      if (awsErrorName(err) === "ResourceInUseException") {
        if (ifNotExists === true) return this.waitActive(name);
        throw new BrookError("ALREADY_EXISTS", `delivery stream "${name}" already exists`, { cause: err });
      }
      throw toFirehoseBrookError(err, `createTopic "${name}"`);
    }
    await this.waitActive(name);
  }

  async deleteTopic(name: string): Promise<void> {
    validateDeliveryStreamName(name);
    try {
      await this.firehose.send(new DeleteDeliveryStreamCommand({ DeliveryStreamName: name }));
    } catch (err) {
      throw toFirehoseBrookError(err, `deleteTopic "${name}"`, name);
    }
    await this.waitFor(name, (d) => d === undefined, "to be deleted");
  }

  async describeTopic(name: string): Promise<FirehoseTopicDescription> {
    validateDeliveryStreamName(name);
    const d = await this.describe(name);
    if (d === undefined) throw deliveryStreamNotFound(name);
    const s3 = d.Destinations?.map((dest) => dest.ExtendedS3DestinationDescription ?? dest.S3DestinationDescription).find((x) => x !== undefined);
    return {
      name,
      partitions: undefined,
      retentionMs: undefined,
      status: d.DeliveryStreamStatus ?? "UNKNOWN",
      s3: s3?.BucketARN === undefined ? undefined : { bucket: s3.BucketARN.replace(/^arn:[^:]+:s3:::/, ""), prefix: s3.Prefix },
    };
  }

  async listTopics(): Promise<string[]> {
    const names: string[] = [];
    let after: string | undefined;
    // Bounded: at most 1,000 pages of 100 (an account holds far fewer delivery streams).
    for (let page = 0; page < 1_000; page++) {
      let out;
      try {
        out = await this.firehose.send(new ListDeliveryStreamsCommand({ Limit: 100, ...(after === undefined ? {} : { ExclusiveStartDeliveryStreamName: after }) }));
      } catch (err) {
        throw toFirehoseBrookError(err, "listTopics");
      }
      const got = out.DeliveryStreamNames ?? [];
      names.push(...got);
      if (out.HasMoreDeliveryStreams !== true || got.length === 0) break;
      after = got[got.length - 1];
    }
    return names;
  }

  async topicExists(name: string): Promise<boolean> {
    validateDeliveryStreamName(name);
    return (await this.describe(name)) !== undefined;
  }

  /** A publish-only sink has no consumer groups: refused, never answered with a guess. */
  async copyGroupPositions(topic: string, from: string, to: string): Promise<GroupPosition[]> {
    throw new BrookError("UNSUPPORTED", `copyGroupPositions of group "${from}" to "${to}" on delivery stream "${topic}": Firehose is publish-only, it has no consumer groups`);
  }

  async groupPositions(topic: string, group: string): Promise<GroupPosition[]> {
    validateDeliveryStreamName(topic);
    throw new BrookError("UNSUPPORTED", `groupPositions of group "${group}" on delivery stream "${topic}": Firehose is publish-only, it has no consumer groups`);
  }

  /** Records land in S3 objects, not at offsets. */
  async partitionOffsets(topic: string): Promise<PartitionOffsets[]> {
    validateDeliveryStreamName(topic);
    throw new BrookError("UNSUPPORTED", `partitionOffsets of delivery stream "${topic}": Firehose is publish-only, its records have no offsets`);
  }

  /** The stream's description, or undefined when there is no such stream. */
  private async describe(name: string): Promise<DeliveryStreamDescription | undefined> {
    try {
      return (await this.firehose.send(new DescribeDeliveryStreamCommand({ DeliveryStreamName: name }))).DeliveryStreamDescription;
    } catch (err) {
      if (awsErrorName(err) === "ResourceNotFoundException") return undefined;
      throw toFirehoseBrookError(err, `describe delivery stream "${name}"`);
    }
  }

  private async waitActive(name: string): Promise<void> {
    const d = await this.waitFor(name, (s) => s === undefined || s.DeliveryStreamStatus !== "CREATING", "to become ACTIVE");
    if (d === undefined) throw deliveryStreamNotFound(name);
    if (d.DeliveryStreamStatus !== "ACTIVE") {
      const reason = d.FailureDescription?.Details ?? d.FailureDescription?.Type ?? "no reason given";
      throw new BrookError("UNAVAILABLE", `delivery stream "${name}" is ${d.DeliveryStreamStatus ?? "in an unknown state"}, not ACTIVE: ${reason}`, { retriable: false });
    }
  }

  /** Polls the stream (100 ms, growing to 2 s) until `done`, at most STREAM_STATE_TIMEOUT_MS. */
  private async waitFor(name: string, done: (d: DeliveryStreamDescription | undefined) => boolean, what: string): Promise<DeliveryStreamDescription | undefined> {
    const deadline = Date.now() + STREAM_STATE_TIMEOUT_MS;
    for (let delay = 100; ; delay = Math.min(delay * 2, 2_000)) {
      const d = await this.describe(name);
      if (done(d)) return d;
      if (Date.now() > deadline) throw new BrookError("TIMEOUT", `delivery stream "${name}" did not get ${what} within ${STREAM_STATE_TIMEOUT_MS} ms (last status ${d?.DeliveryStreamStatus ?? "gone"})`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

function bufferingHints(s3: FirehoseS3Destination): { IntervalInSeconds?: number; SizeInMBs?: number } | undefined {
  const { bufferingIntervalSeconds: seconds, bufferingSizeMiB: mib } = s3;
  if (seconds !== undefined && (!Number.isSafeInteger(seconds) || seconds < 0 || seconds > 900)) throw invalidArgument("s3.bufferingIntervalSeconds", "an integer from 0 to 900", seconds);
  if (mib !== undefined && (!Number.isSafeInteger(mib) || mib < 1 || mib > 128)) throw invalidArgument("s3.bufferingSizeMiB", "an integer from 1 to 128", mib);
  if (seconds === undefined && mib === undefined) return undefined;
  return { ...(seconds === undefined ? {} : { IntervalInSeconds: seconds }), ...(mib === undefined ? {} : { SizeInMBs: mib }) };
}

/** Firehose delivery stream names: 1–64 characters of letters, digits, '_', '.' and '-'. */
export function validateDeliveryStreamName(name: unknown, field = "topic"): string {
  if (typeof name !== "string" || !/^[a-zA-Z0-9_.-]{1,64}$/.test(name)) {
    throw invalidArgument(field, "a Firehose delivery stream name (1-64 letters, digits, '_', '.' and '-')", name);
  }
  return name;
}
