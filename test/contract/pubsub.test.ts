import { connect } from "@brook/core";
import { pubsubCapabilities } from "@brook/adapter-pubsub";
import { runContractSuite } from "@brook/contract-tests";
import { describePubSub, pubsubUrl } from "../pubsub/emulator.js";

// The emulator's host comes from BROOK_TEST_PUBSUB_HOST (root runner) or from an emulator this
// file starts before the suite connects and stops after the suite has closed its broker.
describePubSub("pubsub emulator", (emulator) => {
  runContractSuite({
    name: "pubsub",
    connect: () => connect(pubsubUrl(emulator)),
    // Pub/Sub topics have no partitions: the suite's topics are created with partitions: 1.
    partitions: 1,
    capabilities: pubsubCapabilities({ emulator: true, messageOrdering: true }),
  });
});
