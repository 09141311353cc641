import { describe, expect, test } from "@jest/globals";
import { BrookError, type PublishBatchResult } from "@brook/core";
import { type WireMessage } from "@brook/core/spi";
import type { StoredRecord } from "../storage/types.js";
import { FrameType, ProtocolError, RESPONSE_BIT } from "./frames.js";
import {
  decodeAppendRequest,
  decodeAppendResponse,
  decodeFetchRequest,
  decodeFetchResponse,
  encodeAppendRequest,
  encodeAppendResponse,
  encodeFetchRequest,
  encodeFetchResponse,
} from "./records.js";

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
