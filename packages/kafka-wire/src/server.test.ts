import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { connect as tcp, type Socket } from "node:net";
import { LogEngine, MemoryStore } from "@brook/local-broker/engine";
import { Reader, Writer } from "./codec.js";
import { startKafkaWire, type KafkaWireServer } from "./server.js";

const warnings: string[] = [];
const logger = { debug: () => undefined, info: () => undefined, warn: (m: string) => void warnings.push(m), error: (m: string) => void warnings.push(m) };
let engine: LogEngine;
let server: KafkaWireServer;

beforeAll(async () => {
  engine = await LogEngine.open(new MemoryStore());
  await engine.createTopic("orders", { partitions: 3 }, false);
  server = await startKafkaWire({ engine, port: 0, logger, maxFrameBytes: 64 * 1024 });
});
afterAll(async () => {
  await server.close();
  await engine.close();
});

function request(apiKey: number, version: number, correlationId: number, body: Buffer): Buffer {
  const inner = new Writer().int16(apiKey).int16(version).int32(correlationId).string("test").raw(body).toBuffer();
  return new Writer().int32(inner.length).raw(inner).toBuffer();
}

/** Opens a connection, sends `bytes`, collects what comes back until the server closes or `frames` responses came. */
function exchange(bytes: Buffer, frames: number, endAfterSend = false): Promise<{ responses: Buffer[]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket: Socket = tcp(server.port, "127.0.0.1");
    let buf = Buffer.alloc(0);
    const responses: Buffer[] = [];
    socket.on("connect", () => {
      socket.write(bytes);
      if (endAfterSend) socket.end();
    });
    socket.on("error", reject);
    socket.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
        responses.push(buf.subarray(4, 4 + buf.readInt32BE(0)));
        buf = buf.subarray(4 + buf.readInt32BE(0));
      }
      if (responses.length >= frames) {
        socket.destroy();
        resolve({ responses, closed: false });
      }
    });
    socket.on("close", () => resolve({ responses, closed: true }));
  });
}

describe("kafka-wire server", () => {
  it("answers ApiVersions with only the versions it implements", async () => {
    const { responses } = await exchange(request(18, 2, 7, Buffer.alloc(0)), 1);
    const r = new Reader(responses[0]!);
    expect(r.int32()).toBe(7);
    expect(r.int16()).toBe(0);
    const keys = r.array((r) => ({ key: r.int16(), min: r.int16(), max: r.int16() }));
    expect(r.int32()).toBe(0);
    r.end("response");
    expect(keys).toEqual(expect.arrayContaining([{ key: 0, min: 3, max: 7 }, { key: 1, min: 4, max: 11 }, { key: 18, min: 0, max: 2 }, { key: 3, min: 0, max: 7 }]));
  });

  it("answers a too-new ApiVersions in v0 with UNSUPPORTED_VERSION and its versions (KIP-511)", async () => {
    const { responses } = await exchange(request(18, 3, 8, Buffer.from([0, 0, 0])), 1);
    const r = new Reader(responses[0]!);
    expect(r.int32()).toBe(8);
    expect(r.int16()).toBe(35);
    expect(r.array((r) => r.int16() + r.int16() * 0 + r.int16() * 0).length).toBeGreaterThan(3);
  });

  it("answers unknown API keys and unsupported versions with UNSUPPORTED_VERSION, then keeps serving in order", async () => {
    const bytes = Buffer.concat([request(999, 0, 1, Buffer.alloc(0)), request(0, 1, 2, Buffer.alloc(0)), request(18, 0, 3, Buffer.alloc(0))]);
    const { responses } = await exchange(bytes, 3);
    expect(responses.map((b) => b.readInt32BE(0))).toEqual([1, 2, 3]);
    expect(responses[0]!.readInt16BE(4)).toBe(35);
    expect(responses[1]!.readInt16BE(4)).toBe(35);
    expect(responses[2]!.readInt16BE(4)).toBe(0);
  });

  it("lists itself as the one broker and the engine's topics; an unknown topic is UNKNOWN_TOPIC_OR_PARTITION", async () => {
    const body = new Writer().array(["orders", "missing"], (w, t) => w.string(t)).bool(false).toBuffer();
    const { responses } = await exchange(request(3, 4, 9, body), 1);
    const r = new Reader(responses[0]!);
    expect(r.int32()).toBe(9);
    r.int32();
    expect(r.array((r) => [r.int32(), r.string(), r.int32(), r.nullableString()])).toEqual([[0, "127.0.0.1", server.port, null]]);
    r.nullableString();
    expect(r.int32()).toBe(0);
    const topics = r.array((r) => ({ error: r.int16(), name: r.string(), internal: r.bool(), partitions: r.array((r) => [r.int16(), r.int32(), r.int32(), r.array((r) => r.int32()), r.array((r) => r.int32())]) }));
    r.end("Metadata response");
    expect(topics).toEqual([
      { error: 0, name: "orders", internal: false, partitions: [0, 1, 2].map((p) => [0, p, 0, [0], [0]]) },
      { error: 3, name: "missing", internal: false, partitions: [] },
    ]);
  });

  it("closes a connection whose frame is above the limit or negative, with a logged reason", async () => {
    const big = Buffer.alloc(4);
    big.writeInt32BE(64 * 1024 + 1);
    expect((await exchange(big, 1)).closed).toBe(true);
    const negative = Buffer.alloc(4);
    negative.writeInt32BE(-5);
    expect((await exchange(negative, 1)).closed).toBe(true);
    expect(warnings.some((w) => w.includes("frame of 65537 bytes"))).toBe(true);
    expect(warnings.some((w) => w.includes("frame of -5 bytes"))).toBe(true);
  });

  it("closes a connection whose request is truncated inside its frame", async () => {
    const body = new Writer().int32(5).string("or").toBuffer(); // claims 5 topics, has one
    const { closed, responses } = await exchange(request(3, 1, 1, body), 1);
    expect(closed).toBe(true);
    expect(responses).toEqual([]);
    expect(warnings.some((w) => w.includes("truncated") || w.includes("array count"))).toBe(true);
  });

  it("fuzz: random, mutated and truncated frames harm only their own connection", async () => {
    let seed = 0x5eed;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const valid = [
      request(18, 2, 1, Buffer.alloc(0)),
      request(3, 4, 2, new Writer().array(["orders"], (w, t) => w.string(t)).bool(false).toBuffer()),
      request(2, 1, 3, new Writer().int32(-1).array(["orders"], (w, t) => w.string(t).array([0, 1], (w, p) => w.int32(p).int64(-1))).toBuffer()),
    ];
    for (let i = 0; i < 150; i++) {
      let bytes: Buffer;
      const kind = rand(3);
      if (kind === 0) {
        bytes = Buffer.from(Array.from({ length: 4 + rand(64) }, () => rand(256)));
        if (rand(2) === 0) bytes.writeInt32BE(bytes.length - 4, 0); // a well-formed frame of garbage
      } else {
        const base = Buffer.from(valid[rand(valid.length)]!);
        if (kind === 1) for (let k = 0; k < 1 + rand(4); k++) base[4 + rand(base.length - 4)] = rand(256);
        // truncate the body but keep the frame size consistent, so the parser sees a short request
        const cut = kind === 2 ? 4 + rand(base.length - 4) : base.length;
        bytes = base.subarray(0, cut);
        if (kind === 2) bytes.writeInt32BE(cut - 4, 0);
      }
      // the client half-closes after sending: the server must answer or close, never hang
      const result = await exchange(bytes, 1000, true);
      expect(result.closed).toBe(true);
    }
    // the server still serves, and the engine is untouched
    const { responses } = await exchange(request(18, 0, 42, Buffer.alloc(0)), 1);
    expect(responses[0]!.readInt32BE(0)).toBe(42);
    expect(responses[0]!.readInt16BE(4)).toBe(0);
    expect((await engine.describeTopic("orders")).partitions.map((p) => p.end)).toEqual([0, 0, 0]);
  }, 30_000);
});
