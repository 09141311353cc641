/**
 * Small things at the local broker's front door: malformed URLs are INVALID_URL (never a raw
 * URIError), a closed broker or engine answers CLOSED (never stale data), and a header named
 * `__proto__` travels end to end like any other (embedded, on disk and over the wire).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "@jest/globals";
import { BrookError, connect, silentLogger, type Broker, type ReceivedMessage } from "@brook/core";
import { LogEngine, MemoryStore } from "@brook/local-broker/engine";
import { uniqueTopic, waitFor } from "@brook/contract-tests";
import { cleanups, open, serve } from "./serve-helpers.js";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "brook-front-door-"));
  dirs.push(dir);
  return dir;
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      if (value !== null && typeof value === "object" && "close" in value) cleanups.push(() => (value as Broker).close());
      return new Error("resolved");
    },
    (err: unknown) => err,
  );
}

describe("malformed URLs", () => {
  test.each([
    "local:%zz",
    "local:./data%",
    "memory:%E0%A4%A",
    "brook://127.0.0.1:7654?token=%zz",
    "brook://127.0.0.1:7654?to%zzken=1",
    "brook://%zz:7654",
    "brook://user:secret@127.0.0.1:7654",
  ])("%s is INVALID_URL", async (url) => {
    const err = await failure(connect(url, { logger: silentLogger }));
    expect(err).toBeInstanceOf(BrookError);
    expect(err).toMatchObject({ code: "INVALID_URL" });
    expect((err as Error).message).not.toContain("secret");
  });
});

describe("after close", () => {
  const admin = (broker: Broker): Array<[string, () => Promise<unknown>]> => [
    ["listTopics", () => broker.admin.listTopics()],
    ["describeTopic", () => broker.admin.describeTopic("t")],
    ["topicExists", () => broker.admin.topicExists("t")],
    ["createTopic", () => broker.admin.createTopic("t2")],
    ["deleteTopic", () => broker.admin.deleteTopic("t")],
  ];

  async function expectClosed(broker: Broker): Promise<void> {
    for (const [name, call] of admin(broker)) {
      const err = await failure(call());
      expect({ name, err }).toEqual({ name, err: expect.objectContaining({ code: "CLOSED" }) });
    }
  }

  test("memory:, memory:<name> (while another broker shares the engine), local: and brook:// admins answer CLOSED", async () => {
    const { server } = await serve();
    const shared = `memory:front-door-${Date.now()}`;
    const dir = tempDir();
    const other = await open(shared); // keeps the shared engine open
    const otherLocal = await open(`local:${dir}`);
    for (const url of ["memory:", shared, `local:${dir}`, `brook://127.0.0.1:${server.port}`]) {
      const broker = await connect(url, { logger: silentLogger });
      await broker.admin.createTopic("t", { ifNotExists: true });
      await broker.close();
      await expectClosed(broker);
    }
    // The brokers still open on those engines are unaffected.
    expect(await other.admin.listTopics()).toEqual(["t"]);
    expect(await otherLocal.admin.listTopics()).toEqual(["t"]);
  });

  test("a closed LogEngine answers CLOSED to every read and admin call", async () => {
    const engine = await LogEngine.open(new MemoryStore());
    await engine.createTopic("t", { partitions: 1 });
    await engine.close();
    const calls: Array<[string, () => Promise<unknown>]> = [
      ["listTopics", () => engine.listTopics()],
      ["describeTopic", () => engine.describeTopic("t")],
      ["deleteTopic", () => engine.deleteTopic("t")],
      ["createTopic", () => engine.createTopic("u", {})],
      ["append", () => engine.append("t", [])],
      ["fetch", () => engine.fetch("t", 0, 0, 10, 0)],
      ["offsetForTime", () => engine.offsetForTime("t", 0, 0)],
      ["committed", () => engine.committed("g", "t")],
      ["describeGroups", () => engine.describeGroups()],
    ];
    for (const [name, call] of calls) {
      const err = await failure(call());
      expect({ name, err }).toEqual({ name, err: expect.objectContaining({ code: "CLOSED" }) });
    }
  });
});

describe("a header named __proto__", () => {
  test.each(["memory:", "local:", "brook:"])("is kept end to end on %s", async (kind) => {
    let url: string;
    if (kind === "memory:") url = "memory:";
    else if (kind === "local:") url = `local:${tempDir()}`;
    else url = `brook://127.0.0.1:${(await serve()).server.port}`;
    const broker = await open(url);
    const topic = uniqueTopic("proto");
    await broker.admin.createTopic(topic);
    const got: Array<ReceivedMessage<string>> = [];
    await broker.subscribe<string>(topic, { group: "g", startFrom: "earliest", handler: (m) => void got.push(m) });
    // A computed key makes an own property named "__proto__" (a literal would set the prototype).
    const headers: Record<string, string> = { before: "1", ["__proto__"]: "kept", after: "2" };
    expect(Object.keys(headers)).toContain("__proto__");
    const pub = broker.publisher<string>(topic);
    await pub.publish({ data: "hello", headers });
    await pub.close();
    await waitFor(() => got.length === 1, 10_000, "the message");
    const received = got[0]!.headers;
    expect(Object.hasOwn(received, "__proto__")).toBe(true);
    expect(received["__proto__"]).toBe("kept");
    expect(Object.getPrototypeOf(received)).toBe(Object.prototype);
    expect(Object.entries(received).filter(([name]) => name !== "traceparent" && name !== "content-type")).toEqual([
      ["before", "1"],
      ["__proto__", "kept"],
      ["after", "2"],
    ]);
  });
});

describe("startFrom positions that name nothing", () => {
  test.each(["memory:", "local:", "brook:"])("a missing partition or a negative offset is refused at subscribe on %s, and the group stays usable", async (kind) => {
    let url: string;
    if (kind === "memory:") url = "memory:";
    else if (kind === "local:") url = `local:${tempDir()}`;
    else url = `brook://127.0.0.1:${(await serve()).server.port}`;
    const broker = await open(url);
    const topic = uniqueTopic("start-from");
    await broker.admin.createTopic(topic, { partitions: 2 });
    const refused = async (positions: Array<{ partition: string; offset: string }>, field: string): Promise<void> => {
      const err = await failure(broker.subscribe(topic, { group: "g", startFrom: { positions }, handler: () => undefined }));
      expect(err).toBeInstanceOf(BrookError);
      expect(err).toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining(field) });
    };
    await refused([{ partition: "2", offset: "0" }], "startFrom.positions[0].partition");
    await refused([{ partition: "0", offset: "0" }, { partition: "-1", offset: "0" }], "startFrom.positions[1].partition");
    await refused([{ partition: "1", offset: "-3" }], "startFrom.positions[0].offset");
    // The refused subscriptions left no member behind: a valid one gets every partition.
    const pub = broker.publisher<string>(topic);
    await pub.publishBatch([{ data: "a", key: "x" }, { data: "b", key: "y" }, { data: "c", key: "z" }]);
    await pub.close();
    const got: string[] = [];
    await broker.subscribe<string>(topic, { group: "g", startFrom: { positions: [{ partition: "0", offset: "0" }, { partition: "1", offset: "0" }] }, handler: (m) => void got.push(m.data) });
    await waitFor(() => got.length === 3, 10_000, "the three messages");
    expect(got.sort()).toEqual(["a", "b", "c"]);
  });
});
