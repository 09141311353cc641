import { connect } from "@brook/core";
import { firehoseCapabilities } from "@brook/adapter-kinesis";
import { runContractSuite } from "@brook/contract-tests";
import { beforeAll } from "@jest/globals";
import { describeMoto, useMoto } from "../firehose/moto.js";

// Firehose is publish-only (capabilities.subscribe false): the suite runs its publish and
// bad-input cases and reports every case that reads back as skipped by capability "subscribe".
describeMoto("firehose on moto", () => {
  const moto = useMoto();
  let bucket = "";
  beforeAll(async () => {
    bucket = await moto.bucket("brook-contract");
  });
  runContractSuite({
    name: "firehose",
    // The suite's createTopic(name, { partitions }) gets the broker's default bucket.
    connect: () => connect(moto.url(`&bucket=${bucket}`)),
    capabilities: firehoseCapabilities(),
  });
});
