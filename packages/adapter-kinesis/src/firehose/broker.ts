import type { Capabilities, ConsumeOptions, Logger, Publisher, PublisherOptions, SubscribeOptions, Subscription } from "@brook/core";
import { BrokerSkeleton, CorePublisher, invalidArgument } from "@brook/core/spi";
import type { FirehoseClient } from "@aws-sdk/client-firehose";
import { FirehoseAdmin, validateDeliveryStreamName } from "./admin.js";
import { firehoseCapabilities } from "./capabilities.js";
import { firehoseUnsupported } from "./errors.js";
import { defaultFraming, type FirehoseEnvelope, type FramingMode, type RecordFormat } from "./framing.js";
import { ENVELOPES, FRAMINGS, type ResolvedFirehoseOptions } from "./options.js";
import { FirehosePublishTransport } from "./publisher.js";

/** publisher() options on Firehose: core's, plus how messages become records in S3 (framing.ts). */
export interface FirehosePublisherOptions<T> extends PublisherOptions<T> {
  /** "newline" (default for the json, string and auto codecs) or "none" (default for bytes and custom codecs) */
  framing?: FramingMode;
  /** "none" (default) or "json": one JSON object per line with data, key, headers, idempotencyKey, publishTime */
  envelope?: FirehoseEnvelope;
}

/**
 * A Brook broker over Amazon Data Firehose: a publish-only delivery sink. publisher() sends
 * PutRecordBatch calls to a delivery stream; subscribe() and consume() fail with UNSUPPORTED
 * (capabilities.subscribe is false). Admin creates DirectPut streams to S3.
 */
export class FirehoseBroker extends BrokerSkeleton<FirehoseAdmin, FirehosePublishTransport, never> {
  readonly capabilities: Capabilities = firehoseCapabilities();
  /** OpenTelemetry semantic conventions' name for Firehose */
  protected override readonly messagingSystem = "aws_firehose";

  constructor(
    url: string,
    readonly firehose: FirehoseClient,
    readonly options: ResolvedFirehoseOptions,
    logger?: Logger,
  ) {
    const admin = new FirehoseAdmin(firehose, { bucket: options.bucket, prefix: options.prefix, roleArn: options.roleArn }, logger ?? { debug() {}, info() {}, warn() {}, error() {} });
    super(url, admin, logger);
  }

  override publisher<T = unknown>(topic: string, options: FirehosePublisherOptions<T> = {}): Publisher<T> {
    const format = this.recordFormat(options);
    return this.buildPublisher<T, CorePublisher<T>>(topic, options, (transport, opts, onClose) => {
      transport.configure(format);
      return new CorePublisher<T>(transport, opts, { onClose });
    });
  }

  override subscribe<T = unknown>(topic: string, _options: SubscribeOptions<T>): Promise<Subscription> {
    return Promise.reject(this.refuse(`subscribe to delivery stream "${topic}"`));
  }

  override consume<T = unknown>(topic: string, _options: ConsumeOptions<T>): never {
    throw this.refuse(`consume from delivery stream "${topic}"`);
  }

  protected override checkTopicName(topic: string, field = "topic"): void {
    validateDeliveryStreamName(topic, field);
  }

  protected openTransport(topic: string): FirehosePublishTransport {
    return new FirehosePublishTransport(topic, this.firehose);
  }

  protected openSource(topic: string): Promise<never> {
    return Promise.reject(firehoseUnsupported(`subscribe to delivery stream "${topic}"`));
  }

  protected async closeConnection(): Promise<void> {
    this.firehose.destroy();
  }

  /** CLOSED on a closed broker (as everywhere), else UNSUPPORTED. */
  private refuse(what: string): Error {
    try {
      this.ensureOpen();
    } catch (err) {
      return err as Error;
    }
    return firehoseUnsupported(what);
  }

  private recordFormat<T>(options: FirehosePublisherOptions<T>): RecordFormat {
    const envelope = options.envelope ?? this.options.envelope;
    if (!(ENVELOPES as readonly unknown[]).includes(envelope)) throw invalidArgument("envelope", '"none" or "json"', envelope);
    const codec = options.codec === undefined ? "auto" : typeof options.codec === "string" ? options.codec : typeof options.codec === "object" && options.codec !== null ? options.codec.name : "custom";
    const framing = options.framing ?? this.options.framing ?? defaultFraming(codec, envelope);
    if (!(FRAMINGS as readonly unknown[]).includes(framing)) throw invalidArgument("framing", '"newline" or "none"', framing);
    if (envelope === "json" && framing === "none") throw invalidArgument("framing", '"newline" (or absent) with envelope "json", which writes one JSON object per line', framing);
    return { framing, envelope, codec };
  }
}
