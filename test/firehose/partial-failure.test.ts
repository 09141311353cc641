/**
 * Partial failure, against a Firehose endpoint of our own (moto never fails an entry): a
 * PutRecordBatch answered with FailedPutCount > 0 and per-record ErrorCodes has only its failed
 * entries sent again; an entry that keeps failing is reported alone in publishBatch's results,
 * with its error typed and the service's error kept as cause. The endpoint is the Kinesis
 * tests' fake (AWS JSON 1.1 routed by X-Amz-Target), scripted with Firehose's operations.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import { connect } from "@brook/core";
import type { FirehoseBroker } from "@brook/adapter-kinesis";
import { uniqueTopic } from "@brook/contract-tests";
import { startFakeKinesis, type FakeKinesis } from "../kinesis/fake-kinesis.js";

interface PutEntry {
  Data: string;
}

type Answer = { RecordId: string } | { ErrorCode: string; ErrorMessage: string };

describe("Firehose partial failure (a fake Firehose endpoint)", () => {
  let fake: FakeKinesis;
  let broker: FirehoseBroker;

  beforeAll(async () => {
    fake = await startFakeKinesis();
  });
  afterEach(async () => {
    await broker?.close();
  });
  afterAll(async () => {
    await fake?.close();
  });

  async function open(): Promise<FirehoseBroker> {
    broker = await connect(`firehose://us-east-1?endpoint=${encodeURIComponent(fake.endpoint)}`);
    return broker;
  }

  /** Scripts PutRecordBatch: `fail` gives the error of an entry (by its text and the call number), or undefined to accept it. */
  function script(fail: (text: string, call: number) => { code: string; message: string } | undefined): void {
    let id = 0;
    fake.on("PutRecordBatch", (body, call) => {
      const out: Answer[] = (body.Records as PutEntry[]).map((r) => {
        const e = fail(Buffer.from(r.Data, "base64").toString(), call);
        return e === undefined ? { RecordId: `rec-${id++}` } : { ErrorCode: e.code, ErrorMessage: e.message };
      });
      return { body: { FailedPutCount: out.filter((o) => "ErrorCode" in o).length, Encrypted: false, RequestResponses: out } };
    });
  }
  const sent = (): string[][] =>
    fake.requests.filter((r) => r.operation === "PutRecordBatch").map((r) => (r.body.Records as PutEntry[]).map((e) => Buffer.from(e.Data, "base64").toString()));

  test("FailedPutCount > 0: only the failed entries are sent again, and every message gets its own RecordId", async () => {
    fake.requests.length = 0;
    script((text, call) =>
      call === 1 && text === "m1\n" ? { code: "ServiceUnavailableException", message: "Slow down." } : call === 1 && text === "m3\n" ? { code: "InternalFailure", message: "Internal service failure." } : undefined,
    );
    const pub = (await open()).publisher<string>(uniqueTopic("fh-partial"), { codec: "string" });
    const results = await pub.publishBatch(["m0", "m1", "m2", "m3", "m4"].map((data) => ({ data })));
    expect(results.map((r) => r.ok)).toEqual([true, true, true, true, true]);
    expect(sent()).toEqual([["m0\n", "m1\n", "m2\n", "m3\n", "m4\n"], ["m1\n", "m3\n"]]);
    expect(results.map((r) => (r.ok ? r.position : undefined))).toEqual([
      { partition: "*", offset: "rec-0" },
      { partition: "*", offset: "rec-3" },
      { partition: "*", offset: "rec-1" },
      { partition: "*", offset: "rec-4" },
      { partition: "*", offset: "rec-2" },
    ]);
  });

  test("an entry that keeps failing is reported alone, THROTTLED with the service's error as cause, after core's retries; the rest are published once", async () => {
    fake.requests.length = 0;
    script((text) => (text === "poison\n" ? { code: "ServiceUnavailableException", message: "Slow down." } : undefined));
    const pub = (await open()).publisher<string>(uniqueTopic("fh-poison"), { codec: "string", maxRetries: 2 });
    const results = await pub.publishBatch(["a", "poison", "b"].map((data) => ({ data })));
    expect(results.map((r) => r.ok)).toEqual([true, false, true]);
    const failed = results[1]!;
    expect(!failed.ok && failed.error).toMatchObject({ code: "THROTTLED", retriable: true, message: expect.stringMatching(/Slow down/) });
    expect(!failed.ok && failed.error.cause).toMatchObject({ name: "ServiceUnavailableException" });
    // The first call, then maxRetries (2) resends of the failing entry alone.
    expect(sent()).toEqual([["a\n", "poison\n", "b\n"], ["poison\n"], ["poison\n"]]);
    await expect(pub.publish({ data: "poison" })).rejects.toMatchObject({ code: "THROTTLED" });
  });

  test("an entry refused as invalid is not retried; a whole call refused for permissions fails every entry PERMISSION_DENIED with cause", async () => {
    fake.requests.length = 0;
    script((text) => (text === "bad\n" ? { code: "InvalidArgumentException", message: "Record is malformed." } : undefined));
    const pub = (await open()).publisher<string>(uniqueTopic("fh-invalid"), { codec: "string" });
    const results = await pub.publishBatch(["ok", "bad"].map((data) => ({ data })));
    expect(results.map((r) => (r.ok ? "ok" : r.error.code))).toEqual(["ok", "INVALID_ARGUMENT"]);
    expect(sent()).toEqual([["ok\n", "bad\n"]]);

    fake.on("PutRecordBatch", () => ({ error: "AccessDeniedException", message: "User is not authorized to perform: firehose:PutRecordBatch" }));
    const denied = await pub.publishBatch(["x", "y"].map((data) => ({ data })));
    expect(denied.map((r) => (r.ok ? "ok" : r.error.code))).toEqual(["PERMISSION_DENIED", "PERMISSION_DENIED"]);
    expect(!denied[0]!.ok && denied[0]!.error.cause).toMatchObject({ name: "AccessDeniedException" });
  });

  test("records over 4 MiB in one batch (base64 in the JSON envelope grows them by a third) are split into PutRecordBatch calls under the limit", async () => {
    fake.requests.length = 0;
    script(() => undefined);
    const pub = (await open()).publisher<Uint8Array>(uniqueTopic("fh-split"), { codec: "bytes", envelope: "json" });
    const big = Array.from({ length: 6 }, (_, i) => ({ data: Buffer.alloc(700_000, 0x61 + i) }));
    const results = await pub.publishBatch(big);
    expect(results.every((r) => r.ok)).toBe(true);
    const calls = fake.requests.filter((r) => r.operation === "PutRecordBatch").map((r) => (r.body.Records as PutEntry[]).map((e) => Buffer.from(e.Data, "base64")));
    expect(calls.length).toBeGreaterThan(1);
    for (const c of calls) expect(c.reduce((a, b) => a + b.length, 0)).toBeLessThanOrEqual(4 * 1_048_576);
    const data = calls.flat().map((line) => Buffer.from((JSON.parse(line.toString()) as { data: string }).data, "base64"));
    // Buffer.equals: jest's deep equality walks 4 MB byte by byte (tens of seconds).
    expect(data.length).toBe(big.length);
    expect(data.every((d, i) => d.equals(big[i]!.data))).toBe(true);
  });
});
