// Pub/Sub's attribute and size limits, which the emulator does not enforce: Brook checks them
// before sending, per entry, naming the header.
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { connect, type ReceivedMessage } from "@brook/core";
import { uniqueTopic, waitFor, sleep } from "@brook/contract-tests";
import type { PubSubBroker } from "@brook/adapter-pubsub";
import "@brook/adapter-pubsub";
import { describePubSub, pubsubUrl } from "./emulator.js";

describePubSub("pubsub: limits", (emulator) => {
  let broker: PubSubBroker;

  beforeAll(async () => {
    broker = (await connect(pubsubUrl(emulator))) as PubSubBroker;
  });
  afterAll(async () => {
    await broker?.close();
  });

  function headers(count: number): Record<string, string> {
    return Object.fromEntries(Array.from({ length: count }, (_, i) => [`h${i}`, `v${i}`]));
  }

  test("attribute limits: 100 headers, names <= 256 bytes, values <= 1024 bytes, no goog prefix", async () => {
    const topic = uniqueTopic("limits");
    await broker.admin.createTopic(topic);
    const got: ReceivedMessage<string>[] = [];
    await broker.subscribe<string>(topic, { group: "g", codec: "string", handler: (m) => void got.push(m) });
    const pub = broker.publisher<string>(topic, { codec: "string" });
    const results = await pub.publishBatch([
      { data: "100-headers", headers: headers(100) },
      { data: "101-headers", headers: headers(101) },
      { data: "99-headers+idempotency", headers: headers(99), idempotencyKey: "id-1" },
      { data: "100-headers+idempotency", headers: headers(100), idempotencyKey: "id-2" },
      { data: "long-name", headers: { ["n".repeat(257)]: "v" } },
      { data: "name-256", headers: { ["n".repeat(256)]: "v" } },
      { data: "long-value", headers: { big: "é".repeat(513) } },
      { data: "value-1024", headers: { big: "v".repeat(1024) } },
      { data: "goog", headers: { googKey: "v" } },
      { data: "long-idempotency", idempotencyKey: "i".repeat(1025) },
      { data: "long-key", key: "k".repeat(1025) },
      { data: "key-1024", key: "k".repeat(1024) },
    ]);
    const outcome = Object.fromEntries(results.map((r, i) => [i, r.ok ? "ok" : `${r.error.code}: ${r.error.message}`]));
    expect(outcome[0]).toBe("ok");
    expect(outcome[1]).toMatch(/^INVALID_ARGUMENT: headers: expected at most 100 headers.*got "101 headers"/);
    expect(outcome[2]).toBe("ok");
    expect(outcome[3]).toMatch(/^INVALID_ARGUMENT: headers: expected at most 100/);
    expect(outcome[4]).toMatch(/^INVALID_ARGUMENT: headers\["nnnn.*at most 256 bytes.*257 bytes/);
    expect(outcome[5]).toBe("ok");
    expect(outcome[6]).toMatch(/^INVALID_ARGUMENT: headers\["big"\].*at most 1024 bytes.*1026 bytes/);
    expect(outcome[7]).toBe("ok");
    expect(outcome[8]).toMatch(/^INVALID_ARGUMENT: headers\["googKey"\].*"goog"/);
    expect(outcome[9]).toMatch(/^INVALID_ARGUMENT: idempotencyKey.*1025 bytes/);
    expect(outcome[10]).toMatch(/^INVALID_ARGUMENT: key.*1025 bytes/);
    expect(outcome[11]).toBe("ok");
    await waitFor(() => got.length >= 5, 20_000, "the five valid messages");
    await sleep(300);
    expect(got.map((m) => m.data).sort()).toEqual(["100-headers", "99-headers+idempotency", "key-1024", "name-256", "value-1024"]);
    const hundred = got.find((m) => m.data === "100-headers")!;
    expect(Object.keys(hundred.headers)).toHaveLength(100);
    expect(got.find((m) => m.data === "99-headers+idempotency")!.idempotencyKey).toBe("id-1");
    await pub.close();
  });

  test("sizes: over 10,000,000 bytes is MESSAGE_TOO_LARGE; big messages are split over requests under 10 MB", async () => {
    const topic = uniqueTopic("sizes");
    await broker.admin.createTopic(topic);
    expect(broker.capabilities).toMatchObject({ maxMessageBytes: 10_000_000, maxBatchCount: 1_000, maxBatchBytes: 9_000_000 });
    const got: number[] = [];
    await broker.subscribe<Uint8Array>(topic, { group: "g", codec: "bytes", handler: (m) => void got.push(m.data.byteLength) });
    const pub = broker.publisher<Uint8Array>(topic, { codec: "bytes" });
    await expect(pub.publish({ data: new Uint8Array(10_000_001) })).rejects.toMatchObject({ code: "MESSAGE_TOO_LARGE" });
    // 3 x 3.5 MB: more than one request may carry (the emulator would hang on one over 11 MB).
    const big = 3_500_000;
    const results = await pub.publishBatch([1, 2, 3].map(() => ({ data: new Uint8Array(big) })));
    expect(results.map((r) => r.ok)).toEqual([true, true, true]);
    await waitFor(() => got.length >= 3, 30_000, "three big messages");
    expect(got).toEqual([big, big, big]);
    await pub.close();
  });
});
