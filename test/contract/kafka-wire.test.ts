/**
 * Brook's Kafka adapter contract suite, unchanged, against `@brook/kafka-wire` (the local
 * broker speaking Kafka's protocol) instead of a real Kafka broker.
 */
import { afterAll, beforeAll } from "@jest/globals";
import { connect } from "@brook/core";
import { DEFAULT_MESSAGE_MAX_BYTES, kafkaCapabilities } from "@brook/adapter-kafka";
import { runContractSuite } from "@brook/contract-tests";
import { startKafkaWire, type KafkaWireServer } from "@brook/kafka-wire";
import { LogEngine, MemoryStore } from "@brook/local-broker/engine";

let engine: LogEngine;
let server: KafkaWireServer;

beforeAll(async () => {
  engine = await LogEngine.open(new MemoryStore(), { maxMessageBytes: DEFAULT_MESSAGE_MAX_BYTES });
  server = await startKafkaWire({ engine, port: 0 });
});

runContractSuite({
  name: "kafka-wire",
  connect: () => connect(`kafka://${server.address}?clientId=brook-contract`),
  capabilities: kafkaCapabilities(DEFAULT_MESSAGE_MAX_BYTES),
});

// After the suite's own afterAll, which closes its subscriptions and broker connection.
afterAll(async () => {
  await server.close();
  await engine.close();
});
