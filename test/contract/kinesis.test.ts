import { connect } from "@brook/core";
import { kinesisCapabilities } from "@brook/adapter-kinesis";
import { runContractSuite } from "@brook/contract-tests";
import { FAST_LEASES, describeKinesis, stopAfterAll, useKinesis } from "../kinesis/emulator.js";

describeKinesis("kinesis on kinesis-local + dynalite", () => {
  const kinesis = useKinesis();
  runContractSuite({
    name: "kinesis",
    connect: () => connect(kinesis.url(FAST_LEASES)),
    capabilities: kinesisCapabilities(),
    // kinesis-local takes ~700 records/s into a fresh stream and reads poll on an interval.
    timeoutScale: 3,
  });
  // After the suite's own afterAll, which closes its subscriptions and broker connection.
  stopAfterAll(kinesis);
});
