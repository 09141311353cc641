import { describe, expect, test } from "@jest/globals";
import { IDEMPOTENCY_HEADER, setHeader } from "./headers.js";
import { validateHeaders } from "./publisher.js";
import { HandlerRunner } from "./subscription/handler-runner.js";
import { resolveSubscribeOptions } from "./subscription/options.js";

/** Headers with an own property named "__proto__" (a computed key; a literal would set the prototype). */
function withProto(): Record<string, string> {
  return { a: "1", ["__proto__"]: "kept", b: "2" };
}

describe("a header named __proto__", () => {
  test("setHeader keeps it as an own property of a plain object; other names are plain assignments", () => {
    const headers: Record<string, string> = {};
    setHeader(headers, "x", "1");
    setHeader(headers, "__proto__", "kept");
    expect(Object.getPrototypeOf(headers)).toBe(Object.prototype);
    expect(Object.entries(headers)).toEqual([
      ["x", "1"],
      ["__proto__", "kept"],
    ]);
    expect({ ...headers }).toEqual(headers);
  });

  test("validateHeaders keeps it (it used to drop it silently)", () => {
    const out = validateHeaders(withProto());
    expect(Object.hasOwn(out, "__proto__")).toBe(true);
    expect(Object.entries(out)).toEqual(Object.entries(withProto()));
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
  });

  test("the handler sees it when the headers are copied (frozen by the store, or carrying Brook's own header)", () => {
    const options = resolveSubscribeOptions<string>({ group: "g", handler: () => undefined, codec: "string" }, { nativeDeadLetter: true });
    const runner = new HandlerRunner<string>("t", options, new AbortController().signal, {
      settle: () => undefined,
      redeliver: () => undefined,
      deadLetter: async () => undefined,
      error: () => undefined,
      isClosed: () => false,
    });
    const record = (headers: Record<string, string>) => ({ partition: "0", offset: "1", key: undefined, idempotencyKey: undefined, headers, value: Buffer.from("x"), publishTime: new Date(0) });
    const frozen = runner.decode(record(Object.freeze(withProto())), 1);
    expect(Object.entries(frozen.headers)).toEqual(Object.entries(withProto()));
    const ours = withProto();
    ours[IDEMPOTENCY_HEADER] = "k";
    const stripped = runner.decode(record(ours), 1);
    expect(Object.entries(stripped.headers)).toEqual(Object.entries(withProto()));
    expect(stripped.idempotencyKey).toBe("k");
  });
});
