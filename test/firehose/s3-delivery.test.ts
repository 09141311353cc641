/**
 * Firehose on moto, verified by what lands in S3: every message published arrives exactly once,
 * intact, and framed as promised (one message per line; one JSON object per line with the
 * envelope); delivery stream admin; the publish-only contract (subscribe is UNSUPPORTED).
 */
import { isDeepStrictEqual } from "node:util";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { connect, type PublishBatchResult } from "@brook/core";
import type { FirehoseBroker } from "@brook/adapter-kinesis";
import { uniqueTopic } from "@brook/contract-tests";
import { describeMoto, useMoto } from "./moto.js";

const N = 10_000;
/** A bound for a 10,000-message round trip: ~5 s alone, several times that on a busy 2-core CI box. */
const BIG_TIMEOUT_MS = 180_000;

interface Order {
  n: number;
  text: string;
  items: Array<{ sku: string; qty: number }>;
  note: string;
}

/** A message whose text needs escaping in JSON: quotes, a newline, a tab, non-ASCII. */
const order = (n: number): Order => ({ n, text: `order "${n}"\n\tüñí ✓`, items: [{ sku: `sku-${n % 97}`, qty: n % 7 }], note: "x".repeat(n % 300) });

function expectAllOk(results: PublishBatchResult[]): void {
  const failed = results.filter((r) => !r.ok);
  expect(failed.map((r) => (r.ok ? "" : `${r.error.code}: ${r.error.message}`)).slice(0, 3)).toEqual([]);
}

/** The lines of every object: each object must end with a newline, so no line spans two objects. */
function linesOf(objects: Array<{ key: string; body: Buffer }>): string[] {
  const lines: string[] = [];
  for (const o of objects) {
    const text = o.body.toString("utf8");
    expect(text.endsWith("\n")).toBe(true);
    lines.push(...text.slice(0, -1).split("\n"));
  }
  return lines;
}

describeMoto("Firehose delivery to S3 (moto)", () => {
  const moto = useMoto();
  let bucket: string;
  let broker: FirehoseBroker;

  beforeAll(async () => {
    bucket = await moto.bucket("brook-fh");
    broker = await connect(moto.url(`&bucket=${bucket}`));
  });
  afterAll(async () => {
    await broker?.close();
  });

  test("10,000 messages with the json codec: one JSON document per line, each exactly once and intact", async () => {
    const stream = uniqueTopic("fh-json");
    await broker.admin.createTopic(stream, { s3: { prefix: `${stream}/` } });
    const pub = broker.publisher<Order>(stream, { codec: "json" });
    const results = await pub.publishBatch(Array.from({ length: N }, (_, n) => ({ data: order(n) })));
    expectAllOk(results);
    expect(new Set(results.map((r) => (r.ok ? r.position.offset : ""))).size).toBe(N); // a RecordId each
    await pub.close();
    const objects = await moto.objects(bucket, `${stream}/`);
    // 500 records per PutRecordBatch, and moto writes one object per call.
    expect(objects.length).toBe(N / 500);
    const lines = linesOf(objects);
    expect(lines.length).toBe(N);
    // Checked with isDeepStrictEqual and reported together: 10,000 jest expects take seconds each run.
    const seen = new Map<number, number>();
    const wrong: string[] = [];
    for (const line of lines) {
      const got = JSON.parse(line) as Order;
      if (!isDeepStrictEqual(got, order(got.n))) wrong.push(line);
      seen.set(got.n, (seen.get(got.n) ?? 0) + 1);
    }
    expect(wrong.slice(0, 3)).toEqual([]);
    expect(seen.size).toBe(N);
    expect([...seen.entries()].filter(([, c]) => c !== 1)).toEqual([]);
  }, BIG_TIMEOUT_MS);

  test('10,000 messages with envelope "json": one object per line with data, key, headers, idempotencyKey and publishTime', async () => {
    const stream = uniqueTopic("fh-env");
    await broker.admin.createTopic(stream, { s3: { bucket, prefix: `${stream}/` } });
    const pub = broker.publisher<Order>(stream, { codec: "json", envelope: "json" });
    const before = Date.now();
    const results = await pub.publishBatch(
      Array.from({ length: N }, (_, n) => ({ data: order(n), key: `cust-${n % 50}`, idempotencyKey: `order-${n}`, headers: { source: "web", seq: String(n), "x-quote": 'a"b\nc' } })),
    );
    const after = Date.now();
    expectAllOk(results);
    await pub.close();
    const lines = linesOf(await moto.objects(bucket, `${stream}/`));
    expect(lines.length).toBe(N);
    const seen = new Set<number>();
    const wrong: string[] = [];
    for (const line of lines) {
      const got = JSON.parse(line) as { data: Order; key: string; headers: Record<string, string>; idempotencyKey: string; publishTime: string };
      const n = got.data.n;
      const t = Date.parse(got.publishTime);
      const expected = { data: order(n), key: `cust-${n % 50}`, headers: { source: "web", seq: String(n), "x-quote": 'a"b\nc' }, idempotencyKey: `order-${n}`, publishTime: got.publishTime };
      const fieldsInOrder = Object.keys(got).join() === "data,key,headers,idempotencyKey,publishTime";
      if (seen.has(n) || !fieldsInOrder || !isDeepStrictEqual(got, expected) || !(t >= before - 1 && t <= after + 1)) wrong.push(line);
      seen.add(n);
    }
    expect(wrong.slice(0, 3)).toEqual([]);
    expect(seen.size).toBe(N);
  }, BIG_TIMEOUT_MS);

  test("the string codec refuses a newline alone; bytes with framing none arrive as given; the auto codec's objects and strings are lines", async () => {
    const stream = uniqueTopic("fh-mixed");
    await broker.admin.createTopic(stream, { s3: { prefix: `${stream}/` } });
    const text = broker.publisher<string>(stream, { codec: "string" });
    const r = await text.publishBatch([{ data: "one" }, { data: "two\nlines" }, { data: "three" }]);
    expect(r.map((x) => x.ok)).toEqual([true, false, true]);
    expect(!r[1]!.ok && r[1]!.error).toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/newline/) });
    // Without the envelope a key, an idempotency key or a header would be lost: refused, naming it.
    await expect(text.publish({ data: "k", key: "k1" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/key/) });
    await expect(text.publish({ data: "h", headers: { source: "web" } })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/source/) });
    await expect(text.publish({ data: "i", idempotencyKey: "id" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/idempotencyKey/) });
    // The default codec: its content-type header is what the framing already says, so it is dropped.
    const auto = broker.publisher<unknown>(stream);
    await auto.publish({ data: { total: 12 } });
    await auto.publish({ data: "plain" });
    const lines = linesOf(await moto.objects(bucket, `${stream}/`));
    // Sorted: objects written within the same second are listed in no particular order.
    expect([...lines].sort()).toEqual(["one", "three", '{"total":12}', "plain"].sort());

    const rawStream = uniqueTopic("fh-raw");
    await broker.admin.createTopic(rawStream, { s3: { prefix: `${rawStream}/` } });
    const raw = broker.publisher<Uint8Array>(rawStream, { codec: "bytes" });
    const parts = [Buffer.from([0, 10, 13]), Buffer.from("no newline added"), Buffer.from([255])];
    expectAllOk(await raw.publishBatch(parts.map((data) => ({ data }))));
    // One publishBatch, one PutRecordBatch, one object: the bytes exactly as given, nothing added.
    const bodies = await moto.objects(bucket, `${rawStream}/`);
    expect(bodies.length).toBe(1);
    expect(bodies[0]!.body.equals(Buffer.concat(parts))).toBe(true);
  });

  test("admin: create (ACTIVE, to the bucket and prefix), describe, list, exists, delete; ALREADY_EXISTS and TOPIC_NOT_FOUND", async () => {
    const stream = uniqueTopic("fh-admin");
    await expect(broker.admin.topicExists(stream)).resolves.toBe(false);
    await broker.admin.createTopic(stream, { partitions: 4, s3: { bucket, prefix: "admin/" } });
    await expect(broker.admin.describeTopic(stream)).resolves.toEqual({ name: stream, partitions: undefined, retentionMs: undefined, status: "ACTIVE", s3: { bucket, prefix: "admin/" } });
    expect(await broker.admin.listTopics()).toContain(stream);
    await expect(broker.admin.topicExists(stream)).resolves.toBe(true);
    await expect(broker.admin.createTopic(stream)).rejects.toMatchObject({ code: "ALREADY_EXISTS" });
    await broker.admin.createTopic(stream, { ifNotExists: true });
    await broker.admin.deleteTopic(stream);
    await expect(broker.admin.topicExists(stream)).resolves.toBe(false);
    await expect(broker.admin.deleteTopic(stream)).rejects.toMatchObject({ code: "TOPIC_NOT_FOUND", message: expect.stringContaining(stream) });
    await expect(broker.admin.describeTopic(stream)).rejects.toMatchObject({ code: "TOPIC_NOT_FOUND" });
    await expect(broker.publisher(stream).publish({ data: 1 })).rejects.toMatchObject({ code: "TOPIC_NOT_FOUND", cause: expect.objectContaining({ name: "ResourceNotFoundException" }) });
    // No bucket given and none on the broker: refused before any call, naming the field.
    const bare = await connect(moto.url());
    try {
      await expect(bare.admin.createTopic(uniqueTopic("fh-nobucket"))).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/s3\.bucket/) });
    } finally {
      await bare.close();
    }
  });

  test("publish-only: subscribe and consume are UNSUPPORTED naming Firehose; capabilities say so", async () => {
    expect(broker.capabilities).toMatchObject({ subscribe: false, consumerGroups: false, seek: { offset: false, time: false }, partitions: "none", maxBatchCount: 500, maxBatchBytes: 4 * 1_048_576 });
    const stream = uniqueTopic("fh-sub");
    await expect(broker.subscribe(stream, { group: "g", handler: () => undefined })).rejects.toMatchObject({ code: "UNSUPPORTED", message: expect.stringMatching(/Firehose/) });
    expect(() => broker.consume(stream, { group: "g" })).toThrow(/Firehose is a publish-only/);
  });
});
