/**
 * A receiver that goes silent (the link stays attached, nothing more arrives: what users of the
 * SDK report) is caught by core's stall watchdog: the subscription emits "stalled", and the
 * adapter restarts that partition's receiver, which then delivers what was waiting, once.
 */
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { connect, type Broker, type PartitionHealth } from "@brook/core";
import "@brook/adapter-eventhubs";
import { uniqueTopic, waitFor } from "@brook/contract-tests";
import { describeEventHubs, eventHubsUrl, fault, testServerHubManager, uniqueContainer } from "./backend.js";

describeEventHubs("silent receivers", (eh) => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await connect(eventHubsUrl(eh, uniqueContainer("stall")), { hubManager: testServerHubManager(eh.controlUrl) });
  });
  afterAll(async () => {
    await broker?.close();
  });

  test("a partition whose receiver went silent emits stalled, its receiver is restarted, and the waiting messages arrive once", async () => {
    const hub = uniqueTopic("stall");
    await broker.admin.createTopic(hub, { partitions: 2 });
    const got: number[] = [];
    const stalls: PartitionHealth[] = [];
    const sub = await broker.subscribe<number>(hub, { group: "g", startFrom: "earliest", stallTimeoutMs: 1_500, handler: (m) => void got.push(m.data) });
    sub.on("stalled", (h) => stalls.push(h));
    const pub = broker.publisher<number>(hub);
    const first = await pub.publish({ key: "k", data: 1 });
    await waitFor(() => got.length === 1, 20_000, "the first message");
    const partition = first.position.partition;
    expect(await fault(eh, { stall: { hub, partition } })).toEqual({ stalledReceivers: 1 });
    await pub.publishBatch([2, 3, 4].map((data) => ({ key: "k", data })));
    await waitFor(() => got.length >= 4, 30_000, `the messages published after the receiver went silent (got ${JSON.stringify(got)}, stalls ${stalls.length})`);
    expect(stalls.map((h) => h.partition)).toContain(partition);
    expect(stalls.find((h) => h.partition === partition)!.lag).toBeGreaterThan(0);
    await pub.publish({ key: "k", data: 5 });
    await waitFor(() => got.length >= 5, 20_000, "a message after the restart");
    expect(got).toEqual([1, 2, 3, 4, 5]);
    expect(sub.assignment()).toContain(partition);
    await pub.close();
    await sub.close();
  }, 90_000);
});
