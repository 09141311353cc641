/**
 * Brook and the plain @azure/event-hubs SDK on one event hub: a raw consumer reads what Brook
 * published (body, partition key, properties, message id intact), Brook reads what a raw
 * producer sent. Also the error mapping a user relies on: a missing hub, a wrong key, a
 * throttled send.
 */
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { BrookError, connect, type Broker, type ReceivedMessage } from "@brook/core";
import "@brook/adapter-eventhubs";
import type { EventHubsBroker } from "@brook/adapter-eventhubs";
import { uniqueTopic, waitFor } from "@brook/contract-tests";
import { EventHubConsumerClient, EventHubProducerClient, earliestEventPosition, type ReceivedEventData } from "@azure/event-hubs";
import { describeEventHubs, eventHubsUrl, fault, testServerHubManager, uniqueContainer } from "./backend.js";

describeEventHubs("interop with the raw SDK", (eh) => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await connect(eventHubsUrl(eh, uniqueContainer("interop")), { hubManager: testServerHubManager(eh.controlUrl) });
  });
  afterAll(async () => {
    await broker?.close();
  });

  test("a raw consumer reads what Brook published: body bytes, key as partition key, headers as properties, idempotency key as messageId", async () => {
    const hub = uniqueTopic("to-raw");
    await broker.admin.createTopic(hub, { partitions: 2 });
    const r = await broker.publisher<{ total: number }>(hub).publish({ key: "cust-42", idempotencyKey: "order-1001", headers: { source: "web" }, data: { total: 12 } });
    const consumer = new EventHubConsumerClient("$Default", eh.connectionString, hub);
    const got: Array<{ partition: string; event: ReceivedEventData }> = [];
    const sub = consumer.subscribe(
      { processEvents: async (events, ctx) => void events.forEach((event) => got.push({ partition: ctx.partitionId, event })), processError: async () => undefined },
      { startPosition: earliestEventPosition, skipParsingBodyAsJson: true, maxWaitTimeInSeconds: 0.5 },
    );
    try {
      await waitFor(() => got.length === 1, 20_000, "the raw consumer to read the event");
    } finally {
      await sub.close();
      await consumer.close();
    }
    const { partition, event } = got[0]!;
    expect(Buffer.from(event.body as Buffer).toString("utf8")).toBe(JSON.stringify({ total: 12 }));
    expect(event.partitionKey).toBe("cust-42");
    expect(event.properties).toMatchObject({ source: "web" });
    expect(event.messageId).toBe("order-1001");
    // The auto codec's content-type header is also the event's AMQP content-type.
    expect(event.contentType).toBe("application/json");
    expect(event.properties).toMatchObject({ "content-type": "application/json" });
    expect({ partition, offset: String(event.sequenceNumber) }).toEqual(r.position);
  });

  test("Brook reads what a raw producer sent: partition key as key, properties as headers, messageId as idempotency key, AMQP content-type decides the body", async () => {
    const hub = uniqueTopic("from-raw");
    await broker.admin.createTopic(hub, { partitions: 2 });
    const got: ReceivedMessage<unknown>[] = [];
    await broker.subscribe<unknown>(hub, { group: "brook", startFrom: "earliest", handler: (m) => void got.push(m) });
    const producer = new EventHubProducerClient(eh.connectionString, hub);
    try {
      const batch = await producer.createBatch({ partitionKey: "cust-7" });
      expect(batch.tryAdd({ body: Buffer.from(JSON.stringify({ n: 1 })), contentType: "application/json", properties: { region: "eu", attempt: 3 }, messageId: "raw-1" })).toBe(true);
      // No content type: the auto codec hands the bytes as they are.
      expect(batch.tryAdd({ body: Buffer.from(JSON.stringify({ n: 2 })) })).toBe(true);
      await producer.sendBatch(batch);
    } finally {
      await producer.close();
    }
    await waitFor(() => got.length === 2, 20_000, "Brook to read both events");
    expect(got[0]!.data).toEqual({ n: 1 });
    expect(got[0]!.headers["content-type"]).toBe("application/json");
    expect(got[1]!.data).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(got[1]!.data as Uint8Array).toString("utf8")).toBe(JSON.stringify({ n: 2 }));
    expect(got.map((m) => m.key)).toEqual(["cust-7", "cust-7"]);
    expect(got[0]!.headers).toMatchObject({ region: "eu", attempt: "3" });
    expect(got[0]!.idempotencyKey).toBe("raw-1");
    expect(got[1]!.idempotencyKey).toBeUndefined();
    expect(got[0]!.position.offset).toBe(String(Number(got[1]!.position.offset) - 1));
  });

  test("a publisher with partitionId sends every event to that partition; an unknown partition is INVALID_ARGUMENT", async () => {
    const hub = uniqueTopic("pinned");
    await broker.admin.createTopic(hub, { partitions: 3 });
    const eventhubs = broker as EventHubsBroker;
    const results = await eventhubs.publisher<number>(hub, { partitionId: "1" }).publishBatch([0, 1, 2, 3].map((i) => ({ key: `k${i}`, data: i })));
    expect(results.map((r) => r.ok && r.position)).toEqual([0, 1, 2, 3].map((i) => ({ partition: "1", offset: String(i) })));
    const [bad] = await eventhubs.publisher<number>(hub, { partitionId: "7", maxRetries: 0 }).publishBatch([{ data: 1 }]);
    expect(!bad!.ok && bad!.error.code).toBe("INVALID_ARGUMENT");
    expect(() => eventhubs.publisher(hub, { partitionId: "one" })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }) as unknown as Error);
  });

  test("a missing event hub is TOPIC_NOT_FOUND for publish and subscribe", async () => {
    const hub = uniqueTopic("missing");
    await expect(broker.publisher(hub, { maxRetries: 0 }).publish({ data: 1 })).rejects.toMatchObject({ code: "TOPIC_NOT_FOUND" });
    await expect(broker.subscribe(hub, { group: "g", handler: () => undefined })).rejects.toMatchObject({ code: "TOPIC_NOT_FOUND" });
    expect(await broker.admin.topicExists(hub)).toBe(false);
  });

  test("without a hubManager, createTopic with ifNotExists accepts a hub made beforehand (as in Azure) and is UNSUPPORTED for a missing one", async () => {
    const made = uniqueTopic("premade");
    await broker.admin.createTopic(made, { partitions: 2 }); // the management plane's part
    const plain = await connect(eventHubsUrl(eh, uniqueContainer("premade")));
    try {
      await expect(plain.admin.createTopic(made, { partitions: 2, ifNotExists: true })).resolves.toBeUndefined();
      await expect(plain.admin.createTopic(made, { partitions: 2 })).rejects.toMatchObject({ code: "UNSUPPORTED", message: expect.stringContaining("hubManager") });
      const missing = uniqueTopic("not-made");
      await expect(plain.admin.createTopic(missing, { ifNotExists: true })).rejects.toMatchObject({ code: "UNSUPPORTED", message: expect.stringContaining("hubManager") });
      expect(await plain.admin.topicExists(missing)).toBe(false);
    } finally {
      await plain.close();
    }
  });

  test("com.microsoft:server-busy (ServerBusyError) is THROTTLED, retriable, with the SDK's error as cause", async () => {
    const hub = uniqueTopic("busy");
    await broker.admin.createTopic(hub, { partitions: 1 });
    const noRetries = await connect(`${eventHubsUrl(eh, uniqueContainer("busy"))}&maxRetries=0`);
    try {
      const pub = noRetries.publisher<number>(hub, { maxRetries: 0 });
      await pub.publish({ data: 0 }); // the sender link is attached before the fault
      await fault(eh, { serverBusy: 1 });
      const err = (await pub.publish({ data: 1 }).catch((e: unknown) => e)) as BrookError;
      expect(err).toBeInstanceOf(BrookError);
      expect(err.code).toBe("THROTTLED");
      expect(err.retriable).toBe(true);
      expect((err.cause as { code?: string }).code).toBe("ServerBusyError");
      // The next send goes through: the fault was one send long.
      await expect(pub.publish({ data: 2 })).resolves.toMatchObject({ duplicate: false });
    } finally {
      await fault(eh, { serverBusy: 0 });
      await noRetries.close();
    }
  });

  test("a wrong shared access key is UNAUTHENTICATED with the SDK's error as cause", async () => {
    const hub = uniqueTopic("auth");
    await broker.admin.createTopic(hub, { partitions: 1 });
    const wrong = eh.connectionString.replace(/SharedAccessKey=[^;]*/, "SharedAccessKey=not-the-key");
    const bad = await connect(`eventhubs://?connectionString=${encodeURIComponent(wrong)}&maxRetries=0`);
    try {
      const err = (await bad.publisher<number>(hub, { maxRetries: 0 }).publish({ data: 1 }).catch((e: unknown) => e)) as BrookError;
      expect(err).toBeInstanceOf(BrookError);
      expect(err.code).toBe("UNAUTHENTICATED");
      expect((err.cause as { code?: string }).code).toBe("UnauthorizedError");
    } finally {
      await bad.close();
    }
  });
});
