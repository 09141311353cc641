import { describe, expect, test } from "@jest/globals";
import { BrookError } from "@brook/core";
import { recordError, toKinesisBrookError } from "./errors.js";

function awsError(name: string, message = "boom", status?: number): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
}

describe("AWS errors → BrookError", () => {
  test.each([
    ["ProvisionedThroughputExceededException", "THROTTLED", true],
    ["KMSThrottlingException", "THROTTLED", true],
    ["LimitExceededException", "THROTTLED", true],
    ["InternalFailure", "UNAVAILABLE", true],
    ["InvalidArgumentException", "INVALID_ARGUMENT", false],
    ["AccessDeniedException", "PERMISSION_DENIED", false],
    ["UnrecognizedClientException", "UNAUTHENTICATED", false],
    ["KMSDisabledException", "UNAVAILABLE", false],
    ["ExpiredIteratorException", "UNAVAILABLE", true],
  ])("%s → %s (retriable %s), SDK error kept as cause", (name, code, retriable) => {
    const cause = awsError(name);
    const e = toKinesisBrookError(cause, 'publish to stream "orders"');
    expect(e).toBeInstanceOf(BrookError);
    expect(e).toMatchObject({ code, retriable });
    expect(e.cause).toBe(cause);
    expect(e.message).toMatch(/publish to stream "orders": boom/);
  });

  test("an unnamed 5xx is UNAVAILABLE; a socket error is UNAVAILABLE; anything else takes the fallback", () => {
    expect(toKinesisBrookError(awsError("Unknown", "UnknownError", 500), "x").code).toBe("UNAVAILABLE");
    expect(toKinesisBrookError(Object.assign(new Error("refused"), { code: "ECONNREFUSED" }), "x").code).toBe("UNAVAILABLE");
    expect(toKinesisBrookError(new Error("odd"), "x", "INTERNAL").code).toBe("INTERNAL");
  });

  test("a record refused for its size is MESSAGE_TOO_LARGE, other invalid arguments stay INVALID_ARGUMENT", () => {
    expect(toKinesisBrookError(awsError("ValidationException", "1 validation error detected: Value at 'records.1.member.data' failed to satisfy constraint: Member must have length less than or equal to 1048576"), "x").code).toBe("MESSAGE_TOO_LARGE");
    expect(recordError("InvalidArgumentException", "Record size exceeds the maximum of 1 MiB", "publish").code).toBe("MESSAGE_TOO_LARGE");
    expect(toKinesisBrookError(awsError("InvalidArgumentException", "Records size exceeds 5 MB limit"), "x").code).toBe("MESSAGE_TOO_LARGE");
    expect(toKinesisBrookError(awsError("InvalidArgumentException", "StartingSequenceNumber is not in the shard"), "x").code).toBe("INVALID_ARGUMENT");
    expect(toKinesisBrookError(awsError("ValidationException", "Value at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1"), "x").code).toBe("INVALID_ARGUMENT");
  });

  test("a PutRecords entry's ErrorCode becomes a per-entry error core can retry", () => {
    expect(recordError("ProvisionedThroughputExceededException", "Rate exceeded for shard", "publish")).toMatchObject({ code: "THROTTLED", retriable: true });
    expect(recordError("InternalFailure", undefined, "publish")).toMatchObject({ code: "UNAVAILABLE", retriable: true });
    expect(recordError("KMSAccessDeniedException", "no", "publish")).toMatchObject({ code: "PERMISSION_DENIED", retriable: false });
  });
});
