/**
 * Per-request limits of `brook serve`, enforced by the server whatever the client is: message
 * size counts key and headers, names are bounded, partition counts and batch sizes too. Every
 * refusal is an ERROR (or, inside an APPEND, a failed entry) with a BrookError code, and the
 * connection stays usable. Requests are sent with raw sockets, as the SDK would refuse them.
 */
import { describe, expect, test } from "@jest/globals";
import { silentLogger } from "@brook/core";
import { LogEngine, MemoryStore } from "@brook/local-broker/engine";
import { appendBody, appendResults, cleanups, errorOf, fetchBody, helloConnection, jsonRequest, rawFrame, serve, type RawConnection } from "./serve-helpers.js";

let nextId = 100;

/** Sends a request and returns its answer. */
async function request(raw: RawConnection, bytesFor: (id: number) => Buffer): Promise<{ type: number; body: Buffer }> {
  const id = nextId++;
  raw.send(bytesFor(id));
  return raw.answer(id);
}

/** The connection still answers: LIST_TOPICS gets its 0x92. */
async function expectUsable(raw: RawConnection): Promise<void> {
  const answer = await request(raw, (id) => rawFrame(0x12, id));
  expect(answer.type).toBe(0x92);
  expect(raw.isClosed()).toBe(false);
}

describe("message size", () => {
  test("key, idempotency key and headers count toward maxMessageBytes, as core's wireSize counts them; the other entries are published", async () => {
    const engine = await LogEngine.open(new MemoryStore(), { maxMessageBytes: 1024 });
    cleanups.push(() => engine.close());
    const { server } = await serve({ engine });
    await engine.createTopic("sized", { partitions: 1 });
    const raw = await helloConnection(server.port);
    const messages = [
      { value: "v".repeat(1000), key: "k".repeat(24) }, // exactly 1024: fits
      { value: "v".repeat(100), key: "k".repeat(1000) }, // the key makes it too large
      { value: "v".repeat(100), headers: [["h", "x".repeat(1000)]] as Array<[string, string]> }, // a header value
      { value: "v".repeat(100), headers: Array.from({ length: 50 }, (_, i) => [`name-${i}`.padEnd(20, "_"), ""] as [string, string]) }, // many header names
      { value: "v".repeat(1025) }, // the value alone
      { value: "small" },
    ];
    const answer = await request(raw, (id) => rawFrame(0x14, id, appendBody("sized", messages)));
    expect(answer.type).toBe(0x94);
    const results = appendResults(answer.body);
    expect(results.map((r) => (r.ok ? "ok" : r.code))).toEqual(["ok", "MESSAGE_TOO_LARGE", "MESSAGE_TOO_LARGE", "MESSAGE_TOO_LARGE", "MESSAGE_TOO_LARGE", "ok"]);
    for (const r of results) if (!r.ok) expect(r.message).toMatch(/data, key and headers\) exceeds the broker limit of 1024 bytes/);
    const { records } = await engine.fetch("sized", 0, 0, 10, 0);
    expect(records.map((r) => r.value.length)).toEqual([1000, 5]);
    await expectUsable(raw);

    // The embedded engine applies the same rule.
    const direct = await engine.append("sized", [{ key: "k".repeat(1000), idempotencyKey: "i".repeat(24), headers: {}, value: Buffer.alloc(1) }]);
    expect(direct[0]).toMatchObject({ ok: false, error: { code: "MESSAGE_TOO_LARGE" } });
  });
});

describe("names, partitions and batch sizes", () => {
  test("each refusal is ERROR INVALID_ARGUMENT naming the field, and the connection stays usable", async () => {
    const { server, engine } = await serve({ logger: silentLogger });
    await engine.createTopic("ok-topic", { partitions: 2 });
    const raw = await helloConnection(server.port);
    const long = "x".repeat(250);
    const cases: Array<{ name: string; bytes: (id: number) => Buffer; message: RegExp }> = [
      { name: "a topic name with a space", bytes: (id) => jsonRequest(0x10, id, { name: "a b", config: {}, ifNotExists: false }), message: /^name: expected only letters, digits/ },
      { name: "1001 partitions", bytes: (id) => jsonRequest(0x10, id, { name: "many", config: { partitions: 1001 }, ifNotExists: false }), message: /^partitions: expected an integer from 1 to 1000, got 1001/ },
      { name: "a topic name too long to describe", bytes: (id) => jsonRequest(0x13, id, { name: long }), message: /^name: expected at most 249 characters/ },
      { name: "a topic name too long to delete", bytes: (id) => jsonRequest(0x11, id, { name: long }), message: /^name: expected at most 249 characters/ },
      { name: "a fetch from a path", bytes: (id) => rawFrame(0x15, id, fetchBody("../etc", 0, 0, 10, 0)), message: /^topic: expected only letters, digits/ },
      { name: "an append to a bad name", bytes: (id) => rawFrame(0x14, id, appendBody("a/b", [{ value: "x" }])), message: /^topic: expected only letters, digits/ },
      { name: "offsets of a bad topic", bytes: (id) => jsonRequest(0x16, id, { topic: long, partition: 0, time: 0 }), message: /^topic: expected at most 249 characters/ },
      { name: "committed of a long group", bytes: (id) => jsonRequest(0x17, id, { group: long, topic: "ok-topic" }), message: /^group: expected 1 to 249 characters/ },
      { name: "a commit of an empty group", bytes: (id) => jsonRequest(0x18, id, { group: "", topic: "ok-topic", offsets: [[0, 0]] }), message: /^group: expected 1 to 249 characters/ },
      { name: "a join of a long group", bytes: (id) => jsonRequest(0x19, id, { group: long, topic: "ok-topic", memberId: "m1", rejoin: false }), message: /^group: expected 1 to 249 characters/ },
      { name: "a join with a long member id", bytes: (id) => jsonRequest(0x19, id, { group: "g", topic: "ok-topic", memberId: long, rejoin: false }), message: /^memberId: expected 1 to 249 characters/ },
      { name: "a leave of a long group", bytes: (id) => jsonRequest(0x1a, id, { group: long, topic: "ok-topic", memberId: "m1" }), message: /^group: expected 1 to 249 characters/ },
      {
        name: "10001 messages in one APPEND",
        bytes: (id) => rawFrame(0x14, id, appendBody("ok-topic", Array.from({ length: 10_001 }, () => ({ value: "" })))),
        message: /^messages: expected at most 10000 messages in one APPEND, got 10001/,
      },
      {
        name: "a json body over 1 MiB",
        bytes: (id) => jsonRequest(0x13, id, { name: "ok-topic", padding: "p".repeat(1024 * 1024) }),
        message: /^body: expected a json body of at most 1048576 bytes/,
      },
    ];
    for (const c of cases) {
      const answer = await request(raw, c.bytes);
      expect({ case: c.name, type: answer.type }).toEqual({ case: c.name, type: 0xff });
      const error = errorOf(answer);
      expect({ case: c.name, code: error.code }).toEqual({ case: c.name, code: "INVALID_ARGUMENT" });
      expect({ case: c.name, message: error.message }).toEqual({ case: c.name, message: expect.stringMatching(c.message) });
      await expectUsable(raw);
    }
    // Nothing was created, committed or joined by the refused requests.
    expect(await engine.listTopics()).toEqual(["ok-topic"]);
    expect(await engine.describeGroups()).toEqual([]);
  });
});
