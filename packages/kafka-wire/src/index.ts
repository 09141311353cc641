/**
 * `@brook/kafka-wire`: Kafka's wire protocol over the local broker's engine, so Kafka clients
 * (kafkajs, librdkafka, the Java client) produce to and consume from the same log and groups as
 * `local:`, `memory:` and `brook://`. See README.md for what is implemented.
 */
export { startKafkaWire } from "./server.js";
export type { KafkaWireOptions, KafkaWireServer } from "./server.js";
