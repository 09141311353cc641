/**
 * kafkajs 2.2.4, unchanged, against `@brook/kafka-wire` over a local broker engine: what it
 * produces lands in the engine at the partition and offset Kafka reports, what Brook publishes
 * is read by kafkajs at the same partition and offset, keys and headers round-trip.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { Kafka, logLevel, type Admin, type Producer } from "kafkajs";
import { startKafkaWire, type KafkaWireServer } from "@brook/kafka-wire";
import { LogEngine, MemoryStore } from "@brook/local-broker/engine";
import { Reader, Writer } from "../../packages/kafka-wire/src/codec.js";
import { decodeBatches } from "../../packages/kafka-wire/src/records.js";
import { connect as tcp } from "node:net";

let engine: LogEngine;
let server: KafkaWireServer;
let kafka: Kafka;
let producer: Producer;
let admin: Admin;

beforeAll(async () => {
  engine = await LogEngine.open(new MemoryStore());
  server = await startKafkaWire({ engine, port: 0 });
  kafka = new Kafka({ clientId: "wire-test", brokers: [server.address], logLevel: logLevel.NOTHING, retry: { retries: 2, initialRetryTime: 50 } });
  producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  admin = kafka.admin();
  await admin.connect();
});
afterAll(async () => {
  await producer.disconnect();
  await admin.disconnect();
  await server.close();
  await engine.close();
});

/** A raw Fetch v11 of one partition, decoded with the package's batch decoder. */
async function rawFetch(topic: string, partition: number, offset: number, maxWaitMs = 0) {
  const body = new Writer()
    .int32(-1).int32(maxWaitMs).int32(1).int32(1 << 20).int8(0).int32(0).int32(-1)
    .array([topic], (w, t) => w.string(t).array([partition], (w, p) => w.int32(p).int32(-1).int64(offset).int64(-1).int32(1 << 20)))
    .array([], () => undefined)
    .string("")
    .toBuffer();
  const inner = new Writer().int16(1).int16(11).int32(1).string("raw").raw(body).toBuffer();
  const response = await new Promise<Buffer>((resolve, reject) => {
    const s = tcp(server.port, "127.0.0.1", () => s.write(new Writer().int32(inner.length).raw(inner).toBuffer()));
    let buf = Buffer.alloc(0);
    s.on("error", reject);
    s.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
        s.destroy();
        resolve(buf.subarray(8, 4 + buf.readInt32BE(0)));
      }
    });
  });
  const r = new Reader(response);
  r.int32();
  expect(r.int16()).toBe(0);
  r.int32();
  const [t] = r.array((r) => ({ topic: r.string(), partitions: r.array((r) => ({ partition: r.int32(), error: r.int16(), hw: r.int64(), lso: r.int64(), start: r.int64(), aborted: r.int32(), replica: r.int32(), records: r.nullableBytes() })) }));
  const p = t!.partitions[0]!;
  return { error: p.error, hw: p.hw, batches: p.records === null ? [] : decodeBatches(p.records) };
}

describe("kafkajs against kafka-wire", () => {
  it("a kafkajs producer's records land in the engine at the partition and offset it was told, with keys, headers and order", async () => {
    await engine.createTopic("kj-produce", { partitions: 3 }, false);
    const sent = await producer.send({
      topic: "kj-produce",
      acks: -1,
      messages: [
        { key: "k1", value: "v1", headers: { trace: "t-1", kind: "a" }, partition: 2 },
        { key: "k2", value: Buffer.from([0, 1, 2, 255]), partition: 2 },
        { key: "k1", value: "same key, other partition", partition: 0 },
        { value: "no key", partition: 0 },
      ],
    });
    const byPartition = new Map(sent.map((s) => [s.partition, Number(s.baseOffset)]));
    expect(byPartition).toEqual(new Map([[2, 0], [0, 0]]));
    const p2 = await engine.fetch("kj-produce", 2, 0, 10, 0);
    expect(p2.records.map((r) => [r.offset, r.key?.toString(), [...r.value], r.headers])).toEqual([
      [0, "k1", [...Buffer.from("v1")], { trace: "t-1", kind: "a" }],
      [1, "k2", [0, 1, 2, 255], {}],
    ]);
    const p0 = await engine.fetch("kj-produce", 0, 0, 10, 0);
    // the same key in two partitions: the producer's choice wins over the engine's key hashing
    expect(p0.records.map((r) => [r.offset, r.key?.toString(), r.value.toString()])).toEqual([[0, "k1", "same key, other partition"], [1, undefined, "no key"]]);
    expect((await engine.describeTopic("kj-produce")).partitions[1]!.end).toBe(0);
  });

  it("acks 0 appends without an answer; acks 1 answers with the offset", async () => {
    await engine.createTopic("kj-acks", { partitions: 1 }, false);
    await producer.send({ topic: "kj-acks", acks: 0, messages: [{ value: "fire" }] });
    const [r] = await producer.send({ topic: "kj-acks", acks: 1, messages: [{ value: "second" }] });
    // acks 0 went first on the same connection: the broker handles requests in order
    expect(Number(r!.baseOffset)).toBe(1);
    expect((await engine.fetch("kj-acks", 0, 0, 10, 0)).records.map((x) => x.value.toString())).toEqual(["fire", "second"]);
  });

  it("a record set with a bad CRC-32C is refused with CORRUPT_MESSAGE and nothing is stored", async () => {
    await engine.createTopic("kj-crc", { partitions: 1 }, false);
    // a valid batch from the engine's own encoder, then one bit flipped in a record
    await engine.append("kj-crc", [{ key: "a", idempotencyKey: undefined, headers: {}, value: Buffer.from("x") }]);
    const good = (await rawFetch("kj-crc", 0, 0)).batches;
    expect(good).toHaveLength(1);
    const { encodeRecords } = await import("../../packages/kafka-wire/src/handlers.js");
    const batch = Buffer.from(encodeRecords((await engine.fetch("kj-crc", 0, 0, 1, 0)).records, 1 << 20));
    batch[batch.length - 1] ^= 1;
    const body = new Writer().nullableString(null).int16(1).int32(1000).array(["kj-crc"], (w, t) => w.string(t).array([0], (w, p) => w.int32(p).bytes(batch))).toBuffer();
    const inner = new Writer().int16(0).int16(7).int32(5).string("raw").raw(body).toBuffer();
    const response = await new Promise<Buffer>((resolve, reject) => {
      const s = tcp(server.port, "127.0.0.1", () => s.write(new Writer().int32(inner.length).raw(inner).toBuffer()));
      s.on("error", reject);
      s.on("data", (d) => {
        s.destroy();
        resolve(d);
      });
    });
    const r = new Reader(response.subarray(8));
    const [t] = r.array((r) => ({ name: r.string(), partitions: r.array((r) => ({ index: r.int32(), error: r.int16(), base: r.int64(), time: r.int64(), start: r.int64() })) }));
    expect(t!.partitions[0]!.error).toBe(2);
    expect((await engine.describeTopic("kj-crc")).partitions[0]!.end).toBe(1);
  });

  it("a message published through Brook (local engine) is fetched over the Kafka protocol at the same partition and offset, key and headers intact", async () => {
    await engine.createTopic("kj-brook", { partitions: 4 }, false);
    const [result] = await engine.append("kj-brook", [{ key: "order-7", idempotencyKey: "idem-1", headers: { source: "brook" }, value: Buffer.from("hello") }]);
    expect(result!.ok).toBe(true);
    const position = (result as { position: { partition: string; offset: string } }).position;
    const fetched = await rawFetch("kj-brook", Number(position.partition), Number(position.offset));
    expect(fetched.hw).toBe(1);
    const rec = fetched.batches[0]!.records[0]!;
    expect(fetched.batches[0]!.baseOffset).toBe(Number(position.offset));
    expect(rec.key!.toString()).toBe("order-7");
    expect(rec.value!.toString()).toBe("hello");
    expect(rec.headers.map(([k, v]) => [k, v!.toString()])).toEqual([["source", "brook"], ["brook-idempotency-key", "idem-1"]]);
  });

  it("Fetch waits up to max_wait_ms for a record and answers as soon as one comes; an offset out of range is answered at once", async () => {
    await engine.createTopic("kj-wait", { partitions: 1 }, false);
    let start = Date.now();
    const waiting = rawFetch("kj-wait", 0, 0, 5000);
    setTimeout(() => void engine.append("kj-wait", [{ key: undefined, idempotencyKey: undefined, headers: {}, value: Buffer.from("late") }]), 150);
    const got = await waiting;
    expect(got.batches[0]!.records[0]!.value!.toString()).toBe("late");
    expect(Date.now() - start).toBeLessThan(2500);
    start = Date.now();
    const empty = await rawFetch("kj-wait", 0, 1, 300);
    expect([empty.error, empty.batches.length]).toEqual([0, 0]);
    expect(Date.now() - start).toBeGreaterThanOrEqual(250);
    start = Date.now();
    const bad = await rawFetch("kj-wait", 0, 99, 5000);
    expect(bad.error).toBe(1); // OFFSET_OUT_OF_RANGE
    expect(Date.now() - start).toBeLessThan(2500);
  });

  it("kafkajs admin reads earliest, latest and by-time offsets (ListOffsets)", async () => {
    await engine.createTopic("kj-offsets", { partitions: 2 }, false);
    await producer.send({ topic: "kj-offsets", messages: [{ value: "a", partition: 1 }, { value: "b", partition: 1 }] });
    const before = (await engine.fetch("kj-offsets", 1, 1, 1, 0)).records[0]!.timestamp;
    await new Promise((r) => setTimeout(r, 5));
    const later = Date.now();
    await producer.send({ topic: "kj-offsets", messages: [{ value: "c", partition: 1 }] });
    const offsets = await admin.fetchTopicOffsets("kj-offsets");
    expect(offsets.map((o) => [o.partition, o.low, o.high]).sort()).toEqual([[0, "0", "0"], [1, "0", "3"]]);
    const byTime = await admin.fetchTopicOffsetsByTimestamp("kj-offsets", later);
    expect(byTime.find((o) => o.partition === 1)!.offset).toBe("2");
    expect((await admin.fetchTopicOffsetsByTimestamp("kj-offsets", before)).find((o) => o.partition === 1)!.offset).toBe("0");
  });

  it("a produce to an unknown topic fails in kafkajs (auto-create is off), it does not hang", async () => {
    await expect(producer.send({ topic: "kj-nope", messages: [{ value: "x" }] })).rejects.toThrow();
  });
});

describe("kafkajs consumer groups against kafka-wire", () => {
  it("two members of a group split the partitions and get every message once, Brook's and kafkajs's alike, at the engine's partition and offset; commits land in the engine", async () => {
    await engine.createTopic("kj-group", { partitions: 4 }, false);
    const received: Array<{ member: string; partition: number; offset: number; key: string; value: string; headers: Record<string, string> }> = [];
    const latest = new Map<string, number[]>();
    const consumers = ["A", "B"].map((name) => {
      const c = kafka.consumer({ groupId: "kj-g1", sessionTimeout: 6000, rebalanceTimeout: 3000, heartbeatInterval: 100, maxWaitTimeInMs: 100, retry: { retries: 5, initialRetryTime: 50 } });
      c.on(c.events.GROUP_JOIN, (e) => latest.set(name, e.payload.memberAssignment["kj-group"] ?? []));
      return { name, c };
    });
    const waitFor = async (what: string, cond: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> => {
      const until = Date.now() + ms;
      while (!(await cond())) {
        if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    try {
      for (const { name, c } of consumers) {
        await c.connect();
        await c.subscribe({ topic: "kj-group", fromBeginning: true });
        await c.run({
          autoCommitInterval: 50,
          eachMessage: async ({ partition, message }) => {
            const headers: Record<string, string> = {};
            for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
            received.push({ member: name, partition, offset: Number(message.offset), key: message.key?.toString() ?? "", value: message.value!.toString(), headers });
          },
        });
      }
      // both members hold a share and together all four partitions, none twice
      await waitFor("a stable two-member assignment", () => {
        const a = latest.get("A") ?? [];
        const b = latest.get("B") ?? [];
        return a.length > 0 && b.length > 0 && new Set([...a, ...b]).size === 4 && a.length + b.length === 4;
      });
      await producer.send({ topic: "kj-group", messages: Array.from({ length: 30 }, (_, i) => ({ key: `key-${i % 7}`, value: `kafkajs-${i}`, headers: { n: String(i) } })) });
      const brook = await engine.append("kj-group", Array.from({ length: 10 }, (_, i) => ({ key: `brook-${i}`, idempotencyKey: undefined, headers: { from: "brook" }, value: Buffer.from(`brook-${i}`) })));
      await waitFor("40 messages", () => received.length >= 40);
      await new Promise((r) => setTimeout(r, 200)); // a duplicate would show up here
      expect(received).toHaveLength(40);
      expect(new Set(received.map((m) => m.value)).size).toBe(40);
      // each member read only its own partitions, and both read some
      for (const name of ["A", "B"]) {
        const mine = received.filter((m) => m.member === name);
        expect(mine.length).toBeGreaterThan(0);
        for (const m of mine) expect(latest.get(name)).toContain(m.partition);
      }
      // Brook's messages at the partition and offset the engine gave them
      for (let i = 0; i < 10; i++) {
        const pos = (brook[i] as { position: { partition: string; offset: string } }).position;
        const got = received.find((m) => m.value === `brook-${i}`)!;
        expect([got.partition, got.offset, got.key, got.headers]).toEqual([Number(pos.partition), Number(pos.offset), `brook-${i}`, { from: "brook" }]);
      }
      // key order within a partition
      for (let k = 0; k < 7; k++) {
        const seq = received.filter((m) => m.key === `key-${k}`).map((m) => Number(m.value.slice("kafkajs-".length)));
        expect(seq).toEqual([...seq].sort((x, y) => x - y));
      }
      // kafkajs commits reach the engine's committed offsets: every partition at its end
      const ends = (await engine.describeTopic("kj-group")).partitions.map((p) => p.end);
      await waitFor("committed offsets at the end", async () => {
        const committed = await engine.committed("kj-g1", "kj-group");
        return ends.every((end, p) => committed.get(p) === end);
      });
    } finally {
      for (const { c } of consumers) await c.disconnect();
    }
    const described = await admin.describeGroups(["kj-g1"]);
    expect(described.groups[0]!.state).toBe("Empty");
  }, 40_000);
});

describe("idempotent producer", () => {
  it("kafkajs with idempotent: true produces exactly once through InitProducerId", async () => {
    await engine.createTopic("kj-idem", { partitions: 2 }, false);
    const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await p.connect();
    try {
      for (let i = 0; i < 3; i++) await p.send({ topic: "kj-idem", messages: [{ value: `m${i}`, partition: 0 }, { value: `n${i}`, partition: 1 }] });
    } finally {
      await p.disconnect();
    }
    expect((await engine.fetch("kj-idem", 0, 0, 10, 0)).records.map((r) => r.value.toString())).toEqual(["m0", "m1", "m2"]);
  });

  it("a retried batch gets its first answer and is stored once; a sequence gap is OUT_OF_ORDER_SEQUENCE_NUMBER", async () => {
    await engine.createTopic("kj-seq", { partitions: 1 }, false);
    const { encodeBatch } = await import("../../packages/kafka-wire/src/records.js");
    const call = async (apiKey: number, version: number, body: Buffer): Promise<Reader> => {
      const inner = new Writer().int16(apiKey).int16(version).int32(1).string("raw").raw(body).toBuffer();
      const response = await new Promise<Buffer>((resolve, reject) => {
        const s = tcp(server.port, "127.0.0.1", () => s.write(new Writer().int32(inner.length).raw(inner).toBuffer()));
        let buf = Buffer.alloc(0);
        s.on("error", reject);
        s.on("data", (d) => {
          buf = Buffer.concat([buf, d]);
          if (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
            s.destroy();
            resolve(buf.subarray(8, 4 + buf.readInt32BE(0)));
          }
        });
      });
      return new Reader(response);
    };
    const init = await call(22, 1, new Writer().nullableString(null).int32(60_000).toBuffer());
    init.int32();
    expect(init.int16()).toBe(0);
    const producerId = init.int64();
    const produce = async (baseSequence: number, values: string[]) => {
      const batch = encodeBatch(values.map((v, i) => ({ offset: i, timestamp: Date.now(), key: undefined, value: Buffer.from(v), headers: [] })), { id: producerId, epoch: 0, baseSequence });
      const body = new Writer().nullableString(null).int16(-1).int32(1000).array(["kj-seq"], (w, t) => w.string(t).array([0], (w, p) => w.int32(p).bytes(batch))).toBuffer();
      const r = await call(0, 7, body);
      const [t] = r.array((r) => ({ name: r.string(), partitions: r.array((r) => ({ index: r.int32(), error: r.int16(), base: r.int64(), time: r.int64(), start: r.int64() })) }));
      return t!.partitions[0]!;
    };
    expect(await produce(0, ["a", "b"])).toMatchObject({ error: 0, base: 0 });
    expect(await produce(2, ["c"])).toMatchObject({ error: 0, base: 2 });
    expect(await produce(0, ["a", "b"])).toMatchObject({ error: 0, base: 0 }); // a retry: its first answer
    expect(await produce(5, ["z"])).toMatchObject({ error: 45 }); // sequence 3 and 4 missing
    expect((await engine.fetch("kj-seq", 0, 0, 10, 0)).records.map((r) => r.value.toString())).toEqual(["a", "b", "c"]);
  });
});
