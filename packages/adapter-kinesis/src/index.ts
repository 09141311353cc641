import { defaultLogger, toLogger, type ConnectOptions } from "@brook/core";
import { registerBackend } from "@brook/core/spi";
import { KinesisClient } from "@aws-sdk/client-kinesis";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { FirehoseClient } from "@aws-sdk/client-firehose";
import { KinesisBroker } from "./broker.js";
import { FirehoseBroker } from "./firehose/broker.js";
import { parseFirehoseUrl, resolveFirehoseOptions, type FirehoseBrokerOptions } from "./firehose/options.js";
import { parseKinesisUrl, resolveKinesisOptions, type KinesisBrokerOptions, type ResolvedKinesisOptions } from "./options.js";

export { KinesisBroker } from "./broker.js";
export type { KinesisPublisherOptions } from "./broker.js";
export { KinesisAdmin, validateStreamName } from "./admin.js";
export { KinesisPublishTransport } from "./publisher.js";
export { KinesisSubscriptionSource } from "./subscriber.js";
export { kinesisCapabilities, kinesisLimits, PUT_RECORDS_MAX_BYTES, PUT_RECORDS_MAX_COUNT, RECORD_OVERHEAD_BYTES } from "./capabilities.js";
export { toKinesisBrookError, recordError } from "./errors.js";
export { fillNameTemplate, formatKinesisUrl, parseKinesisUrl, resolveKinesisOptions, MAX_RECORD_BYTES } from "./options.js";
export type { EnvelopeMode, KinesisBrokerOptions, KinesisCredentials, LeaseKeyMode, ResolvedKinesisOptions } from "./options.js";
export { KPL_MAGIC, decodeAggregate, encodeAggregate, isAggregate } from "./kpl.js";
export type { KplSubRecord } from "./kpl.js";
export { UNKEYED_PREFIX, compareSequence, formatOffset, hashOfPartitionKey, parseOffset } from "./records.js";
export { LeaseKeys } from "./leases/lease.js";
export { FirehoseBroker } from "./firehose/broker.js";
export type { FirehosePublisherOptions } from "./firehose/broker.js";
export { FirehoseAdmin, validateDeliveryStreamName } from "./firehose/admin.js";
export type { FirehoseS3Destination, FirehoseTopicDescription, FirehoseTopicOptions } from "./firehose/admin.js";
export { FirehosePublishTransport } from "./firehose/publisher.js";
export { firehoseCapabilities, firehoseLimits, PUT_RECORD_BATCH_MAX_BYTES, PUT_RECORD_BATCH_MAX_COUNT } from "./firehose/capabilities.js";
export { toFirehoseBrookError } from "./firehose/errors.js";
export { DROPPED_HEADERS, MAX_FIREHOSE_RECORD_BYTES, defaultFraming, toRecord } from "./firehose/framing.js";
export type { FirehoseEnvelope, FramingMode, RecordFormat } from "./firehose/framing.js";
export { LOCAL_ROLE_ARN, parseFirehoseUrl, resolveFirehoseOptions } from "./firehose/options.js";
export type { FirehoseBrokerOptions, ResolvedFirehoseOptions } from "./firehose/options.js";
export type { Lease } from "./leases/lease.js";

/** The AWS clients a broker uses, built from resolved options (HTTP/1.1, bounded timeouts). */
export function kinesisClients(opts: ResolvedKinesisOptions): { kinesis: KinesisClient; dynamo: DynamoDBClient } {
  const common = {
    region: opts.region,
    ...(opts.credentials === undefined ? {} : { credentials: opts.credentials }),
  };
  // HTTP/1.1 through @smithy/node-http-handler: SubscribeToShard needs it against emulators
  // (the default HTTP/2 handler fails there with "Deserialization error"), and one handler kind
  // for every call keeps connection limits in one place.
  const handler = (): NodeHttpHandler => new NodeHttpHandler({ connectionTimeout: opts.connectionTimeoutMs, requestTimeout: opts.requestTimeoutMs });
  const kinesis = new KinesisClient({ ...common, ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }), requestHandler: handler() });
  const dynamo = new DynamoDBClient({ ...common, ...(opts.dynamoEndpoint === undefined ? {} : { endpoint: opts.dynamoEndpoint }), requestHandler: handler() });
  return { kinesis, dynamo };
}

/** Opens `kinesis://<region>?endpoint=…&dynamoEndpoint=…&leaseTable=…`; typed options (KinesisBrokerOptions) win over the URL. */
export async function connectKinesis(url: string, options: ConnectOptions = {}): Promise<KinesisBroker> {
  const opts = resolveKinesisOptions(parseKinesisUrl(url), options);
  const logger = toLogger(options.logger) ?? defaultLogger;
  const { kinesis, dynamo } = kinesisClients(opts);
  return new KinesisBroker(url, kinesis, dynamo, opts, logger);
}

/**
 * Opens `firehose://<region>?endpoint=…&bucket=…`: a publish-only broker onto Firehose delivery
 * streams; typed options (FirehoseBrokerOptions) win over the URL.
 */
export async function connectFirehose(url: string, options: ConnectOptions = {}): Promise<FirehoseBroker> {
  const opts = resolveFirehoseOptions(parseFirehoseUrl(url), options);
  const logger = toLogger(options.logger) ?? defaultLogger;
  // HTTP/1.1 with bounded timeouts, as for Kinesis (one handler kind for every AWS call).
  const firehose = new FirehoseClient({
    region: opts.region,
    ...(opts.credentials === undefined ? {} : { credentials: opts.credentials }),
    ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }),
    requestHandler: new NodeHttpHandler({ connectionTimeout: opts.connectionTimeoutMs, requestTimeout: opts.requestTimeoutMs }),
  });
  return new FirehoseBroker(url, firehose, opts, logger);
}

registerBackend("kinesis", connectKinesis);
registerBackend("firehose", connectFirehose);

declare module "@brook/core" {
  interface ConnectOptionsByScheme {
    kinesis: KinesisBrokerOptions;
    firehose: FirehoseBrokerOptions;
  }
  interface BrokersByScheme {
    kinesis: KinesisBroker;
    firehose: FirehoseBroker;
  }
}
