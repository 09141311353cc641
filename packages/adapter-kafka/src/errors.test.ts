import { describe, expect, test } from "@jest/globals";
import kafkajs from "kafkajs";
import { BrookError } from "@brook/core";
import { kafkaErrorType, toKafkaBrookError } from "./errors.js";

const { KafkaJSProtocolError, KafkaJSNumberOfRetriesExceeded, KafkaJSConnectionError, KafkaJSNonRetriableError } = kafkajs;

// As KafkaJS builds them from a broker's error code (protocol/error.js): type, code, retriable.
const protocolError = (type: string, code: number, retriable: boolean): Error =>
  new KafkaJSProtocolError({ type, code, retriable, message: `the broker said ${type}` } as never);

describe("KafkaJS errors → BrookError", () => {
  test("a missing topic behind the retry wrapper is TOPIC_NOT_FOUND, not retriable, with the cause kept", () => {
    const cause = new KafkaJSProtocolError("This server does not host this topic-partition");
    Object.assign(cause, { type: "UNKNOWN_TOPIC_OR_PARTITION", retriable: true });
    const wrapped = new KafkaJSNumberOfRetriesExceeded(cause, { retryCount: 5, retryTime: 3000 });
    const error = toKafkaBrookError(wrapped, 'publish to topic "t"');
    expect(error).toBeInstanceOf(BrookError);
    expect(error.code).toBe("TOPIC_NOT_FOUND");
    expect(error.retriable).toBe(false);
    expect(error.cause).toBe(wrapped);
    expect(error.message).toMatch(/^publish to topic "t": .*UNKNOWN_TOPIC_OR_PARTITION/);
    expect(kafkaErrorType(wrapped)).toBe("UNKNOWN_TOPIC_OR_PARTITION");
  });

  test.each([
    ["TOPIC_ALREADY_EXISTS", 36, false, "ALREADY_EXISTS", false],
    ["MESSAGE_TOO_LARGE", 10, false, "MESSAGE_TOO_LARGE", false],
    ["TOPIC_AUTHORIZATION_FAILED", 29, false, "PERMISSION_DENIED", false],
    ["SASL_AUTHENTICATION_FAILED", 58, false, "UNAUTHENTICATED", false],
    ["REQUEST_TIMED_OUT", 7, true, "TIMEOUT", true],
    ["NOT_LEADER_FOR_PARTITION", 6, true, "UNAVAILABLE", true],
    ["INVALID_PARTITIONS", 37, false, "INVALID_ARGUMENT", false],
  ])("%s (%d) → %s", (type, code, kafkaRetriable, brookCode, retriable) => {
    const error = toKafkaBrookError(protocolError(type as string, code as number, kafkaRetriable as boolean), "op");
    expect(error.code).toBe(brookCode);
    expect(error.retriable).toBe(retriable);
  });

  test("client-side errors", () => {
    expect(toKafkaBrookError(new KafkaJSConnectionError("Connection error: connect ECONNREFUSED"), "connect")).toMatchObject({ code: "UNAVAILABLE", retriable: true });
    expect(toKafkaBrookError(new KafkaJSNonRetriableError(new Error("boom")), "op", "INTERNAL")).toMatchObject({ code: "INTERNAL", retriable: false });
    const existing = new BrookError("CLOSED", "closed");
    expect(toKafkaBrookError(existing, "op")).toBe(existing);
  });
});
