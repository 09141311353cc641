import { describe, expect, test } from "@jest/globals";
import { BrookError } from "@brook/core";
import type { WireMessage } from "@brook/core/spi";
import { MAX_FIREHOSE_RECORD_BYTES, defaultFraming, toRecord, type RecordFormat } from "./framing.js";
import { chunkCalls } from "./publisher.js";

const now = new Date("2026-12-01T03:04:05.678Z");
const wire = (value: string | Uint8Array, extra: Partial<WireMessage> = {}): WireMessage => ({
  key: undefined,
  idempotencyKey: undefined,
  headers: {},
  value: typeof value === "string" ? Buffer.from(value) : value,
  ...extra,
});
const text = (r: Uint8Array | BrookError): string => {
  if (r instanceof BrookError) throw r;
  return Buffer.from(r).toString();
};
const fmt = (codec: string, envelope: "none" | "json" = "none", framing = defaultFraming(codec, envelope)): RecordFormat => ({ codec, envelope, framing });

describe("Firehose record framing", () => {
  test("defaults: newline for json, string and auto; none for bytes and custom codecs; the envelope is always one line", () => {
    expect(["json", "string", "auto", "bytes", "avro"].map((c) => defaultFraming(c, "none"))).toEqual(["newline", "newline", "newline", "none", "none"]);
    expect(defaultFraming("bytes", "json")).toBe("newline");
  });

  test("newline framing appends one newline; none writes the bytes as given", () => {
    expect(text(toRecord(wire('{"n":1}'), fmt("json"), now))).toBe('{"n":1}\n');
    expect(text(toRecord(wire("héllo"), fmt("string"), now))).toBe("héllo\n");
    const raw = Uint8Array.from([0, 10, 255]);
    expect(Buffer.from(toRecord(wire(raw), fmt("bytes"), now) as Uint8Array)).toEqual(Buffer.from(raw));
  });

  test("a string with a newline is refused under newline framing (INVALID_ARGUMENT naming data), accepted in the envelope", () => {
    const r = toRecord(wire("two\nlines"), fmt("string"), now);
    expect(r).toBeInstanceOf(BrookError);
    expect(r).toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/data.*newline/) });
    expect(JSON.parse(text(toRecord(wire("two\nlines"), fmt("string", "json"), now))).data).toBe("two\nlines");
  });

  test("without the envelope: a key, an idempotency key or an application header is refused, naming it; content-type and trace context are dropped", () => {
    expect(toRecord(wire("1", { key: "k" }), fmt("json"), now)).toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/message\.key/) });
    expect(toRecord(wire("1", { idempotencyKey: "id-1" }), fmt("json"), now)).toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/idempotencyKey/) });
    expect(toRecord(wire("1", { headers: { source: "web", "content-type": "application/json" } }), fmt("json"), now)).toMatchObject({
      code: "INVALID_ARGUMENT",
      message: expect.stringMatching(/headers \(source\)/),
    });
    const traced = { "content-type": "application/json", traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" };
    expect(text(toRecord(wire("1", { headers: traced }), fmt("auto"), now))).toBe("1\n");
  });

  test("envelope json: one object per line; data as a JSON value (json), a string (string, text/*), base64 (bytes); absent key and id are null", () => {
    const line = (m: WireMessage, codec: string): Record<string, unknown> => {
      const t = text(toRecord(m, fmt(codec, "json"), now));
      expect(t.endsWith("\n")).toBe(true);
      expect(t.slice(0, -1)).not.toContain("\n");
      return JSON.parse(t) as Record<string, unknown>;
    };
    expect(line(wire('{"total":12}', { key: "k1", idempotencyKey: "id-1", headers: { source: "web" } }), "json")).toEqual({
      data: { total: 12 },
      key: "k1",
      headers: { source: "web" },
      idempotencyKey: "id-1",
      publishTime: "2026-12-01T03:04:05.678Z",
    });
    expect(line(wire("plain ✓"), "string")).toMatchObject({ data: "plain ✓", key: null, idempotencyKey: null, headers: {} });
    expect(line(wire(Uint8Array.from([0, 1, 255])), "bytes").data).toBe("AAH/");
    // The auto codec: by content-type, as a subscriber would decode it.
    expect(line(wire('[1,2]', { headers: { "content-type": "application/json" } }), "auto").data).toEqual([1, 2]);
    expect(line(wire("hi", { headers: { "content-type": "text/plain; charset=utf-8" } }), "auto").data).toBe("hi");
    expect(line(wire(Uint8Array.from([1])), "auto").data).toBe("AQ==");
    // A custom codec that pretty-prints JSON is written compactly, on one line.
    expect(line(wire('{\n  "a": 1\n}', { headers: { "content-type": "application/vnd.x+json" } }), "custom").data).toEqual({ a: 1 });
  });

  test("a record over 1,000 KiB is MESSAGE_TOO_LARGE, counting the newline and the envelope", () => {
    const exact = Buffer.alloc(MAX_FIREHOSE_RECORD_BYTES, 0x61);
    expect(toRecord(wire(exact), fmt("bytes"), now)).toBeInstanceOf(Uint8Array);
    expect(toRecord(wire(exact), fmt("string"), now)).toMatchObject({ code: "MESSAGE_TOO_LARGE", message: expect.stringMatching(/1024001 bytes \(with its newline\)/) });
    const near = Buffer.alloc(MAX_FIREHOSE_RECORD_BYTES - 100, 0x61);
    expect(toRecord(wire(near), fmt("bytes", "json"), now)).toMatchObject({ code: "MESSAGE_TOO_LARGE", message: expect.stringMatching(/envelope/) });
  });

  test("PutRecordBatch calls: at most 500 records and 4 MiB each, in order", () => {
    const small = Array.from({ length: 1_201 }, (_, i) => ({ data: new Uint8Array(10), i }));
    expect(chunkCalls(small).map((c) => c.length)).toEqual([500, 500, 201]);
    expect(chunkCalls(small).flat().map((r) => r.i)).toEqual(small.map((r) => r.i));
    const big = Array.from({ length: 9 }, () => ({ data: new Uint8Array(1_000_000) }));
    expect(chunkCalls(big).map((c) => c.length)).toEqual([4, 4, 1]);
  });
});
