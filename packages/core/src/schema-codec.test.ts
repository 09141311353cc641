import { describe, expect, test } from "@jest/globals";
import * as v from "valibot";
import { z } from "zod";

import { BrookError } from "./errors.js";
import { schemaCodec } from "./schema-codec.js";

const order = z.object({ id: z.string().min(1), total: z.number().nonnegative(), note: z.string().default("") });
const bytes = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));
const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return err instanceof BrookError ? `${err.code}: ${err.message}` : `not a BrookError: ${String(err)}`;
  }
  return undefined;
};

describe("schemaCodec", () => {
  test("a value that matches is published as JSON with a JSON content-type", () => {
    const codec = schemaCodec(order);
    expect(JSON.parse(new TextDecoder().decode(codec.encode({ id: "a", total: 3, note: "x" })))).toEqual({ id: "a", total: 3, note: "x" });
    expect(codec.contentType?.({ id: "a", total: 3, note: "" })).toBe("application/json");
  });

  test("publishing a value that does not match is INVALID_ARGUMENT naming the path and the reason", () => {
    const codec = schemaCodec(order);
    const got = codeOf(() => codec.encode({ id: "a", total: -1 } as never));
    expect(got).toMatch(/^INVALID_ARGUMENT: data: does not match the schema: total: /);
  });

  test("a received message that does not match is CORRUPT_DATA with the validator's reason (never retried)", () => {
    const codec = schemaCodec(order);
    expect(codeOf(() => codec.decode(bytes({ id: "", total: 1 })))).toMatch(/^CORRUPT_DATA: message data: does not match the schema: id: /);
    expect(codeOf(() => codec.decode(new TextEncoder().encode("{not json")))).toMatch(/^CORRUPT_DATA: message data: expected JSON/);
  });

  test("the subscriber gets the validator's output: defaults applied", () => {
    expect(schemaCodec(order).decode(bytes({ id: "a", total: 1 }))).toEqual({ id: "a", total: 1, note: "" });
  });

  test("works with any Standard Schema library (valibot)", () => {
    const codec = schemaCodec(v.object({ n: v.pipe(v.number(), v.integer()) }));
    expect(codec.decode(bytes({ n: 2 }))).toEqual({ n: 2 });
    expect(codeOf(() => codec.encode({ n: 1.5 }))).toMatch(/^INVALID_ARGUMENT: data: does not match the schema: n: /);
  });

  test("not a schema, and asynchronous validators, are refused with INVALID_ARGUMENT", () => {
    expect(codeOf(() => schemaCodec({} as never))).toMatch(/^INVALID_ARGUMENT: schema: expected a Standard Schema validator/);
    const asyncSchema = z.object({ n: z.number() }).refine(async () => true);
    expect(codeOf(() => schemaCodec(asyncSchema).encode({ n: 1 }))).toMatch(/^INVALID_ARGUMENT: schema: asynchronous validation/);
  });
});
