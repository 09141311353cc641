import { expect } from "@jest/globals";
import { DLQ_HEADERS, PermanentError, type ReceivedMessage } from "@brook/core";
import { needs, type ContractContext } from "./context.js";
import { sleep, uniqueTopic, waitFor } from "./helpers.js";

/** A handler that throws: retries with a counted attempt, then the dead-letter topic. */
export function failureCases(ctx: ContractContext): void {
  const { when, wait } = ctx;

  when("a handler that throws gets the message again, with deliveryAttempt counting 1, 2, 3", needs.nothing, async () => {
    const name = await ctx.topic("retry", 1);
    const attempts: number[] = [];
    await ctx.subscribe<string>(name, {
      group: "g",
      retry: { maxAttempts: 5, minDelayMs: 5, maxDelayMs: 20 },
      handler: (m) => {
        attempts.push(m.deliveryAttempt);
        if (attempts.length < 3) throw new Error("transient");
      },
    });
    await ctx.broker.publisher<string>(name).publish({ data: "x" });
    await waitFor(() => attempts.length >= 3, wait(20_000), "three attempts");
    await sleep(100);
    expect(attempts).toEqual([1, 2, 3]);
  });

  when(
    "a message that exhausts its attempts, or throws PermanentError, is dead-lettered once with brook-* headers and not redelivered",
    needs.nothing,
    async () => {
      const name = await ctx.topic("dlq", 1);
      const dlq = await ctx.topic("dlq-target", 1);
      const calls = new Map<string, number>();
      const handled: string[] = [];
      await ctx.subscribe<string>(name, {
        group: "g",
        retry: { maxAttempts: 3, minDelayMs: 5, maxDelayMs: 20 },
        deadLetter: { topic: dlq },
        ordering: "none",
        handler: (m) => {
          calls.set(m.data, (calls.get(m.data) ?? 0) + 1);
          if (m.data === "poison") throw new Error("cannot process poison");
          if (m.data === "fatal") throw new PermanentError("fatal input");
          handled.push(m.data);
        },
      });
      const dead: ReceivedMessage<string>[] = [];
      await ctx.subscribe<string>(dlq, { group: "dlq-reader", codec: "string", handler: (m) => void dead.push(m) });
      const pub = ctx.broker.publisher<string>(name);
      await pub.publish({ data: "poison", key: "p", headers: { trace: "t1" } });
      await pub.publish({ data: "fatal", key: "f" });
      await pub.publish({ data: "fine", key: "ok" });
      await waitFor(() => dead.length >= 2 && handled.includes("fine"), wait(30_000), "two dead letters and the fine message");
      // A later message proves the subscriber moved on; the poison one must not come back.
      await pub.publish({ data: "sentinel" });
      await waitFor(() => handled.includes("sentinel"), wait(20_000), "the sentinel");
      await sleep(200);
      expect(calls.get("poison")).toBe(3);
      expect(calls.get("fatal")).toBe(1);
      const poison = dead.find((m) => m.data.includes("poison"))!;
      expect(poison).toBeDefined();
      expect(poison.headers[DLQ_HEADERS.reason]).toContain("cannot process poison");
      expect(poison.headers[DLQ_HEADERS.originalTopic]).toBe(name);
      expect(poison.headers[DLQ_HEADERS.originalPosition]).toMatch(/.+:.+/);
      expect(poison.headers[DLQ_HEADERS.attempts]).toBe("3");
      expect(poison.headers.trace).toBe("t1");
      expect(poison.key).toBe("p");
      const fatal = dead.find((m) => m.data.includes("fatal"))!;
      expect(fatal.headers[DLQ_HEADERS.attempts]).toBe("1");
      expect(fatal.headers[DLQ_HEADERS.reason]).toContain("fatal input");
      expect(dead).toHaveLength(2);
      await pub.close();
    },
  );

  when("a dead-letter topic that does not exist is refused at subscribe (TOPIC_NOT_FOUND naming deadLetter.topic), not discovered at the first poison message", needs.nothing, async () => {
    const name = await ctx.topic("dlq-missing", 1);
    const missing = uniqueTopic("dlq-nowhere");
    await expect(ctx.broker.subscribe(name, { group: "g", deadLetter: { topic: missing }, handler: () => undefined })).rejects.toMatchObject({
      code: "TOPIC_NOT_FOUND",
      message: expect.stringContaining("deadLetter.topic"),
    });
    expect(await ctx.broker.admin.topicExists(missing)).toBe(false);
  });
}
