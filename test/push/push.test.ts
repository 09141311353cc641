// Push delivery: createPushHandler serves Pub/Sub push requests (from the real emulator's push
// subscriptions) and forwardToPush pushes any Brook subscription in the same envelope, so one push
// service runs on Pub/Sub and offline on the local broker with the same handler rules.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { PubSub } from "@google-cloud/pubsub";
import {
  connect,
  createPushHandler,
  DLQ_HEADERS,
  forwardToPush,
  PermanentError,
  type Broker,
  type PushHandlerOptions,
  type ReceivedMessage,
  type Subscription,
} from "@brook/core";
import { uniqueTopic, waitFor, sleep } from "@brook/contract-tests";
import "@brook/local-broker";
import "@brook/adapter-pubsub";
import { describePubSub, pubsubUrl } from "../pubsub/emulator.js";

interface Endpoint {
  url: string;
  server: Server;
}

async function serve(handler: ReturnType<typeof createPushHandler>): Promise<Endpoint> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/push` };
}
const stop = (e: Endpoint | undefined): Promise<void> =>
  new Promise((resolve) => {
    if (e === undefined) return resolve();
    e.server.closeAllConnections();
    e.server.close(() => resolve());
  });

async function post(url: string, body: string, init: RequestInit = {}): Promise<number> {
  const res = await fetch(url, { method: "POST", body, headers: { "content-type": "application/json" }, ...init });
  await res.arrayBuffer();
  return res.status;
}

describe("push: createPushHandler answers a push request by what the handler did", () => {
  let endpoint: Endpoint | undefined;
  afterEach(async () => stop(endpoint));

  const envelope = (data: string, attributes: Record<string, string> = {}, extra: object = {}): string =>
    JSON.stringify({
      message: { data: Buffer.from(data).toString("base64"), attributes, messageId: "m1", publishTime: "2026-01-02T03:04:05.000Z", ...extra },
      subscription: "projects/p/subscriptions/s",
    });

  test("2xx after the handler resolved, with data decoded by content-type, key, headers and idempotency key", async () => {
    const got: ReceivedMessage<unknown>[] = [];
    endpoint = await serve(createPushHandler((m) => void got.push(m)));
    const status = await post(
      endpoint.url,
      envelope(JSON.stringify({ total: 3 }), { "content-type": "application/json", "brook-idempotency-key": "order-1", trace: "t" }, { orderingKey: "cust-1" }),
    );
    expect(status).toBe(204);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ data: { total: 3 }, key: "cust-1", idempotencyKey: "order-1", id: "m1", deliveryAttempt: 1 });
    expect(got[0]!.headers.trace).toBe("t");
    expect(got[0]!.publishTime.toISOString()).toBe("2026-01-02T03:04:05.000Z");
  });

  test("retries in the request as a pull subscriber does; after the last attempt 500 (redeliver), or 2xx once dead-lettered", async () => {
    let calls = 0;
    const errors: string[] = [];
    const options: PushHandlerOptions<string> = { codec: "string", retry: { maxAttempts: 3, minDelayMs: 5, maxDelayMs: 10 }, onError: (e) => void errors.push(e.code) };
    endpoint = await serve(
      createPushHandler<string>(() => {
        calls++;
        throw new Error("down");
      }, { ...options, deadLetter: "native" }),
    );
    expect(await post(endpoint.url, envelope("x"))).toBe(500);
    expect(calls).toBe(1); // "native": one attempt per delivery, the provider counts
    await stop(endpoint);

    const broker = await connect("memory:");
    try {
      await broker.admin.createTopic("dlq");
      const dead: ReceivedMessage<string>[] = [];
      await broker.subscribe<string>("dlq", { group: "ops", startFrom: "earliest", codec: "string", handler: (m) => void dead.push(m) });
      calls = 0;
      let seen = 0;
      endpoint = await serve(
        createPushHandler<string>((m) => {
          calls++;
          if (m.data === "poison") throw new Error("cannot");
          if (m.data === "fatal") throw new PermanentError("never");
          if (++seen < 3) throw new Error("transient");
        }, { ...options, topic: "orders", deadLetter: { topic: "dlq", publisher: broker.publisher("dlq", { codec: "bytes" }) } }),
      );
      expect(await post(endpoint.url, envelope("flaky"))).toBe(204);
      expect(calls).toBe(3);
      expect(await post(endpoint.url, envelope("poison"))).toBe(204);
      expect(await post(endpoint.url, envelope("fatal"))).toBe(204);
      expect(calls).toBe(3 + 3 + 1);
      await waitFor(() => dead.length >= 2, 10_000, "two dead letters");
      expect(dead.map((m) => [m.data, m.headers[DLQ_HEADERS.attempts], m.headers[DLQ_HEADERS.originalTopic]])).toEqual([
        ["poison", "3", "orders"],
        ["fatal", "1", "orders"],
      ]);
      expect(dead[0]!.headers[DLQ_HEADERS.reason]).toContain("cannot");
    } finally {
      await broker.close();
    }
  });

  test("bad requests: 405 for GET, 400 naming the field for a body that is not an envelope, 403 when verify refuses, 413 over maxBodyBytes", async () => {
    const errors: string[] = [];
    let calls = 0;
    endpoint = await serve(
      createPushHandler(() => void calls++, {
        verify: (req) => req.headers.authorization === "Bearer good",
        maxBodyBytes: 1_000,
        onError: (e) => void errors.push(`${e.code}: ${e.message}`),
      }),
    );
    const auth = { headers: { authorization: "Bearer good" } };
    expect((await fetch(endpoint.url, auth)).status).toBe(405);
    expect(await post(endpoint.url, envelope("x"))).toBe(403);
    expect(await post(endpoint.url, "{nope", auth)).toBe(400);
    expect(await post(endpoint.url, JSON.stringify({ message: { data: "***", messageId: "1" } }), auth)).toBe(400);
    expect(await post(endpoint.url, JSON.stringify({ message: { data: "", messageId: "1", attributes: { a: 1 } } }), auth)).toBe(400);
    expect(await post(endpoint.url, envelope("x".repeat(2_000)), auth)).toBe(413);
    expect(await post(endpoint.url, envelope("ok"), auth)).toBe(204);
    expect(calls).toBe(1);
    expect(errors).toEqual([
      "INVALID_ARGUMENT: push body: expected JSON (a Pub/Sub push envelope)",
      'INVALID_ARGUMENT: push body.message.data: expected base64, got "***"',
      'INVALID_ARGUMENT: push body.message.attributes["a"]: expected a string, got 1',
    ]);
  });
});

describe("push: forwardToPush pushes a local-broker subscription to the same push service", () => {
  test("every message arrives once acknowledged, in key order, with key, headers and idempotency key; a failing endpoint is retried, then dead-lettered", async () => {
    const broker = await connect("memory:");
    let endpoint: Endpoint | undefined;
    let sub: Subscription | undefined;
    try {
      await broker.admin.createTopic("orders", { partitions: 2 });
      await broker.admin.createTopic("orders.dlq");
      const got: ReceivedMessage<{ n: number }>[] = [];
      let failures = 0;
      endpoint = await serve(
        createPushHandler<{ n: number }>((m) => {
          if (m.data.n === 99) throw new PermanentError("bad order");
          if (m.data.n === 5 && failures++ < 2) throw new Error("busy"); // two failed requests
          got.push(m);
        }, { retry: { maxAttempts: 1 } }), // the forwarder retries, not the request
      );
      sub = await forwardToPush(broker, "orders", {
        group: "push",
        endpoint: endpoint.url,
        startFrom: "earliest",
        retry: { maxAttempts: 5, minDelayMs: 5, maxDelayMs: 20 },
        deadLetter: { topic: "orders.dlq" },
      });
      const pub = broker.publisher<{ n: number }>("orders");
      for (let n = 0; n < 20; n++) await pub.publish({ key: `k${n % 3}`, idempotencyKey: `id-${n}`, headers: { h: String(n) }, data: { n } });
      await waitFor(() => got.length >= 20, 20_000, "20 pushed messages");
      await sleep(100);
      expect(got.map((m) => m.data.n).sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
      for (const key of ["k0", "k1", "k2"]) {
        const ns = got.filter((m) => m.key === key).map((m) => m.data.n);
        expect(ns).toEqual([...ns].sort((a, b) => a - b));
      }
      expect(got.every((m) => m.idempotencyKey === `id-${m.data.n}` && m.headers.h === String(m.data.n))).toBe(true);
      expect(failures).toBe(3); // two failed, the third delivered

      // An endpoint that always answers 500: retried, then dead-lettered with the status as the reason.
      const dead: ReceivedMessage<unknown>[] = [];
      await broker.subscribe("orders.dlq", { group: "ops", startFrom: "earliest", handler: (m) => void dead.push(m) });
      await pub.publish({ key: "k0", data: { n: 99 } });
      await waitFor(() => dead.length >= 1, 20_000, "the dead letter");
      expect(dead[0]!.data).toEqual({ n: 99 });
      expect(dead[0]!.headers[DLQ_HEADERS.reason]).toMatch(/answered 500/);
      expect(dead[0]!.headers[DLQ_HEADERS.attempts]).toBe("5");
    } finally {
      await sub?.close();
      await stop(endpoint);
      await broker.close();
    }
  });

  test("bad endpoint options are INVALID_URL / INVALID_ARGUMENT naming the field", async () => {
    const broker = await connect("memory:");
    try {
      await broker.admin.createTopic("t");
      await expect(forwardToPush(broker, "t", { group: "g", endpoint: "not a url" })).rejects.toMatchObject({ code: "INVALID_URL", message: expect.stringMatching(/^endpoint:/) });
      await expect(forwardToPush(broker, "t", { group: "g", endpoint: "ftp://x/" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/^endpoint:/) });
      await expect(forwardToPush(broker, "nope", { group: "g", endpoint: "http://127.0.0.1:1/" })).rejects.toMatchObject({ code: "TOPIC_NOT_FOUND" });
    } finally {
      await broker.close();
    }
  });
});

describePubSub("push: the Pub/Sub emulator's push subscription delivers to createPushHandler", (emulator) => {
  let broker: Broker;
  let client: PubSub;
  let endpoint: Endpoint | undefined;

  beforeAll(async () => {
    broker = await connect(pubsubUrl(emulator));
    // As the adapter does: plain text to the emulator, no credential lookup.
    client = new PubSub({ projectId: "brook-test", apiEndpoint: emulator.host, emulatorMode: true, universeDomain: "googleapis.com" });
  });
  afterAll(async () => {
    await stop(endpoint);
    await broker?.close();
    await client?.close();
  });

  test("messages Brook published arrive through push with data, headers and idempotency key; a 500 is redelivered by Pub/Sub", async () => {
    const topic = uniqueTopic("push");
    await broker.admin.createTopic(topic);
    const got: ReceivedMessage<{ n: number }>[] = [];
    let failedOnce = false;
    endpoint = await serve(
      createPushHandler<{ n: number }>((m) => {
        if (m.data.n === 2 && !failedOnce) {
          failedOnce = true;
          throw new Error("first try fails");
        }
        got.push(m);
      }, { retry: { maxAttempts: 1 } }),
    );
    await client.topic(topic).createSubscription(`${topic}-push`, {
      pushConfig: { pushEndpoint: endpoint.url },
      enableMessageOrdering: true,
      ackDeadlineSeconds: 10,
      retryPolicy: { minimumBackoff: { seconds: 0 }, maximumBackoff: { seconds: 1 } },
    });
    const pub = broker.publisher<{ n: number }>(topic);
    for (let n = 0; n < 5; n++) await pub.publish({ key: "cust", idempotencyKey: `id-${n}`, headers: { h: `v${n}` }, data: { n } });
    await waitFor(() => got.length >= 5, 60_000, "5 pushed messages");
    expect(failedOnce).toBe(true);
    const byN = new Map(got.map((m) => [m.data.n, m]));
    expect([...byN.keys()].sort()).toEqual([0, 1, 2, 3, 4]);
    for (const [n, m] of byN) {
      // The emulator's push envelope leaves out orderingKey (the service sends it; the envelope
      // parser maps it to key, tested above), so on the emulator a pushed message has no key.
      expect(m.key).toBeUndefined();
      expect(m.idempotencyKey).toBe(`id-${n}`);
      expect(m.headers.h).toBe(`v${n}`);
    }
    await pub.close();
  });
});
