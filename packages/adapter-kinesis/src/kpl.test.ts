/**
 * The KPL aggregation format against aws-kinesis-agg, the format's reference implementation
 * for Node (an independent encoder, decoder and protobuf schema): what Brook writes it reads
 * with data, keys and tags intact, and what it writes Brook reads.
 */
import { createRequire } from "node:module";
import { randomBytes } from "node:crypto";
import { describe, expect, test } from "@jest/globals";
import { KplAggregateBuilder, decodeAggregate, encodeAggregate, isAggregate, type KplSubRecord } from "./kpl.js";
import { toSourceRecords } from "./records.js";

const requireRoot = createRequire(`${process.cwd()}/package.json`);
interface UserRecord {
  partitionKey: string;
  explicitPartitionKey?: string;
  subSequenceNumber?: number;
  data: string;
}
const agg = requireRoot("aws-kinesis-agg") as {
  deaggregateSync(record: { partitionKey: string; data: string; sequenceNumber: string }, checksums: boolean, done: (err: Error | null, records?: UserRecord[]) => void): void;
  aggregate(
    records: Array<{ partitionKey: string; explicitHashKey?: string; data: Buffer }>,
    onRecord: (encoded: { partitionKey: string; explicitHashKey?: string; data: Buffer }, callback: (err?: Error) => void) => void,
    afterAll: () => void,
    onError: (err: Error) => void,
  ): void;
};
const aggCommon = requireRoot("aws-kinesis-agg/lib/common.js") as {
  loadBuilder(): { decode(bytes: Buffer): { records: Array<{ data: Buffer; tags: Array<{ key: string; value?: string }> }> } };
};

function deaggregate(data: Buffer, partitionKey = "outer"): UserRecord[] {
  let out: UserRecord[] | undefined;
  agg.deaggregateSync({ partitionKey, data: data.toString("base64"), sequenceNumber: "49590338271490256608559692538361571095921575989136588898" }, true, (err, records) => {
    if (err !== null && err !== undefined) throw err;
    out = records;
  });
  return out!;
}

function sample(n: number): KplSubRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    partitionKey: `key-${i % 3}-ü`,
    explicitHashKey: i % 4 === 0 ? String(2n ** 127n + BigInt(i)) : undefined,
    data: i === 2 ? new Uint8Array(0) : randomBytes(1 + ((i * 37) % 300)),
    tags: i % 2 === 0 ? [["traceparent", `00-${"a".repeat(32)}-${"b".repeat(16)}-01`], ["brook-idempotency-key", `order-${i}`], ["empty", ""]] : [],
  }));
}

describe("KPL aggregation format", () => {
  test("aws-kinesis-agg de-aggregates what Brook encodes: data, partition keys, explicit hash keys and tags intact", () => {
    const records = sample(25);
    const encoded = encodeAggregate(records);
    const users = deaggregate(encoded);
    expect(users).toHaveLength(records.length);
    users.forEach((u, i) => {
      expect(Buffer.from(u.data, "base64").equals(Buffer.from(records[i]!.data))).toBe(true);
      expect(u.partitionKey).toBe(records[i]!.partitionKey);
      // (For a record without one, aws-kinesis-agg reports table entry 0: proto2's default index.)
      if (records[i]!.explicitHashKey !== undefined) expect(u.explicitPartitionKey).toBe(records[i]!.explicitHashKey);
      expect(u.subSequenceNumber).toBe(i);
    });
    // Tags: aws-kinesis-agg's own protobuf schema reads them (its deaggregate() does not return them).
    const message = aggCommon.loadBuilder().decode(encoded.subarray(4, encoded.length - 16));
    message.records.forEach((r, i) => {
      expect(r.tags.map((t) => [t.key, t.value ?? ""])).toEqual(records[i]!.tags);
    });
  });

  test("Brook decodes what aws-kinesis-agg aggregates", async () => {
    const input = Array.from({ length: 40 }, (_, i) => ({ partitionKey: `pk-${i % 5}`, data: randomBytes(10 + i), ...(i % 7 === 0 ? { explicitHashKey: String(1000 + i) } : {}) }));
    const encoded: Array<{ partitionKey: string; data: Buffer }> = [];
    await new Promise<void>((resolve, reject) => {
      agg.aggregate(
        input,
        (record, callback) => {
          encoded.push(record);
          callback();
        },
        resolve,
        reject,
      );
    });
    const decoded = encoded.flatMap((e) => decodeAggregate(e.data) ?? []);
    expect(decoded.map((d) => Buffer.from(d.data).toString("hex"))).toEqual(input.map((i) => i.data.toString("hex")));
    expect(decoded.map((d) => d.partitionKey)).toEqual(input.map((i) => i.partitionKey));
    expect(decoded.map((d) => d.explicitHashKey)).toEqual(input.map((i) => i.explicitHashKey));
  });

  test("the builder's size is the encoded size, so a packer can stay under a limit", () => {
    const builder = new KplAggregateBuilder();
    for (const r of sample(60)) {
      const predicted = builder.sizeWith(r);
      builder.add(r);
      expect(builder.size).toBe(predicted);
      expect(builder.encode().length).toBe(predicted);
    }
  });

  test("a record without the magic, too short, or with a wrong MD5 is a plain record", () => {
    const encoded = encodeAggregate(sample(3));
    expect(isAggregate(encoded)).toBe(true);
    const damaged = Buffer.from(encoded);
    damaged[10] = damaged[10]! ^ 0xff;
    expect(decodeAggregate(damaged)).toBeUndefined();
    expect(decodeAggregate(Buffer.from("plain text that is long enough to not be short"))).toBeUndefined();
    expect(decodeAggregate(encoded.subarray(0, 12))).toBeUndefined();
    // Read as a record: the damaged aggregate is one message with its bytes as they are.
    const read = toSourceRecords("shardId-000000000000", { SequenceNumber: "5", PartitionKey: "k", Data: damaged, ApproximateArrivalTimestamp: new Date(0) });
    expect(read).toHaveLength(1);
    expect(Buffer.from(read[0]!.value).equals(damaged)).toBe(true);
  });

  test("read back, sub-records get extended offsets, tags become headers and the idempotency key", () => {
    const data = encodeAggregate([
      { partitionKey: "cust-1", data: Buffer.from("a"), tags: [["source", "web"], ["brook-idempotency-key", "order-1"]] },
      { partitionKey: "~brook:0011223344556677", data: Buffer.from("b"), tags: [] },
    ]);
    const read = toSourceRecords("shardId-000000000001", { SequenceNumber: "900", PartitionKey: "cust-1", Data: data, ApproximateArrivalTimestamp: new Date(1) });
    expect(read.map((r) => [r.offset, r.key, r.idempotencyKey, r.headers, Buffer.from(r.value).toString()])).toEqual([
      ["900:0", "cust-1", "order-1", { source: "web" }, "a"],
      ["900:1", undefined, undefined, {}, "b"],
    ]);
    // Resuming inside the aggregate (KCL checkpoint 900 / sub 0) skips what was processed.
    expect(toSourceRecords("s", { SequenceNumber: "900", Data: data }, { sequence: "900", sub: 0 }).map((r) => r.offset)).toEqual(["900:1"]);
    expect(toSourceRecords("s", { SequenceNumber: "900", Data: data }, { sequence: "900", sub: 1 })).toEqual([]);
    expect(toSourceRecords("s", { SequenceNumber: "1000", Data: data }, { sequence: "900", sub: 1 })).toHaveLength(2);
  });
});
