import { expect } from "@jest/globals";
import { DLQ_HEADERS, PermanentError, schemaCodec, type ReceivedMessage, type StandardSchemaV1 } from "@brook/core";
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

  when(
    "a schema codec refuses a publish that does not match (INVALID_ARGUMENT) and dead-letters a received message that does not match with the validator's reason, without retries",
    needs.nothing,
    async () => {
      const name = await ctx.topic("schema", 1);
      const dlq = await ctx.topic("schema-dlq", 1);
      const codec = schemaCodec(positiveTotal);
      const calls: number[] = [];
      await ctx.subscribe(name, {
        group: "g",
        codec,
        retry: { maxAttempts: 3, minDelayMs: 5, maxDelayMs: 20 },
        deadLetter: { topic: dlq },
        handler: (m) => void calls.push(m.data.total),
      });
      const dead: ReceivedMessage<string>[] = [];
      await ctx.subscribe<string>(dlq, { group: "dlq-reader", codec: "string", handler: (m) => void dead.push(m) });
      const pub = ctx.broker.publisher(name, { codec });
      await expect(pub.publish({ data: { total: -1 } })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/total: must be >= 0/) });
      // Another producer, without the schema, writes one that does not match, then a good one.
      await ctx.broker.publisher(name, { codec: "json" }).publish({ key: "k", data: { total: "seven" } });
      await pub.publish({ key: "k", data: { total: 7 } });
      await waitFor(() => dead.length >= 1 && calls.length >= 1, wait(30_000), "the dead letter and the good message");
      await sleep(200);
      expect(calls).toEqual([7]);
      expect(dead).toHaveLength(1);
      expect(JSON.parse(dead[0]!.data)).toEqual({ total: "seven" });
      expect(dead[0]!.headers[DLQ_HEADERS.reason]).toMatch(/does not match the schema: total: must be a number/);
      expect(dead[0]!.headers[DLQ_HEADERS.attempts]).toBe("1");
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

/** A Standard Schema validator written by hand (what zod or valibot provide): `{ total >= 0 }`. */
const positiveTotal: StandardSchemaV1<unknown, { total: number }> = {
  "~standard": {
    version: 1,
    vendor: "contract",
    validate(value) {
      const total = (value as { total?: unknown } | null)?.total;
      if (typeof total !== "number") return { issues: [{ message: "must be a number", path: ["total"] }] };
      if (total < 0) return { issues: [{ message: "must be >= 0", path: ["total"] }] };
      return { value: { total } };
    },
  },
};
