import { mkdtempSync, rmSync, readdirSync, openSync, writeSync, closeSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, test } from "@jest/globals";
import { connect, silentLogger, type Broker } from "@brook/core";
import "@brook/local-broker";
import { waitFor } from "@brook/contract-tests";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "brook-durable-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function consumeAll(broker: Broker, topic: string, group: string, count: number): Promise<number[]> {
  const got: number[] = [];
  const sub = await broker.subscribe<number>(topic, { group, startFrom: "earliest", handler: (m) => void got.push(m.data) });
  await waitFor(() => got.length >= count, 20_000, `${count} messages`);
  await sub.close({ drain: true });
  return got;
}

test("messages, committed group offsets and the dedupe window survive a restart", async () => {
  let broker = await connect(`local:${dir}?fsync=always`);
  await broker.admin.createTopic("orders", { partitions: 2 });
  const pub = broker.publisher<number>("orders");
  const first = await pub.publish({ data: 0, key: "a", idempotencyKey: "order-0" });
  await pub.publishBatch(Array.from({ length: 9 }, (_, i) => ({ data: i + 1, key: `k${i}` })));
  expect((await consumeAll(broker, "orders", "billing", 10)).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  await broker.close();

  broker = await connect(`local:${dir}`);
  expect(await broker.admin.listTopics()).toEqual(["orders"]);
  const again = await broker.publisher<number>("orders").publish({ data: 0, key: "a", idempotencyKey: "order-0" });
  expect(again).toEqual({ position: first.position, duplicate: true });
  await broker.publisher<number>("orders").publish({ data: 10 });
  // The group resumes after its commit: only the new message.
  expect(await consumeAll(broker, "orders", "billing", 1)).toEqual([10]);
  // A new group still sees the whole retained log.
  expect((await consumeAll(broker, "orders", "audit", 11)).length).toBe(11);
  await broker.close();
});

test("a second owner of the data directory in another process is refused; the same process shares it", async () => {
  const a = await connect(`local:${dir}`);
  const b = await connect(`local:${dir}`);
  await a.admin.createTopic("t");
  expect(await b.admin.listTopics()).toEqual(["t"]);
  await b.close();
  expect(await a.admin.listTopics()).toEqual(["t"]);
  await a.close();
});

test("a torn tail from a crash is cut on reopen and publishing continues", async () => {
  let broker = await connect(`local:${dir}?fsync=always`, { logger: silentLogger });
  await broker.admin.createTopic("t", { partitions: 1 });
  await broker.publisher<number>("t").publishBatch(Array.from({ length: 5 }, (_, i) => ({ data: i })));
  await broker.close();
  // Simulate a write torn by a crash: the first bytes of a batch (length, CRC, magic 1,
  // attributes 0, ...) at the end of the active segment. (Bytes an interrupted write cannot
  // leave — a header field that is wrong for this position — are damage, FORMAT.md §7.)
  const partDir = join(dir, "topics", readdirSync(join(dir, "topics"))[0]!, "0");
  const log = join(partDir, readdirSync(partDir).find((f) => f.endsWith(".log"))!);
  const fd = openSync(log, "a");
  writeSync(fd, Buffer.from([0, 0, 1, 0, 0xde, 0xad, 0xbe, 0xef, 1, 0, 0]));
  closeSync(fd);
  const size = statSync(log).size;
  // Remove the clean-shutdown marker so recovery scans the tail, as after a real crash.
  for (const f of readdirSync(partDir)) if (/clean/i.test(f)) rmSync(join(partDir, f));
  broker = await connect(`local:${dir}`, { logger: silentLogger });
  const r = await broker.publisher<number>("t").publish({ data: 5 });
  expect(r.position.offset).toBe("5");
  expect(statSync(log).size).toBeLessThan(size + 200);
  expect(await consumeAll(broker, "t", "g", 6)).toEqual([0, 1, 2, 3, 4, 5]);
  await broker.close();
});
