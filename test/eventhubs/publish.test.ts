/**
 * What the Event Hubs publisher does with sizes and spans: events packed into EventDataBatches
 * with tryAdd under the size the service announces (1 MiB on the test server, as on Standard),
 * an event that fits no batch is MESSAGE_TOO_LARGE on its own entry while the others of the call
 * are sent in order, and the largest event the capabilities allow is accepted by the service.
 */
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { connect, type Broker } from "@brook/core";
import "@brook/adapter-eventhubs";
import type { EventHubsBroker } from "@brook/adapter-eventhubs";
import { uniqueTopic, waitFor } from "@brook/contract-tests";
import { describeEventHubs, eventHubsUrl, testServerHubManager, uniqueContainer } from "./backend.js";

const KIB = 1024;

describeEventHubs("publishing", (eh) => {
  let broker: Broker;
  /** announces 4 MiB (Premium-like), so core lets events through that the test server's 1 MiB link refuses */
  let large: EventHubsBroker;
  beforeAll(async () => {
    broker = await connect(eventHubsUrl(eh, uniqueContainer("publish")), { hubManager: testServerHubManager(eh.controlUrl) });
    large = (await connect(`${eventHubsUrl(eh, uniqueContainer("publish"))}&maxMessageBytes=${4 * KIB * KIB}`)) as EventHubsBroker;
  });
  afterAll(async () => {
    await Promise.allSettled([broker?.close(), large?.close()]);
  });

  test("one call larger than the service's batch size is packed into several batches, in order, each entry with its sequence number", async () => {
    const hub = uniqueTopic("packed");
    await broker.admin.createTopic(hub, { partitions: 2 });
    // 4 × 400 KiB to one partition: no single 1 MiB batch holds them (the server refuses larger transfers).
    const values = [0, 1, 2, 3].map((i) => Buffer.alloc(400 * KIB, 0x30 + i));
    const results = await large.publisher<Buffer>(hub, { partitionId: "1", codec: "bytes" }).publishBatch(values.map((data) => ({ data })));
    expect(results.map((r) => (r.ok ? r.position : r.error.code))).toEqual([0, 1, 2, 3].map((i) => ({ partition: "1", offset: String(i) })));
    const got: Buffer[] = [];
    const sub = await broker.subscribe<Buffer>(hub, { group: "g", startFrom: "earliest", codec: "bytes", handler: (m) => void got.push(Buffer.from(m.data)) });
    await waitFor(() => got.length === 4, 20_000, "the four events");
    await sub.close();
    expect(got.map((b) => [b.length, b[0]])).toEqual(values.map((v) => [v.length, v[0]]));
  });

  test("an event that fits no batch is MESSAGE_TOO_LARGE on its own entry; the others of the call are sent in order", async () => {
    const hub = uniqueTopic("oversize");
    await broker.admin.createTopic(hub, { partitions: 1 });
    const results = await large
      .publisher<Buffer>(hub, { codec: "bytes", maxRetries: 0 })
      .publishBatch([{ data: Buffer.from("a") }, { data: Buffer.alloc(2 * KIB * KIB) }, { data: Buffer.from("c") }]);
    expect(results[0]).toMatchObject({ ok: true, position: { partition: "0", offset: "0" } });
    expect(!results[1]!.ok && results[1]!.error.code).toBe("MESSAGE_TOO_LARGE");
    expect(!results[1]!.ok && results[1]!.error.message).toContain("the service's limit");
    expect(results[2]).toMatchObject({ ok: true, position: { partition: "0", offset: "1" } });
  });

  test("publishPositions=none sends without position reads: each entry ok with its partition and an empty offset, the events arrive in order", async () => {
    const hub = uniqueTopic("nopos");
    await broker.admin.createTopic(hub, { partitions: 2 });
    const fast = await connect(`${eventHubsUrl(eh, uniqueContainer("nopos"))}&publishPositions=none`);
    try {
      const results = await fast.publisher<number>(hub).publishBatch([0, 1, 2].map((i) => ({ key: "one-key", data: i })));
      const partition = results[0]!.ok ? results[0]!.position.partition : "?";
      expect(results.map((r) => (r.ok ? r.position : r.error.code))).toEqual([0, 1, 2].map(() => ({ partition, offset: "" })));
      const got: Array<[number, string]> = [];
      const sub = await broker.subscribe<number>(hub, { group: "g", startFrom: "earliest", handler: (m) => void got.push([m.data, m.position.partition]) });
      await waitFor(() => got.length === 3, 20_000, "the three events");
      await sub.close();
      expect(got).toEqual([0, 1, 2].map((i) => [i, partition]));
    } finally {
      await fast.close();
    }
  });

  test("the largest event the capabilities allow (key, idempotency key and headers included) is accepted by the service", async () => {
    const hub = uniqueTopic("largest");
    await broker.admin.createTopic(hub, { partitions: 1 });
    const key = "customer-000042";
    const idempotencyKey = "7c9e6679-7425-40de-944b-e07fc1f66afe";
    const headers = { source: "web", "content-type": "application/octet-stream" };
    const framing = key.length + idempotencyKey.length + Object.entries(headers).reduce((n, [k, v]) => n + k.length + v.length, 0);
    const data = Buffer.alloc(broker.capabilities.maxMessageBytes - framing, 0x61);
    const pub = broker.publisher<Buffer>(hub, { codec: "bytes", maxRetries: 0 });
    await expect(pub.publish({ key, idempotencyKey, headers, data })).resolves.toMatchObject({ position: { partition: "0", offset: "0" } });
    // One byte more is refused by core before it reaches the service, naming the limit.
    await expect(pub.publish({ key, idempotencyKey, headers, data: Buffer.alloc(data.length + 1) })).rejects.toMatchObject({ code: "MESSAGE_TOO_LARGE" });
  });
});
