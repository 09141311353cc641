import { expect } from "@jest/globals";
import { BrookError } from "@brook/core";
import { needs, type ContractContext } from "./context.js";
import { sleep, uniqueTopic, waitFor } from "./helpers.js";

/** Publishing: per-entry batch results and typed errors for what the application got wrong. */
export function publishCases(ctx: ContractContext): void {
  const { when, wait } = ctx;

  when(
    "publishBatch reports each entry on its own: an oversize entry fails with MESSAGE_TOO_LARGE and the others are published",
    needs.publishOnly,
    async () => {
      const name = await ctx.topic("partial", 1);
      const got: string[] = [];
      // A publish-only sink: the per-entry results are what the application has to go on.
      const reads = ctx.caps.subscribe;
      if (reads) await ctx.subscribe<Uint8Array>(name, { group: "g", codec: "bytes", handler: (m) => void got.push(Buffer.from(m.data).toString()) });
      const pub = ctx.broker.publisher<Uint8Array>(name, { codec: "bytes" });
      const big = Buffer.alloc(ctx.caps.maxMessageBytes + 1, 0x61);
      const results = await pub.publishBatch([Buffer.from("m0"), Buffer.from("m1"), big, Buffer.from("m3")].map((data) => ({ data })));
      expect(results.map((r) => r.ok)).toEqual([true, true, false, true]);
      const failed = results[2]!;
      expect(!failed.ok && failed.error).toBeInstanceOf(BrookError);
      expect(!failed.ok && failed.error.code).toBe("MESSAGE_TOO_LARGE");
      expect(!failed.ok && failed.error.message).toMatch(/messages\[2\]/);
      if (reads) {
        await waitFor(() => got.length >= 3, wait(20_000), "three messages");
        await sleep(100);
        expect(got).toEqual(["m0", "m1", "m3"]);
      }
      await expect(pub.publish({ data: big })).rejects.toMatchObject({ code: "MESSAGE_TOO_LARGE" });
      await pub.close();
    },
  );

  when("bad input is refused with a typed BrookError that names the field", needs.publishOnly, async () => {
    const broker = ctx.broker;
    await expect(broker.admin.createTopic("")).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    let thrown: unknown;
    try {
      broker.publisher("bad topic!");
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/topic/) });
    const missing = uniqueTopic("missing");
    await expect(broker.publisher(missing).publish({ data: 1 })).rejects.toMatchObject({ code: "TOPIC_NOT_FOUND" });
    // A publish-only sink refuses every subscribe with UNSUPPORTED, never a silent no-op.
    const subscribeFails = (code: string) => (ctx.caps.subscribe ? code : "UNSUPPORTED");
    await expect(broker.subscribe(missing, { group: "g", handler: () => undefined })).rejects.toMatchObject({ code: subscribeFails("TOPIC_NOT_FOUND") });
    const name = await ctx.topic("badinput", 1);
    const json = broker.publisher<unknown>(name);
    await expect(json.publish({ data: { n: 10n } })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/data/) });
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    await expect(json.publish({ data: circular })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(broker.publisher<unknown>(name, { codec: "bytes" }).publish({ data: "not bytes" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(json.publish({ data: 1, headers: { n: 5 as unknown as string } })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/headers\.n/) });
    if (ctx.caps.subscribe) {
      await expect(broker.subscribe(name, { group: "g", maxInFlight: 0, handler: () => undefined })).rejects.toMatchObject({
        code: "INVALID_ARGUMENT",
        message: expect.stringMatching(/maxInFlight/),
      });
      await expect(broker.subscribe(name, { group: "", handler: () => undefined })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    } else {
      await expect(broker.subscribe(name, { group: "g", handler: () => undefined })).rejects.toMatchObject({ code: "UNSUPPORTED" });
      expect(() => broker.consume(name, { group: "g" })).toThrow(expect.objectContaining({ code: "UNSUPPORTED" }) as unknown as Error);
    }
    await json.close();
    await expect(json.publish({ data: 1 })).rejects.toMatchObject({ code: "CLOSED" });
  });
}
