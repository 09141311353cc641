/** Unit tests of the subscription core's parts, each on its own (no broker). */
import { describe, expect, test } from "@jest/globals";
import { BrookError, PermanentError } from "../errors.js";
import { MemoryDedupeStore } from "../dedupe.js";
import { DLQ_HEADERS, IDEMPOTENCY_HEADER } from "../headers.js";
import type { OutgoingMessage, PartitionHealth, PublishBatchResult, Publisher } from "../contract.js";
import type { AckSource, CommitSource, SourceRecord } from "../spi.js";
import { placeInLog } from "../offsets.js";
import { toLogger } from "../logger.js";
import { DeadLetterer } from "./dead-letter.js";
import { HandlerRunner, type RunnerHooks } from "./handler-runner.js";
import { PartitionHealthTracker } from "./health.js";
import { resolveSubscribeOptions, validateSeekTarget, type ResolvedSubscribeOptions } from "./options.js";
import { AckSettlement, WatermarkSettlement } from "./settlement.js";

const noop = (): void => undefined;
const caps = { nativeDeadLetter: false };

function record(offset: number, extra: Partial<SourceRecord> = {}): SourceRecord {
  return { partition: "0", offset: String(offset), key: undefined, idempotencyKey: undefined, headers: {}, value: Buffer.from(`m${offset}`), publishTime: new Date(0), ...extra };
}

function commitSource(): CommitSource & { commits: Array<Map<string, string>> } {
  const commits: Array<Map<string, string>> = [];
  return {
    settleMode: "commit",
    commits,
    start: async () => undefined,
    seek: async () => undefined,
    stop: async () => undefined,
    commit: async (w) => void commits.push(new Map(w)),
  };
}

function ackSource(): AckSource & { acked: string[]; redelivered: string[] } {
  const acked: string[] = [];
  const redelivered: string[] = [];
  return {
    settleMode: "ack",
    acked,
    redelivered,
    start: async () => undefined,
    seek: async () => undefined,
    stop: async () => undefined,
    ack: (r) => void acked.push(r.offset),
    redeliver: (r) => void redelivered.push(r.offset),
  };
}

describe("resolveSubscribeOptions", () => {
  test("applies every default once", () => {
    const r = resolveSubscribeOptions({ group: "g", handler: noop }, caps);
    expect(r).toMatchObject({ group: "g", ordering: "key", maxInFlight: 256, startFrom: "latest", deadLetter: { kind: "none" }, createIfMissing: false });
    expect(r.handler.kind).toBe("message");
    expect(r.retry).toEqual({ maxAttempts: 5, minDelayMs: 100, maxDelayMs: 30_000 });
    const b = resolveSubscribeOptions({ group: "g", batchHandler: noop, maxBatchSize: 10 }, caps);
    expect(b.handler).toMatchObject({ kind: "batch", maxBatchSize: 10 });
    expect(b.maxInFlight).toBe(40);
  });

  test.each([
    [{ group: "", handler: noop }, /group/],
    [{ group: "g" }, /handler/],
    [{ group: "g", handler: noop, batchHandler: noop }, /handler/],
    [{ group: "g", handler: noop, maxInFlight: 0 }, /maxInFlight/],
    [{ group: "g", handler: noop, ordering: "random" }, /ordering/],
    [{ group: "g", handler: noop, deadLetter: { topic: "" } }, /deadLetter/],
    [{ group: "g", handler: noop, dedupe: { store: {} } }, /dedupe\.store/],
    [{ group: "g", handler: noop, dedupe: { store: new MemoryDedupeStore(), ttlMs: -1 } }, /dedupe\.ttlMs/],
    [{ group: "g", handler: noop, startFrom: { positions: [{ partition: "0", offset: 5 }] } }, /startFrom\.positions\[0\]/],
    [{ group: "g", handler: noop, startFrom: { time: new Date("nope") } }, /startFrom/],
    [{ group: "g", handler: noop, retry: { maxAttempts: 0 } }, /retry\.maxAttempts/],
    [{ group: "g", handler: noop, commitIntervalMs: 0 }, /commitIntervalMs/],
    [{ group: "g", handler: noop, createIfMissing: "yes" }, /createIfMissing/],
  ])("refuses %j with INVALID_ARGUMENT naming the field", (options, field) => {
    let thrown: unknown;
    try {
      resolveSubscribeOptions(options as never, caps);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(BrookError);
    expect(thrown).toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(field) });
  });

  test('deadLetter "native" is UNSUPPORTED where the backend has none, accepted where it has', () => {
    expect(() => resolveSubscribeOptions({ group: "g", handler: noop, deadLetter: "native" }, caps)).toThrow(expect.objectContaining({ code: "UNSUPPORTED" }) as unknown as Error);
    expect(resolveSubscribeOptions({ group: "g", handler: noop, deadLetter: "native" }, { nativeDeadLetter: true }).deadLetter).toEqual({ kind: "native" });
  });

  test("seek targets are checked field by field", () => {
    expect(validateSeekTarget({ positions: [{ partition: "1", offset: "7" }] })).toEqual({ positions: [{ partition: "1", offset: "7" }] });
    expect(() => validateSeekTarget({ positions: [{ partition: 1, offset: "7" }] })).toThrow(/positions\[0\]/);
    expect(() => validateSeekTarget({})).toThrow(/seek target/);
  });
});

describe("WatermarkSettlement", () => {
  test("commits only the contiguous watermark, never past an unsettled offset", async () => {
    const source = commitSource();
    const s = new WatermarkSettlement(source);
    s.reset("0", undefined);
    const tokens = [0, 1, 2, 3].map((o) => s.track(record(o)));
    s.settle(record(0), tokens[0]!);
    s.settle(record(2), tokens[2]!);
    s.settle(record(3), tokens[3]!);
    await s.commit(["0"]);
    expect(source.commits).toEqual([new Map([["0", "0"]])]);
    expect(s.inFlight("0")).toBe(3); // the window above the watermark: 1 unsettled, 2 and 3 waiting behind it
    s.settle(record(1), tokens[1]!);
    await s.commit(["0"]);
    await s.commit(["0"]); // nothing moved: no second commit of the same mark
    expect(source.commits).toEqual([new Map([["0", "0"]]), new Map([["0", "3"]])]);
    expect(s.committed("0")).toBe("3");
  });

  test("a settle from before a reset (seek) is ignored", async () => {
    const source = commitSource();
    const s = new WatermarkSettlement(source);
    s.reset("0", undefined);
    const stale = s.track(record(0));
    s.reset("0", "9");
    s.settle(record(0), stale);
    await s.commit(["0"]);
    expect(source.commits).toEqual([]);
    expect(s.settledUpTo("0")).toBe("9");
  });

  test("cannot hand a message back: a log redelivers by not committing", () => {
    expect(() => new WatermarkSettlement(commitSource()).redeliver(record(0))).toThrow(expect.objectContaining({ code: "INTERNAL" }) as unknown as Error);
  });
});

describe("AckSettlement", () => {
  test("acks each message, hands back redeliveries, and acks nothing once closed", async () => {
    const source = ackSource();
    const s = new AckSettlement(source);
    for (const o of [1, 2, 3]) s.track(record(o));
    expect(s.inFlight("0")).toBe(3);
    s.settle(record(2), 0, false);
    s.redeliver(record(1), 10);
    s.settle(record(3), 0, true);
    await s.commit();
    expect(source.acked).toEqual(["2"]);
    expect(source.redelivered).toEqual(["1"]);
    expect(s.inFlight("0")).toBe(0);
  });
});

describe("PartitionHealthTracker", () => {
  test("lag is end minus the next unsettled offset; a stall is reported once until progress", () => {
    const s = new WatermarkSettlement(commitSource());
    const stalls: PartitionHealth[] = [];
    const h = new PartitionHealthTracker(s, 1_000, (x) => stalls.push(x));
    h.assign({ partition: "0", lastCommitted: "4", startOffset: "5" });
    h.reportEnd("0", "20");
    expect(h.health()).toMatchObject([{ partition: "0", lag: 15, inFlight: 0, stalled: false, committed: "4" }]);
    const now = Date.now();
    h.checkStalls(now + 500);
    expect(stalls).toHaveLength(0);
    h.checkStalls(now + 2_000);
    h.checkStalls(now + 3_000);
    expect(stalls).toHaveLength(1);
    expect(stalls[0]).toMatchObject({ partition: "0", lag: 15, stalled: true });
    h.progress("0");
    expect(h.health()[0]!.stalled).toBe(false);
    h.markRevoked(["0"]);
    expect(h.health()).toEqual([]);
    expect(h.owned()).toEqual([]);
    expect([...h.known()]).toEqual(["0"]);
  });

  test("a reported backlog gives lag as unread plus in flight; a reader behind by an unknown count has undefined lag and can stall", () => {
    const s = new WatermarkSettlement(commitSource());
    const stalls: PartitionHealth[] = [];
    const h = new PartitionHealthTracker(s, 1_000, (x) => stalls.push(x));
    h.assign({ partition: "shard-1" });
    // Kinesis-like sequence numbers: neither consecutive nor of one length.
    for (const offset of ["49590338271490256608559692538361571095921575989136588898", "49590338271490256608559692540925702759324208523137515618", "9223372036854775807"]) {
      s.track({ ...record(0), partition: "shard-1", offset });
    }
    h.reportBacklog("shard-1", { records: 2, behindMs: 0 });
    expect(h.health()).toMatchObject([{ partition: "shard-1", lag: 5, lagMs: 0, inFlight: 3 }]);
    h.reportBacklog("shard-1", { records: undefined, behindMs: 86_400_000 });
    expect(h.health()[0]).toMatchObject({ lag: undefined, lagMs: 86_400_000 });
    const idle = new PartitionHealthTracker(new WatermarkSettlement(commitSource()), 1_000, (x) => stalls.push(x));
    idle.assign({ partition: "shard-2" });
    idle.reportBacklog("shard-2", { records: undefined, behindMs: 5_000 });
    idle.checkStalls(Date.now() + 2_000);
    expect(stalls.map((x) => x.partition)).toEqual(["shard-2"]);
  });

  test("a partition without lag or work never stalls; lag is undefined for offsets that are not numbers", () => {
    const stalls: PartitionHealth[] = [];
    const h = new PartitionHealthTracker(new AckSettlement(ackSource()), 10, (x) => stalls.push(x));
    h.assign({ partition: "*" });
    h.reportEnd("*", "message-id-7");
    h.checkStalls(Date.now() + 60_000);
    expect(stalls).toHaveLength(0);
    expect(h.health()[0]!.lag).toBeUndefined();
  });
});

function memoryPublisher(fail?: BrookError): Publisher<Uint8Array> & { sent: OutgoingMessage<Uint8Array>[] } {
  const sent: OutgoingMessage<Uint8Array>[] = [];
  return {
    topic: "dlq",
    sent,
    publish: async () => ({ position: { partition: "0", offset: "0" }, duplicate: false }),
    publishBatch: async (messages): Promise<PublishBatchResult[]> => {
      if (fail !== undefined) return messages.map(() => ({ ok: false as const, error: fail }));
      sent.push(...messages);
      return messages.map((_, i) => ({ ok: true as const, position: { partition: "0", offset: String(i) }, duplicate: false }));
    },
    flush: async () => undefined,
    close: async () => undefined,
  };
}

describe("DeadLetterer", () => {
  test("republishes with the brook-* headers, the key and the original headers", async () => {
    const pub = memoryPublisher();
    const d = new DeadLetterer("orders", "orders.dlq", () => pub, noop);
    await d.deadLetter([record(7, { key: "k", headers: { trace: "t" } })], new Error("boom"), 3);
    expect(pub.sent).toHaveLength(1);
    expect(pub.sent[0]!.key).toBe("k");
    expect(pub.sent[0]!.headers).toEqual({
      trace: "t",
      [DLQ_HEADERS.reason]: "boom",
      [DLQ_HEADERS.originalTopic]: "orders",
      [DLQ_HEADERS.originalPosition]: "0:7",
      [DLQ_HEADERS.attempts]: "3",
    });
  });

  test("without a dead-letter topic the drop is reported as an error naming the message", async () => {
    const errors: BrookError[] = [];
    await new DeadLetterer("orders", undefined, () => memoryPublisher(), (e) => errors.push(e)).deadLetter([record(4)], new Error("bad"), 5);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/0\/4 of topic "orders" failed after 5 attempt\(s\)/);
  });

  test("a failed dead-letter publish throws, so the message stays unsettled", async () => {
    const d = new DeadLetterer("orders", "orders.dlq", () => memoryPublisher(new BrookError("UNAVAILABLE", "down")), noop);
    await expect(d.deadLetter([record(1)], new Error("x"), 1)).rejects.toMatchObject({ code: "UNAVAILABLE", message: expect.stringMatching(/orders\.dlq/) });
  });
});

describe("HandlerRunner", () => {
  function setup(overrides: Partial<ResolvedSubscribeOptions<string>> = {}) {
    const options = { ...resolveSubscribeOptions<string>({ group: "g", handler: noop, codec: "string", retry: { maxAttempts: 3, minDelayMs: 1, maxDelayMs: 2 } }, { nativeDeadLetter: true }), ...overrides };
    const settled: string[] = [];
    const redelivered: string[] = [];
    const dead: Array<{ offsets: string[]; attempts: number; reason: string }> = [];
    const errors: BrookError[] = [];
    const abort = new AbortController();
    const hooks: RunnerHooks = {
      settle: (r) => void settled.push(r.offset),
      redeliver: (r) => void redelivered.push(r.offset),
      deadLetter: async (rs, failure, attempts) => void dead.push({ offsets: rs.map((r) => r.offset), attempts, reason: String((failure as Error).message) }),
      error: (e) => void errors.push(e),
      isClosed: () => false,
    };
    return { runner: new HandlerRunner<string>("t", options, abort.signal, "brook", hooks), settled, redelivered, dead, errors, abort };
  }

  test("retries with deliveryAttempt + 1 and settles once it succeeds", async () => {
    const { runner, settled, dead } = setup();
    const attempts: number[] = [];
    await runner.runMessage((m) => {
      attempts.push(m.deliveryAttempt);
      if (attempts.length < 3) throw new Error("again");
    }, record(1), 0);
    expect(attempts).toEqual([1, 2, 3]);
    expect(settled).toEqual(["1"]);
    expect(dead).toEqual([]);
    expect(runner.stats).toMatchObject({ acked: 1, retried: 2, deadLettered: 0 });
  });

  test("a PermanentError is dead-lettered after one attempt; exhausted attempts after maxAttempts", async () => {
    const { runner, settled, dead } = setup();
    await runner.runMessage(() => {
      throw new PermanentError("never");
    }, record(1), 0);
    await runner.runMessage(() => {
      throw new Error("always");
    }, record(2), 0);
    expect(dead).toEqual([
      { offsets: ["1"], attempts: 1, reason: "never" },
      { offsets: ["2"], attempts: 3, reason: "always" },
    ]);
    expect(settled).toEqual(["1", "2"]);
  });

  test("a key the dedupe store has seen is settled without calling the handler; the headers hide Brook's own", async () => {
    const store = new MemoryDedupeStore();
    const { runner, settled } = setup({ dedupe: { store, ttlMs: 60_000 } });
    const seen: Array<Record<string, string>> = [];
    const handler = (m: { headers: Record<string, string> }): void => void seen.push(m.headers);
    const withKey = (o: number): SourceRecord => record(o, { headers: { [IDEMPOTENCY_HEADER]: "order-1", a: "b" } });
    await runner.runMessage(handler, withKey(1), 0);
    await runner.runMessage(handler, withKey(2), 0);
    expect(seen).toEqual([{ a: "b" }]);
    expect(settled).toEqual(["1", "2"]);
    expect(runner.stats.duplicates).toBe(1);
  });

  test('deadLetter "native": a failure goes back to the provider, one try per delivery', async () => {
    const { runner, settled, redelivered, dead } = setup({ deadLetter: { kind: "native" } });
    let calls = 0;
    await runner.runMessage(() => {
      calls += 1;
      throw new PermanentError("no");
    }, record(5, { deliveryAttempt: 4 }), 0);
    expect(calls).toBe(1);
    expect(redelivered).toEqual(["5"]);
    expect(settled).toEqual([]);
    expect(dead).toEqual([]);
  });

  test("a message whose retry is cut short by close is neither settled nor dead-lettered", async () => {
    const { runner, settled, dead, abort } = setup({ retry: { maxAttempts: 5, minDelayMs: 50, maxDelayMs: 100 } });
    const run = runner.runMessage(() => {
      throw new Error("slow failure");
    }, record(1), 0);
    abort.abort();
    await run;
    expect(settled).toEqual([]);
    expect(dead).toEqual([]);
  });

  test("after close aborts the subscription, a queued message is not handed to the handler and is not settled", async () => {
    const { runner, settled, abort } = setup();
    abort.abort();
    let calls = 0;
    await runner.runMessage(() => void (calls += 1), record(1), 0);
    await runner.runBatch(() => void (calls += 1), [record(2)], [0]);
    expect(calls).toBe(0);
    expect(settled).toEqual([]);
  });

  test("a batch handler's throw retries the whole batch; exhausted, the whole batch is dead-lettered", async () => {
    const { runner, settled, dead } = setup();
    const calls: number[][] = [];
    await runner.runBatch((ms) => {
      calls.push(ms.map((m) => m.deliveryAttempt));
      throw new Error("batch fails");
    }, { count: 2, record: (i) => [record(1), record(2)][i]!, records: () => [record(1), record(2)], settle: () => settled.push("1", "2") });
    expect(calls).toEqual([[1, 1], [2, 2], [3, 3]]);
    expect(dead).toEqual([{ offsets: ["1", "2"], attempts: 3, reason: "batch fails" }]);
    expect(settled).toEqual(["1", "2"]);
  });
});

describe("placeInLog", () => {
  test("in range stays; before the start or past the end moves by policy with OUT_OF_RANGE naming the range", () => {
    expect(placeInLog("t/0", 5n, 0n, 10n, "earliest")).toEqual({ next: 5n, error: undefined });
    expect(placeInLog("t/0", 10n, 0n, 10n, "error")).toEqual({ next: 10n, error: undefined });
    const early = placeInLog("t/0", 3n, 100n, 150n, "earliest");
    expect(early.next).toBe(100n);
    expect(early.error).toMatchObject({ code: "OUT_OF_RANGE", message: expect.stringContaining("offsets 3–99 were removed by retention") });
    const late = placeInLog("t/0", 3n, 100n, 150n, "latest");
    expect(late.next).toBe(150n);
    expect(late.error!.message).toContain("100–149 are skipped too");
    const stop = placeInLog("t/0", 3n, 100n, 150n, "error");
    expect(stop.next).toBeUndefined();
    expect(stop.error!.message).toContain("left unread");
    const past = placeInLog("t/0", 900n, 0n, 20n, "earliest");
    expect(past.next).toBe(0n);
    expect(past.error!.message).toContain("past the log's end 20");
  });
});

describe("ManagedSubscription stall hook", () => {
  test("a stalled partition is handed to the source's stalled() after the event, with its health", async () => {
    const { ManagedSubscription } = await import("./managed-subscription.js");
    const calls: Array<[string, PartitionHealth]> = [];
    const events: string[] = [];
    const source = { ...commitSource(), stalled: (p: string, h: PartitionHealth) => void calls.push([p, h]) };
    const options = resolveSubscribeOptions({ group: "g", handler: noop, stallTimeoutMs: 50 }, caps);
    const sub = new ManagedSubscription({ topic: "t", source, options, logger: { debug: noop, info: noop, warn: noop, error: noop }, openDeadLetterPublisher: () => { throw new Error("no DLQ"); } });
    sub.on("stalled", (h) => events.push(`event ${h.partition}`));
    await sub.start();
    sub.assigned([{ partition: "3", lastCommitted: "9", startOffset: "10" }]);
    sub.reportEnd("3", "15");
    const deadline = Date.now() + 5_000;
    while (calls.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await sub.close();
    expect(events).toEqual(["event 3"]);
    expect(calls).toHaveLength(1);
    expect(calls[0]![0]).toBe("3");
    expect(calls[0]![1]).toMatchObject({ partition: "3", lag: 5, inFlight: 0, stalled: true });
  });
});

describe("toLogger", () => {
  test("a pino-style logger gets (fields, message); console-style loggers are used as they are", () => {
    const calls: unknown[][] = [];
    const pinoLike = {
      levels: { values: { info: 30 } },
      child: () => pinoLike,
      debug: (...a: unknown[]) => void calls.push(["debug", ...a]),
      info: (...a: unknown[]) => void calls.push(["info", ...a]),
      warn: (...a: unknown[]) => void calls.push(["warn", ...a]),
      error: (...a: unknown[]) => void calls.push(["error", ...a]),
    };
    toLogger(pinoLike)!.warn("disk is slow", { ms: 12 });
    expect(calls).toEqual([["warn", { ms: 12 }, "disk is slow"]]);
    expect(toLogger(console)).toBe(console);
    expect(toLogger(undefined)).toBeUndefined();
  });
});
