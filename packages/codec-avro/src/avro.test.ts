import { describe, expect, test } from "@jest/globals";
import avro from "avsc";
import { BrookError, connect } from "@brook/core";
import "@brook/local-broker";

import { AVRO_CONTENT_TYPE, AVRO_FINGERPRINT_HEADER, avroCodec } from "./index.js";

const v1 = { type: "record", name: "Order", fields: [{ name: "id", type: "string" }, { name: "total", type: "long" }] } as const;
const v2 = {
  type: "record",
  name: "Order",
  fields: [
    { name: "id", type: "string" },
    { name: "total", type: "long" },
    { name: "currency", type: "string", default: "EUR" },
  ],
} as const;

const failure = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return err instanceof BrookError ? `${err.code}: ${err.message}` : `not a BrookError: ${String(err)}`;
  }
  return undefined;
};

describe("avroCodec", () => {
  test("round trip in Avro binary, with the content-type and the writer schema's fingerprint as headers", () => {
    const codec = avroCodec<{ id: string; total: number }>({ schema: v1 });
    const bytes = codec.encode({ id: "a", total: 12 });
    expect(Buffer.from(bytes)).toEqual(avro.Type.forSchema(v1).toBuffer({ id: "a", total: 12 }));
    expect(codec.contentType?.({ id: "a", total: 1 })).toBe(AVRO_CONTENT_TYPE);
    const fingerprint = avro.Type.forSchema(v1).fingerprint("sha256").toString("hex");
    expect(codec.headers?.({ id: "a", total: 1 })).toEqual({ [AVRO_FINGERPRINT_HEADER]: `sha256:${fingerprint}` });
    expect(codec.decode(bytes, codec.headers?.({ id: "a", total: 1 }))).toEqual({ id: "a", total: 12 });
  });

  test("a value that does not match the schema is INVALID_ARGUMENT naming the field", () => {
    const codec = avroCodec({ schema: v1 });
    expect(failure(() => codec.encode({ id: "a", total: "12" }))).toMatch(/^INVALID_ARGUMENT: data: does not match Avro schema Order: total = "12"/);
  });

  test("a reader on v2 reads what a v1 writer wrote (schema resolution, default applied); a v1 reader reads v2", () => {
    const writer = avroCodec({ schema: v1 });
    const reader = avroCodec<{ id: string; total: number; currency: string }>({ schema: v2, writerSchemas: [v1] });
    const value = { id: "a", total: 5 };
    expect(reader.decode(writer.encode(value), writer.headers?.(value))).toEqual({ id: "a", total: 5, currency: "EUR" });
    const newer = avroCodec({ schema: v2 });
    const old = avroCodec({ schema: v1, writerSchemas: [v2] });
    const v2value = { id: "b", total: 6, currency: "USD" };
    expect(old.decode(newer.encode(v2value), newer.headers?.(v2value))).toEqual({ id: "b", total: 6 });
  });

  test("an unknown writer fingerprint, or bytes that are not Avro, are CORRUPT_DATA", () => {
    const writer = avroCodec({ schema: v2 });
    const reader = avroCodec({ schema: v1 });
    const value = { id: "a", total: 1, currency: "EUR" };
    expect(failure(() => reader.decode(writer.encode(value), writer.headers?.(value)))).toMatch(/^CORRUPT_DATA: .*does not know \(add it to writerSchemas\)/);
    expect(failure(() => reader.decode(new Uint8Array([0xff, 0xff, 0xff])))).toMatch(/^CORRUPT_DATA: message data: not valid Avro/);
  });

  test("a bad schema is INVALID_ARGUMENT", () => {
    expect(failure(() => avroCodec({ schema: { type: "record", name: "X" } as never }))).toMatch(/^INVALID_ARGUMENT: schema: not a valid Avro schema/);
    expect(failure(() => avroCodec({ schema: v1, writerSchemas: [{ type: "nope" } as never] }))).toMatch(/^INVALID_ARGUMENT: writerSchemas\[0\]/);
  });

  test("end to end: fingerprint header published, v2 subscriber reads v1 messages, undecodable messages dead-lettered with the reason", async () => {
    const broker = await connect("memory:");
    try {
      await broker.admin.createTopic("orders");
      await broker.admin.createTopic("orders.dlq");
      await broker.publisher("orders", { codec: avroCodec({ schema: v1 }) }).publish({ key: "k", data: { id: "a", total: 7 } });
      await broker.publisher("orders", { codec: "bytes" }).publish({ key: "k", data: new Uint8Array([0xff]) });
      const got: unknown[] = [];
      const headers: Record<string, string>[] = [];
      const dead: Record<string, string>[] = [];
      const dlq = await broker.subscribe("orders.dlq", { group: "ops", startFrom: "earliest", codec: "bytes", handler: (m) => void dead.push(m.headers) });
      const sub = await broker.subscribe("orders", {
        group: "billing",
        startFrom: "earliest",
        codec: avroCodec({ schema: v2, writerSchemas: [v1] }),
        deadLetter: { topic: "orders.dlq" },
        handler: (m) => {
          got.push(m.data);
          headers.push(m.headers);
        },
      });
      for (let i = 0; i < 200 && (got.length < 1 || dead.length < 1); i++) await new Promise((r) => setTimeout(r, 25));
      await sub.close();
      await dlq.close();
      expect(got).toEqual([{ id: "a", total: 7, currency: "EUR" }]);
      expect(headers[0]?.[AVRO_FINGERPRINT_HEADER]).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(headers[0]?.["content-type"]).toBe(AVRO_CONTENT_TYPE);
      expect(dead).toHaveLength(1);
      expect(Object.values(dead[0]!).join(" ")).toMatch(/not valid Avro/);
    } finally {
      await broker.close();
    }
  });
});
