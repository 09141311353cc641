import { afterAll } from "@jest/globals";
import { connect } from "@brook/core";
import { DEFAULT_MESSAGE_MAX_BYTES, kafkaCapabilities } from "@brook/adapter-kafka";
import { runContractSuite } from "@brook/contract-tests";
import { useKafkaBroker } from "../kafka/broker.js";

const kafka = useKafkaBroker();

runContractSuite({ name: "kafka", connect: () => connect(kafka.url("clientId=brook-contract")),
  capabilities: kafkaCapabilities(DEFAULT_MESSAGE_MAX_BYTES),
});

// After the suite's own afterAll, which closes its subscriptions and broker connection.
afterAll(() => kafka.stop(), 30_000);
