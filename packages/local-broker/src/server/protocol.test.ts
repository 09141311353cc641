import { describe, expect, test } from "@jest/globals";
import { BrookError, type PublishBatchResult } from "@brook/core";
import { type WireMessage } from "@brook/core/spi";
import type { StoredRecord } from "../storage/types.js";
import {
  FrameReader,
  FrameType,
  ProtocolError,
  RESPONSE_BIT,
  decodeAppendRequest,
  decodeAppendResponse,
  decodeFetchRequest,
  decodeFetchResponse,
  encodeAppendRequest,
  encodeAppendResponse,
  encodeFetchRequest,
  encodeFetchResponse,
  frame,
  jsonFrame,
  setFrameId,
} from "./protocol.js";

function readAll(reader: FrameReader): Array<{ type: number; id: number; body: Buffer }> {
  const out = [];
  for (let f = reader.next(); f !== undefined; f = reader.next()) out.push(f);
  return out;
}

describe("FrameReader (PROTOCOL.md §2)", () => {
  test("reassembles frames fed one byte at a time, several per chunk, and large ones across chunks", () => {
    const big = Buffer.alloc(300_000, 7);
    const stream = Buffer.concat([frame(FrameType.LIST_TOPICS, 1), jsonFrame(FrameType.DELETE_TOPIC, 2, { name: "t" }), frame(FrameType.APPEND, 3, big)]);
    // One byte per chunk (a pathological sender) must stay linear.
    const byByte = new FrameReader(1 << 20);
    const frames = [];
    for (let i = 0; i < stream.length; i++) {
      byByte.push(stream.subarray(i, i + 1));
      frames.push(...readAll(byByte));
    }
    const whole = new FrameReader(1 << 20);
    whole.push(stream);
    const chunked = new FrameReader(1 << 20);
    for (let i = 0; i < stream.length; i += 65_536) chunked.push(stream.subarray(i, i + 65_536));
    for (const got of [frames, readAll(whole), readAll(chunked)]) {
      expect(got.map((f) => [f.type, f.id, f.body.length])).toEqual([
        [FrameType.LIST_TOPICS, 1, 0],
        [FrameType.DELETE_TOPIC, 2, Buffer.byteLength('{"name":"t"}')],
        [FrameType.APPEND, 3, big.length],
      ]);
      expect(got[2]!.body.equals(big)).toBe(true);
    }
    expect(whole.bufferedBytes).toBe(0);
  });

  test("refuses a length below 5 or above the limit as soon as the 4 length bytes are in", () => {
    const small = new FrameReader(1_000);
    small.push(Buffer.from([0, 0, 0, 4]));
    expect(() => small.next()).toThrow(ProtocolError);
    const large = new FrameReader(1_000);
    large.push(Buffer.from([0, 0, 0x10, 0]));
    expect(() => large.next()).toThrow(/bad frame length 4096: the limit is 1000 bytes/);
  });

  test("setFrameId fills in the id of a frame built before it was sent", () => {
    const bytes = encodeFetchRequest({ topic: "t", partition: 0, offset: 0, maxRecords: 1, waitMs: 0 });
    setFrameId(bytes, 0xfffffffe);
    const reader = new FrameReader(1_000);
    reader.push(bytes);
    expect(reader.next()).toMatchObject({ type: FrameType.FETCH, id: 0xfffffffe });
  });
});

function bodyOf(bytes: Buffer): Buffer {
  return bytes.subarray(9);
}

describe("APPEND (§5)", () => {
  test("messages round-trip with keys, idempotency keys, headers, unicode and empty values", () => {
    const messages: WireMessage[] = [
      { key: "cust-42", idempotencyKey: "order-1", headers: { source: "web", "ü-name": "välue ✓" }, value: Buffer.from("hello") },
      { key: undefined, idempotencyKey: undefined, headers: {}, value: new Uint8Array(0) },
      { key: "ключ", idempotencyKey: undefined, headers: { a: "" }, value: new Uint8Array([0, 255, 1]) },
    ];
    const bytes = encodeAppendRequest("orders.v1", messages);
    expect(bytes.readUInt32BE(0)).toBe(bytes.length - 4);
    const decoded = decodeAppendRequest(bodyOf(bytes));
    expect(decoded.topic).toBe("orders.v1");
    expect(decoded.messages.map((m) => ({ ...m, value: Buffer.from(m.value).toString("hex") }))).toEqual(
      messages.map((m) => ({ ...m, value: Buffer.from(m.value).toString("hex") })),
    );
  });

  test("results round-trip, failures keep code, message and retriable", () => {
    const results: PublishBatchResult[] = [
      { ok: true, position: { partition: "3", offset: String(2 ** 52 + 5) }, duplicate: false },
      { ok: true, position: { partition: "0", offset: "17" }, duplicate: true },
      { ok: false, error: new BrookError("MESSAGE_TOO_LARGE", "message of 2000000 bytes exceeds the broker limit") },
      { ok: false, error: new BrookError("UNAVAILABLE", "append failed: disk full ✗", { retriable: true }) },
    ];
    const decoded = decodeAppendResponse(bodyOf(encodeAppendResponse(9, results)));
    expect(decoded.slice(0, 2)).toEqual(results.slice(0, 2));
    for (const i of [2, 3]) {
      const got = decoded[i]!;
      const want = results[i]!;
      if (got.ok || want.ok) throw new Error("expected failures");
      expect(got.error).toBeInstanceOf(BrookError);
      expect({ code: got.error.code, message: got.error.message, retriable: got.error.retriable }).toEqual({
        code: want.error.code,
        message: want.error.message,
        retriable: want.error.retriable,
      });
    }
  });

  test("a truncated body, unknown flags or bytes left over are bad frames", () => {
    const body = bodyOf(encodeAppendRequest("t", [{ key: "k", idempotencyKey: undefined, headers: {}, value: Buffer.from("abc") }]));
    expect(() => decodeAppendRequest(body.subarray(0, body.length - 1))).toThrow(/truncated body/);
    expect(() => decodeAppendRequest(Buffer.concat([body, Buffer.from([0])]))).toThrow(/left over/);
    const badFlags = Buffer.from(body);
    badFlags[2 + 1 + 4] = 0x80;
    expect(() => decodeAppendRequest(badFlags)).toThrow(/unknown flag bits/);
    const lyingCount = Buffer.from(body);
    lyingCount.writeUInt32BE(0xffffffff, 3);
    expect(() => decodeAppendRequest(lyingCount)).toThrow(ProtocolError);
  });
});

describe("FETCH (§6)", () => {
  const record = (offset: number, size: number): StoredRecord => ({
    offset,
    timestamp: 1_700_000_000_123,
    key: offset % 2 === 0 ? Buffer.from(`k${offset}`) : undefined,
    idempotencyKey: offset % 3 === 0 ? `id-${offset}` : undefined,
    headers: offset % 2 === 0 ? { h: String(offset) } : {},
    value: Buffer.alloc(size, offset % 256),
  });

  test("request and records round-trip", () => {
    const req = { topic: "t", partition: 7, offset: 2 ** 40, maxRecords: 4096, waitMs: 500 };
    expect(decodeFetchRequest(bodyOf(encodeFetchRequest(req)))).toEqual(req);
    const records = [record(10, 5), record(11, 0), record(12, 100)];
    const bytes = encodeFetchResponse(4, 13, records, 1 << 20);
    expect(bytes[4]).toBe(FrameType.FETCH | RESPONSE_BIT);
    const decoded = decodeFetchResponse(bodyOf(bytes));
    expect(decoded.endOffset).toBe(13);
    expect(decoded.records).toEqual(records);
  });

  test("a response keeps to maxFrameBytes by sending a prefix of the records, never none", () => {
    const records = Array.from({ length: 10 }, (_, i) => record(i, 1_000));
    const decoded = decodeFetchResponse(bodyOf(encodeFetchResponse(1, 10, records, 3_500)));
    expect(decoded.records.map((r) => r.offset)).toEqual([0, 1, 2]);
    const one = decodeFetchResponse(bodyOf(encodeFetchResponse(1, 10, records, 10)));
    expect(one.records.map((r) => r.offset)).toEqual([0]);
  });
});
