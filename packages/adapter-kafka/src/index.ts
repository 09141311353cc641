import { defaultLogger, toLogger, type ConnectOptions, type Logger } from "@brook/core";
import { registerBackend } from "@brook/core/spi";
import { KafkaBroker } from "./broker.js";
import { DEFAULT_MESSAGE_MAX_BYTES } from "./capabilities.js";
import { toKafkaBrookError } from "./errors.js";
import { kafkajsDriver } from "./kafkajs-driver.js";
import { parseKafkaUrl, resolveKafkaOptions } from "./options.js";
import type { KafkaBrokerOptions } from "./options.js";

export { KafkaBroker } from "./broker.js";
export { KafkaAdmin } from "./admin.js";
export { KafkaPublishTransport, javaCompatiblePartitioner } from "./publisher.js";
export { KafkaSubscriptionSource } from "./subscriber.js";
export type { KafkaSourceOptions } from "./subscriber.js";
export { kafkaCapabilities, kafkaLimits, DEFAULT_MESSAGE_MAX_BYTES, RECORD_OVERHEAD_BYTES } from "./capabilities.js";
export { kafkaErrorType, toKafkaBrookError } from "./errors.js";
export { formatKafkaUrl, parseKafkaUrl, resolveKafkaOptions } from "./options.js";
export type { KafkaBrokerOptions, ResolvedKafkaOptions } from "./options.js";
export type { KafkaGroupInfo, KafkaGroupPartition, KafkaMovedPartition, KafkaSeekTo } from "./groups.js";
export { kafkajsDriver } from "./kafkajs-driver.js";
export type * from "./driver.js";

/** Opens `kafka://host:port,host:port?clientId=…`; typed options (KafkaBrokerOptions) win over the URL. */
export async function connectKafka(url: string, options: ConnectOptions = {}): Promise<KafkaBroker> {
  const opts = resolveKafkaOptions(parseKafkaUrl(url), options);
  const logger = toLogger(options.logger) ?? defaultLogger;
  const driver = (opts.driver ?? kafkajsDriver)({
    brokers: opts.brokers,
    clientId: opts.clientId,
    ssl: opts.ssl,
    sasl: opts.sasl,
    connectionTimeoutMs: opts.connectionTimeoutMs,
    requestTimeoutMs: opts.requestTimeoutMs,
    logLevel: opts.logLevel,
    logger,
  });
  const admin = driver.admin();
  try {
    await admin.connect();
  } catch (err) {
    await admin.close().catch(() => undefined);
    throw toKafkaBrookError(err, `connect to Kafka at ${opts.brokers.join(",")}`);
  }
  let messageMaxBytes = opts.maxMessageBytes;
  if (messageMaxBytes === undefined) {
    messageMaxBytes = (await admin.messageMaxBytes().catch(() => undefined)) ?? DEFAULT_MESSAGE_MAX_BYTES;
  }
  return new KafkaBroker(url, driver, admin, opts, messageMaxBytes, logger);
}

registerBackend("kafka", connectKafka);

declare module "@brook/core" {
  interface ConnectOptionsByScheme {
    kafka: KafkaBrokerOptions;
  }
  interface BrokersByScheme {
    kafka: KafkaBroker;
  }
}
