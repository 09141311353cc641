// Mirroring between real backends: local → Kafka, Kafka → Pub/Sub, Pub/Sub → local. Each pair
// runs scenario.ts: every message arrives with key, headers and idempotency key, per-key order
// kept; a group that consumed part of the source resumes on the target through translate with
// nothing skipped and at most the declared bound repeated.
import { afterAll, beforeAll, describe, test } from "@jest/globals";
import { connect, type Broker } from "@brook/core";
import "@brook/adapter-kafka";
import "@brook/adapter-pubsub";
import "@brook/local-broker";
import { sleep } from "@brook/contract-tests";
import { useKafkaBroker } from "../kafka/broker.js";
import { describePubSub, pubsubUrl, type EmulatorHandle } from "../pubsub/emulator.js";
import { runScenario } from "./scenario.js";

const skipped = (process.env.BROOK_SKIP_BACKENDS ?? "").split(",");
const WAIT = 60_000;

/** The emulator seeks by whole seconds: rounds end in different seconds. */
async function nextSecond(): Promise<void> {
  await sleep(1_050 - (Date.now() % 1_000));
}

(skipped.includes("kafka") ? describe.skip : describe)("mirror with Kafka", () => {
  const kafka = useKafkaBroker();
  let local: Broker;
  let kafkaBroker: Broker;
  beforeAll(async () => {
    local = await connect("memory:");
    kafkaBroker = await connect(`kafka://${kafka.brokers()}?clientId=brook-mirror-test`);
  });
  afterAll(async () => {
    await local?.close();
    await kafkaBroker?.close();
  });
  afterAll(() => kafka.stop(), 30_000);

  test("local → Kafka: every message with key, headers, idempotency key, in key order; a group moves with nothing skipped", async () => {
    await runScenario({ from: local, to: kafkaBroker, wait: WAIT });
  }, 180_000);

  (skipped.includes("pubsub") ? describe.skip : describe)("and Pub/Sub", () => {
    describePubSub("Kafka → Pub/Sub", (emulator: EmulatorHandle) => {
      let ordered: Broker;
      let unordered: Broker;
      beforeAll(async () => {
        ordered = await connect(pubsubUrl(emulator));
        // The emulator seeks to a time only on subscriptions without message ordering.
        unordered = await connect(pubsubUrl(emulator, "&messageOrdering=false"));
      });
      afterAll(async () => {
        await ordered?.close();
        await unordered?.close();
      });
      test("Kafka → Pub/Sub: every message with key, headers, idempotency key, in key order; a group moves by time with nothing skipped", async () => {
        await runScenario({ from: kafkaBroker, to: ordered, translateTo: unordered, betweenRounds: nextSecond, coarseSeek: true, wait: WAIT });
      }, 240_000);
    });
  });
});

describePubSub("mirror from Pub/Sub", (emulator: EmulatorHandle) => {
  let pubsub: Broker;
  let local: Broker;
  beforeAll(async () => {
    pubsub = await connect(pubsubUrl(emulator));
    local = await connect("memory:");
  });
  afterAll(async () => {
    await pubsub?.close();
    await local?.close();
  });
  test("Pub/Sub → local: every message with key, headers, idempotency key, in key order; a group moves from a time to offsets with nothing skipped", async () => {
    await runScenario({ from: pubsub, to: local, betweenRounds: nextSecond, wait: WAIT });
  }, 240_000);
});
