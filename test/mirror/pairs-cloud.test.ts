// Mirroring to and from Event Hubs and Kinesis: local → Event Hubs, Event Hubs → local,
// local → Kinesis, Kinesis → local. Each pair runs scenario.ts: every message arrives with key,
// headers and idempotency key, per-key order kept; a group that consumed part of the source
// resumes on the target through translate with nothing skipped and at most the declared bound
// repeated. Kinesis sequence numbers have gaps: translate counts from the mirror's checkpoints
// and starts a Kinesis target at the last copy acknowledged before the checkpoint (counted).
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { connect, type Broker } from "@brook/core";
import "@brook/adapter-eventhubs";
import "@brook/adapter-kinesis";
import "@brook/local-broker";
import { uniqueTopic } from "@brook/contract-tests";
import { translate } from "@brook/mirror";
import { describeEventHubs, eventHubsUrl, testServerHubManager, uniqueContainer, type EventHubsUnderTest } from "../eventhubs/backend.js";
import { FAST_LEASES, describeKinesis, stopAfterAll, useKinesis } from "../kinesis/emulator.js";
import { runScenario } from "./scenario.js";

const WAIT = 90_000;

describeEventHubs("mirror with Event Hubs", (eh: EventHubsUnderTest) => {
  let hubs: Broker;
  let local: Broker;
  beforeAll(async () => {
    hubs = await connect(eventHubsUrl(eh, uniqueContainer("mirror")), { hubManager: testServerHubManager(eh.controlUrl) });
    local = await connect("memory:");
  });
  afterAll(async () => {
    await hubs?.close();
    await local?.close();
  });

  test("local → Event Hubs: every message with key, headers, idempotency key, in key order; a group moves with nothing skipped", async () => {
    await runScenario({ from: local, to: hubs, wait: WAIT });
  }, 240_000);

  test("Event Hubs → local: every message with key, headers, idempotency key, in key order; a group moves with nothing skipped", async () => {
    await runScenario({ from: hubs, to: local, wait: WAIT });
  }, 240_000);
});

describeKinesis("mirror with Kinesis", () => {
  const k = useKinesis();
  let kinesis: Broker;
  let local: Broker;
  beforeAll(async () => {
    kinesis = await connect(k.url(`${FAST_LEASES}&leaseTable=${uniqueTopic("mirror-leases")}-{group}`));
    local = await connect("memory:");
  });
  afterAll(async () => {
    await kinesis?.close();
    await local?.close();
  });
  stopAfterAll(k);

  test("local → Kinesis: every message with key, headers, idempotency key, in key order; a group moves with nothing skipped", async () => {
    await runScenario({ from: local, to: kinesis, wait: WAIT });
  }, 300_000);

  test("Kinesis → local: every message with key, headers, idempotency key, in key order; a group moves with nothing skipped", async () => {
    await runScenario({ from: kinesis, to: local, wait: WAIT });
  }, 300_000);

  test("translate onto Kinesis without a checkpoint early enough is refused with UNSUPPORTED, never a guessed position", async () => {
    const topic = uniqueTopic("mirror-src");
    const toTopic = uniqueTopic("mirror-dst");
    await local.admin.createTopic(topic, { partitions: 1 });
    await kinesis.admin.createTopic(toTopic, { partitions: 1 });
    const pub = local.publisher<{ i: number }>(topic);
    await pub.publish({ data: { i: 0 } });
    await pub.close();
    // g settled the message; no mirror ever ran, so the map is empty.
    const g = await local.subscribe(topic, { group: "g", startFrom: "earliest", handler: () => undefined });
    const deadline = Date.now() + 30_000;
    while ((await local.admin.groupPositions(topic, "g")).every((p) => p.committed === undefined) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await g.close();
    await expect(translate({ from: local, to: kinesis, topic, toTopic, group: "g" })).rejects.toMatchObject({ code: "UNSUPPORTED", message: expect.stringContaining(toTopic) });
  }, 120_000);
});

