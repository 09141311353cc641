/**
 * The one-pass Fetch encoder (encodeStoredBatch) writes byte for byte the batch the reference
 * encoder (encodeBatch) writes, and decodeBatches reads it back with its CRC checked: keys
 * absent and present, UTF-8 headers, the idempotency key as the last header, varint lengths
 * across the one/two/three-byte boundaries.
 */
import { describe, expect, it } from "@jest/globals";
import { decodeBatches, encodeBatch, encodeStoredBatch, IDEMPOTENCY_HEADER, type StoredLike } from "./records.js";

const records: StoredLike[] = [
  { offset: 40, timestamp: 1_700_000_000_123, key: undefined, idempotencyKey: undefined, headers: {}, value: Buffer.from("a") },
  { offset: 41, timestamp: 1_700_000_000_123, key: Buffer.from("clé"), idempotencyKey: "id-1", headers: { "trace": "x", "ünï": "çødé" }, value: Buffer.alloc(127, 1) },
  { offset: 42, timestamp: 1_700_000_000_123, key: Buffer.alloc(0), idempotencyKey: undefined, headers: { h: "" }, value: Buffer.alloc(128, 2) },
  { offset: 43, timestamp: 1_700_000_000_123, key: Buffer.from("k"), idempotencyKey: "é".repeat(70), headers: {}, value: Buffer.alloc(20_000, 3) },
];

describe("encodeStoredBatch", () => {
  it("matches encodeBatch byte for byte and decodes back", () => {
    const reference = encodeBatch(
      records.map((r) => ({
        offset: r.offset,
        timestamp: r.timestamp,
        key: r.key,
        value: r.value,
        headers: [...Object.entries(r.headers), ...(r.idempotencyKey === undefined ? [] : [[IDEMPOTENCY_HEADER, r.idempotencyKey] as [string, string]])],
      })),
    );
    const fast = encodeStoredBatch(records, 0, records.length);
    expect(fast.equals(reference)).toBe(true);
    const [batch] = decodeBatches(fast);
    expect(batch!.baseOffset).toBe(40);
    expect(batch!.records.map((r) => [r.key?.toString() ?? null, r.value!.length, r.headers.map(([n, v]) => [n, v?.toString()])])).toEqual([
      [null, 1, []],
      ["clé", 127, [["trace", "x"], ["ünï", "çødé"], [IDEMPOTENCY_HEADER, "id-1"]]],
      ["", 128, [["h", ""]]],
      ["k", 20_000, [[IDEMPOTENCY_HEADER, "é".repeat(70)]]],
    ]);
  });

  it("encodes a slice: offsets relative to the slice's first record", () => {
    const [batch] = decodeBatches(encodeStoredBatch(records, 2, 4));
    expect([batch!.baseOffset, batch!.records.length]).toEqual([42, 2]);
  });
});
