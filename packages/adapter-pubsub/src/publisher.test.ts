import { describe, expect, test } from "@jest/globals";
import { type PublishBatchResult } from "@brook/core";
import { CorePublisher } from "@brook/core/spi";
import { PubSubPublishTransport, type PubsubMessageProto } from "./publisher.js";

// The transient path of ordering-key pausing, which the emulator cannot produce on demand
// (test/pubsub/ordering-pause.test.ts covers the permanent path against the emulator).
function unavailable(): Error {
  return Object.assign(new Error("14 UNAVAILABLE: connection reset"), { code: 14, details: "connection reset" });
}

describe("ordering-key pause around core's retries", () => {
  test("a transient failure is retried by core first; the key stays open when the retry succeeds", async () => {
    const requests: PubsubMessageProto[][] = [];
    let failNext = 1;
    let id = 0;
    const transport = new PubSubPublishTransport("t", "projects/p/topics/t", async (_topic, messages) => {
      requests.push(messages);
      if (failNext-- > 0) throw unavailable();
      return messages.map(() => String(++id));
    });
    const pub = new CorePublisher<string>(transport, { codec: "string" });
    const results = await pub.publishBatch([
      { key: "k", data: "a" },
      { key: "k", data: "b" },
      { data: "c" },
    ]);
    expect(results.map((r) => r.ok)).toEqual([true, true, true]);
    // one failed request, then the retry of all three in order
    expect(requests.map((r) => r.map((m) => Buffer.from(m.data).toString()))).toEqual([["a", "b", "c"], ["a", "b", "c"]]);
    expect(transport.pausedKeys()).toEqual([]);
    await pub.publish({ key: "k", data: "d" });
    await pub.close();
  });

  test("retries used up: the key pauses, later messages are refused until resumeKey()", async () => {
    let down = true;
    let id = 0;
    const transport = new PubSubPublishTransport("t", "projects/p/topics/t", async (_topic, messages) => {
      if (down) throw unavailable();
      return messages.map(() => String(++id));
    });
    const pub = new CorePublisher<string>(transport, { codec: "string", maxRetries: 1 });
    const failed = await pub.publishBatch([{ key: "k", data: "a" }]);
    expect(failed[0]).toMatchObject({ ok: false, error: { code: "UNAVAILABLE", retriable: true } });
    down = false;
    const refused: PublishBatchResult[] = await pub.publishBatch([{ key: "k", data: "b" }, { key: "other", data: "c" }, { data: "d" }]);
    expect(refused.map((r) => r.ok)).toEqual([false, true, true]);
    const error = (refused[0] as { error: { code: string; retriable: boolean; message: string } }).error;
    expect(error).toMatchObject({ code: "UNAVAILABLE", retriable: false });
    expect(error.message).toMatch(/resumeKey\("k"\)/);
    expect(transport.pausedKeys()).toEqual(["k"]);
    transport.resumeKey("k");
    await expect(pub.publish({ key: "k", data: "e" })).resolves.toMatchObject({ position: { partition: "*" } });
    await pub.close();
  });
});
