import { describe, expect, test } from "@jest/globals";
import { formatPubSubUrl, mergeOptions, parsePubSubUrl } from "./options.js";
import { toPubSubError } from "./errors.js";

describe("pubsub URL options", () => {
  test("every URL parameter has a typed option and round-trips", () => {
    const url =
      "pubsub://my-project?emulatorHost=127.0.0.1%3A8085&apiEndpoint=europe-west1-pubsub.googleapis.com&subscriptionName=%7Bgroup%7D-on-%7Btopic%7D" +
      "&deadLetterTopic=dead.%7Btopic%7D&exactlyOnceDelivery=true&messageOrdering=false&retryPolicy=false&maxStreams=2&maxBufferedMessages=500&requestTimeoutMs=5000&subscriptionRetentionMs=600000&topicRetentionMs=86400000";
    const parsed = parsePubSubUrl(url);
    expect(parsed).toEqual({
      projectId: "my-project",
      emulatorHost: "127.0.0.1:8085",
      apiEndpoint: "europe-west1-pubsub.googleapis.com",
      subscriptionName: "{group}-on-{topic}",
      deadLetterTopic: "dead.{topic}",
      exactlyOnceDelivery: true,
      messageOrdering: false,
      retryPolicy: false,
      maxStreams: 2,
      maxBufferedMessages: 500,
      requestTimeoutMs: 5000,
      subscriptionRetentionMs: 600000,
      topicRetentionMs: 86400000,
    });
    expect(parsePubSubUrl(formatPubSubUrl(parsed))).toEqual(parsed);
  });

  test("typed options override the URL and are type-checked", () => {
    const merged = mergeOptions(parsePubSubUrl("pubsub://p?maxStreams=3"), { maxStreams: 1, exactlyOnceDelivery: true });
    expect(merged).toMatchObject({ projectId: "p", maxStreams: 1, exactlyOnceDelivery: true });
    expect(() => mergeOptions({ projectId: "p" }, { maxStreams: "2" })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/maxStreams/) }));
    expect(() => mergeOptions({ projectId: "p" }, { subscriptionName: "{topic}-only" })).toThrow(/subscriptionName/);
  });

  test("topicRetentionMs: 0 means topics without retention; otherwise Pub/Sub's 10 min to 31 days", () => {
    expect(parsePubSubUrl("pubsub://p?topicRetentionMs=0").topicRetentionMs).toBe(0);
    expect(parsePubSubUrl(formatPubSubUrl({ projectId: "p", topicRetentionMs: 0 })).topicRetentionMs).toBe(0);
    expect(mergeOptions({ projectId: "p" }, { topicRetentionMs: 31 * 24 * 3600_000 }).topicRetentionMs).toBe(31 * 24 * 3600_000);
    expect(() => mergeOptions({ projectId: "p" }, { topicRetentionMs: 60_000 })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/topicRetentionMs/) }));
    expect(() => mergeOptions({ projectId: "p" }, { topicRetentionMs: -1 })).toThrow(/topicRetentionMs/);
    expect(() => parsePubSubUrl("pubsub://p?topicRetentionMs=0.5")).toThrow(expect.objectContaining({ code: "INVALID_URL" }));
    // 0 is allowed for topicRetentionMs only.
    expect(() => parsePubSubUrl("pubsub://p?maxStreams=0")).toThrow(/maxStreams/);
  });

  test("bad URLs are INVALID_URL naming the problem", () => {
    for (const [url, pattern] of [
      ["pubsub://", /project.id/],
      ["pubsub:///x", /project.id/],
      ["kafka://p", /pubsub:\/\//],
      ["pubsub://p?nope=1", /unknown parameter "nope"/],
      ["pubsub://p?maxStreams=zero", /maxStreams/],
      ["pubsub://p?exactlyOnceDelivery=yes", /exactlyOnceDelivery/],
      ["pubsub://p?subscriptionRetentionMs=60000", /subscriptionRetentionMs/],
      ["pubsub://p?subscriptionName=%7Btopic%7D", /\{group\}/],
    ] as const) {
      expect(() => parsePubSubUrl(url)).toThrow(expect.objectContaining({ code: "INVALID_URL", message: expect.stringMatching(pattern) }));
    }
  });
});

describe("gRPC status → BrookError", () => {
  const grpc = (code: number, details: string): Error => Object.assign(new Error(`${code} X: ${details}`), { code, details });
  test.each([
    [5, "TOPIC_NOT_FOUND", false],
    [8, "THROTTLED", true],
    [14, "UNAVAILABLE", true],
    [4, "TIMEOUT", true],
    [7, "PERMISSION_DENIED", false],
    [16, "UNAUTHENTICATED", false],
    [3, "INVALID_ARGUMENT", false],
    [11, "INVALID_ARGUMENT", false],
    [6, "ALREADY_EXISTS", false],
    [12, "UNSUPPORTED", false],
  ] as const)("status %i → %s (retriable %s), cause kept", (status, code, retriable) => {
    const original = grpc(status, "details here");
    const mapped = toPubSubError(original, 'publish to topic "t"');
    expect(mapped).toMatchObject({ code, retriable });
    expect(mapped.cause).toBe(original);
    expect(mapped.message).toContain('publish to topic "t"');
    expect(mapped.message).toContain("details here");
  });
});
