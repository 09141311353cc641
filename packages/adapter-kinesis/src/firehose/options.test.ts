import { describe, expect, test } from "@jest/globals";
import { BrookError } from "@brook/core";
import { LOCAL_ROLE_ARN, parseFirehoseUrl, resolveFirehoseOptions } from "./options.js";
import { toFirehoseBrookError, firehoseRecordError } from "./errors.js";

describe("firehose:// URL and options", () => {
  test("every URL parameter becomes its typed option; typed options win", () => {
    const fromUrl = parseFirehoseUrl("firehose://eu-west-1?endpoint=http%3A%2F%2F127.0.0.1%3A5000&bucket=logs&prefix=orders%2F&framing=none&requestTimeoutMs=5000");
    expect(fromUrl).toEqual({ region: "eu-west-1", endpoint: "http://127.0.0.1:5000", bucket: "logs", prefix: "orders/", framing: "none", requestTimeoutMs: 5000 });
    const r = resolveFirehoseOptions(fromUrl, { framing: "newline", envelope: "json" });
    expect(r).toMatchObject({ region: "eu-west-1", bucket: "logs", prefix: "orders/", framing: "newline", envelope: "json", requestTimeoutMs: 5000, connectionTimeoutMs: 3000 });
    // A loopback endpoint (an emulator) gets placeholder credentials and role.
    expect(r.roleArn).toBe(LOCAL_ROLE_ARN);
  });

  test("bad URLs are INVALID_URL naming the parameter; bad options INVALID_ARGUMENT naming the field", () => {
    expect(() => parseFirehoseUrl("kinesis://us-east-1")).toThrow(expect.objectContaining({ code: "INVALID_URL" }) as unknown as Error);
    expect(() => parseFirehoseUrl("firehose://us-east-1?envelope=kpl")).toThrow(/envelope must be none or json/);
    expect(() => parseFirehoseUrl("firehose://us-east-1?shards=2")).toThrow(/unknown parameter "shards"/);
    expect(() => parseFirehoseUrl("firehose://us-east-1?secretAccessKey=s3cr3t&x=1")).toThrow(expect.objectContaining({ message: expect.not.stringMatching(/s3cr3t/) }) as unknown as Error);
    expect(() => resolveFirehoseOptions({ region: "us-east-1" }, { bucket: "Not_A_Bucket" })).toThrow(/bucket/);
    expect(() => resolveFirehoseOptions({ region: "us-east-1" }, { envelope: "json", framing: "none" })).toThrow(/framing/);
    expect(() => resolveFirehoseOptions({}, { region: "US East" })).toThrow(/region/);
    expect(() => resolveFirehoseOptions({ region: "us-east-1" }, { accessKeyId: "a" })).toThrow(/secretAccessKey/);
  });
});

describe("Firehose errors → BrookError", () => {
  const aws = (name: string, message = "boom"): Error => Object.assign(new Error(message), { name, $metadata: { httpStatusCode: 400 } });
  test.each([
    ["ServiceUnavailableException", "THROTTLED", true],
    ["LimitExceededException", "THROTTLED", true],
    ["ResourceInUseException", "UNAVAILABLE", true],
    ["InvalidKMSResourceException", "UNAVAILABLE", false],
    ["InvalidSourceException", "INVALID_ARGUMENT", false],
    ["AccessDeniedException", "PERMISSION_DENIED", false],
    ["InvalidArgumentException", "INVALID_ARGUMENT", false],
  ])("%s → %s (retriable %s), SDK error kept as cause", (name, code, retriable) => {
    const cause = aws(name);
    const e = toFirehoseBrookError(cause, 'publish to delivery stream "logs"');
    expect(e).toBeInstanceOf(BrookError);
    expect(e).toMatchObject({ code, retriable });
    expect(e.cause).toBe(cause);
  });

  test("a missing stream is TOPIC_NOT_FOUND naming it; a record over the size limit is MESSAGE_TOO_LARGE; a per-record ServiceUnavailable is retriable", () => {
    expect(toFirehoseBrookError(aws("ResourceNotFoundException", "Firehose logs under account 1 not found."), "x", "logs")).toMatchObject({ code: "TOPIC_NOT_FOUND", message: expect.stringMatching(/"logs"/) });
    expect(toFirehoseBrookError(aws("ValidationException", "Value at 'records.1.member.data' failed to satisfy constraint: Member must have length less than or equal to 1024000"), "x").code).toBe("MESSAGE_TOO_LARGE");
    expect(firehoseRecordError("ServiceUnavailableException", "Slow down.", "x")).toMatchObject({ code: "THROTTLED", retriable: true });
    expect(firehoseRecordError("InternalFailure", undefined, "x")).toMatchObject({ code: "UNAVAILABLE", retriable: true });
  });
});
