import { BrookError, defaultLogger, toLogger, type ConnectOptions, type Logger } from "@brook/core";
import { registerBackend } from "@brook/core/spi";
import { KafkaBroker } from "./broker.js";
import { DEFAULT_MESSAGE_MAX_BYTES } from "./capabilities.js";
import { toKafkaBrookError } from "./errors.js";
import { kafkajsDriver } from "./kafkajs-driver.js";
import { parseKafkaUrl, resolveKafkaOptions } from "./options.js";
import type { KafkaBrokerOptions, KafkaDriverName } from "./options.js";
import type { KafkaDriverFactory } from "./driver.js";

export { KafkaBroker } from "./broker.js";
export { KafkaAdmin } from "./admin.js";
export { KafkaPublishTransport, javaCompatiblePartitioner } from "./publisher.js";
export { KafkaSubscriptionSource } from "./subscriber.js";
export type { KafkaSourceOptions } from "./subscriber.js";
export { kafkaCapabilities, kafkaLimits, DEFAULT_MESSAGE_MAX_BYTES, RECORD_OVERHEAD_BYTES } from "./capabilities.js";
export { kafkaErrorType, toKafkaBrookError } from "./errors.js";
export { formatKafkaUrl, parseKafkaUrl, resolveKafkaOptions } from "./options.js";
export type { KafkaBrokerOptions, KafkaDriverName, ResolvedKafkaOptions } from "./options.js";
export type { KafkaGroupInfo, KafkaGroupPartition, KafkaMovedPartition, KafkaSeekTo } from "./groups.js";
export { kafkajsDriver } from "./kafkajs-driver.js";
export type * from "./driver.js";

/** Opens `kafka://host:port,host:port?clientId=…`; typed options (KafkaBrokerOptions) win over the URL. */
export async function connectKafka(url: string, options: ConnectOptions = {}): Promise<KafkaBroker> {
  const opts = resolveKafkaOptions(parseKafkaUrl(url), options);
  const logger = toLogger(options.logger) ?? defaultLogger;
  const factory = typeof opts.driver === "function" ? opts.driver : await loadDriver(opts.driver);
  const driver = factory({
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

/** Node version @platformatic/kafka 2.12.1 needs (its engines field: ">= 22.22.0"). */
const PLATFORMATIC_NODE = [22, 22] as const;

/** The shipped driver of that name; @platformatic/kafka is loaded only when asked for. */
export async function loadDriver(name: KafkaDriverName): Promise<KafkaDriverFactory> {
  if (name === "kafkajs") return kafkajsDriver;
  const [major, minor] = process.versions.node.split(".").map(Number) as [number, number];
  if (major < PLATFORMATIC_NODE[0] || (major === PLATFORMATIC_NODE[0] && minor < PLATFORMATIC_NODE[1])) {
    throw new BrookError(
      "UNSUPPORTED",
      `driver: "platformatic" (@platformatic/kafka) needs Node >= ${PLATFORMATIC_NODE.join(".")}; this is Node ${process.versions.node} (use driver "kafkajs" here)`,
    );
  }
  try {
    return (await import("./platformatic-driver.js")).platformaticDriver;
  } catch (err) {
    throw new BrookError(
      "UNSUPPORTED",
      `driver: "platformatic" needs the optional package @platformatic/kafka installed beside @brook/adapter-kafka (e.g. npm install @platformatic/kafka@2.12.1): ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
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
