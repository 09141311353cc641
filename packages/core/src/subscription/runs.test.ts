/** Runs (DeliverySink.deliverRun): records made on demand, tracked and settled as ranges. */
import { describe, expect, test } from "@jest/globals";
import { PermanentError } from "../errors.js";
import type { ReceivedMessage } from "../contract.js";
import type { CommitSource, RecordRun, SourceRecord } from "../spi.js";
import { ManagedSubscription } from "./managed-subscription.js";
import { resolveSubscribeOptions } from "./options.js";

const noop = (): void => undefined;
const logger = { debug: noop, info: noop, warn: noop, error: noop };

function record(offset: number): SourceRecord {
  return { partition: "0", offset: String(offset), key: undefined, idempotencyKey: undefined, headers: {}, value: Buffer.from(`m${offset}`), publishTime: new Date(0) };
}

/** A run of partition "0" that notes every record it is asked to make. */
function run(first: number, count: number, made: number[] = []): RecordRun {
  return { partition: "0", firstOffset: first, count, record: (i) => (made.push(first + i), record(first + i)) };
}

function source(): CommitSource & { commits: Array<Map<string, string>> } {
  const commits: Array<Map<string, string>> = [];
  return { settleMode: "commit", commits, start: async () => undefined, seek: async () => undefined, stop: async () => undefined, commit: async (w) => void commits.push(new Map(w)) };
}

async function subscribe(src: CommitSource, options: Record<string, unknown>) {
  const resolved = resolveSubscribeOptions({ group: "g", codec: "bytes", retry: { maxAttempts: 3, minDelayMs: 1, maxDelayMs: 2 }, ...options } as never, { nativeDeadLetter: false });
  const sub = new ManagedSubscription({ topic: "t", source: src, options: resolved, logger, openDeadLetterPublisher: () => { throw new Error("no DLQ"); } });
  await sub.start();
  sub.assigned([{ partition: "0", lastCommitted: "99", startOffset: "100" }]);
  return sub;
}

async function waitFor(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

function gate(): { wait: Promise<void>; open: () => void } {
  let open = noop;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

describe("deliverRun, per-message handler, ordering partition", () => {
  test("a message retried in the middle of a run holds the commit just before it; the run stays in order", async () => {
    const src = source();
    const seen: string[] = [];
    const held = gate();
    let failed = false;
    const sub = await subscribe(src, {
      ordering: "partition",
      handler: async (m: ReceivedMessage<Buffer>) => {
        seen.push(`${m.position.offset}#${m.deliveryAttempt}`);
        if (m.position.offset === "104" && !failed) {
          failed = true;
          throw new Error("first attempt fails");
        }
        if (m.position.offset === "104") await held.wait;
      },
    });
    sub.deliverRun(run(100, 10));
    await waitFor(() => seen.includes("104#2"));
    await sub.commit();
    expect(src.commits.at(-1)).toEqual(new Map([["0", "103"]]));
    expect(sub.health()[0]).toMatchObject({ inFlight: 6 });
    held.open();
    await waitFor(() => sub.health()[0]!.inFlight === 0);
    await sub.commit();
    expect(src.commits.at(-1)).toEqual(new Map([["0", "109"]]));
    expect(seen).toEqual(["100#1", "101#1", "102#1", "103#1", "104#1", "104#2", "105#1", "106#1", "107#1", "108#1", "109#1"]);
    expect(sub.stats()).toMatchObject({ delivered: 10, acked: 10, retried: 1 });
    await sub.close();
  });

  test("async handlers that resolve at once: a message that waits holds back only itself", async () => {
    const src = source();
    const held = gate();
    const seen: string[] = [];
    const sub = await subscribe(src, {
      ordering: "partition",
      handler: async (m: ReceivedMessage<Buffer>) => {
        seen.push(m.position.offset);
        if (m.position.offset === "105") await held.wait;
      },
    });
    sub.deliverRun(run(100, 10));
    await waitFor(() => seen.includes("105") && sub.health()[0]!.inFlight === 5);
    await sub.commit();
    expect(src.commits.at(-1)).toEqual(new Map([["0", "104"]]));
    held.open();
    await waitFor(() => sub.health()[0]!.inFlight === 0);
    await sub.commit();
    expect(src.commits.at(-1)).toEqual(new Map([["0", "109"]]));
    expect(sub.stats()).toMatchObject({ delivered: 10, acked: 10 });
    await sub.close();
  });

  test("a message that fails for good in the middle is dead-lettered, and the commit then passes it", async () => {
    const src = source();
    const errors: string[] = [];
    const sub = await subscribe(src, {
      ordering: "partition",
      handler: (m: ReceivedMessage<Buffer>) => {
        if (m.position.offset === "105") throw new PermanentError("bad message");
      },
    });
    sub.on("error", (e) => errors.push(e.message));
    sub.deliverRun(run(100, 10));
    await waitFor(() => sub.health()[0]!.inFlight === 0);
    await sub.commit();
    expect(src.commits.at(-1)).toEqual(new Map([["0", "109"]]));
    expect(sub.stats()).toMatchObject({ delivered: 10, acked: 10, deadLettered: 1 });
    expect(errors.join("\n")).toContain("0/105");
    await sub.close();
  });

  test("a seek (reset) mid-run: the rest of the old run is not committed", async () => {
    const src = source();
    const held = gate();
    const seen: string[] = [];
    const sub = await subscribe(src, {
      ordering: "partition",
      handler: async (m: ReceivedMessage<Buffer>) => {
        seen.push(m.position.offset);
        if (m.position.offset === "103") await held.wait;
      },
    });
    sub.deliverRun(run(100, 10));
    await waitFor(() => seen.includes("103"));
    sub.reset("0", { partition: "0", lastCommitted: "49" });
    held.open();
    await waitFor(() => seen.length === 10);
    await sub.commit();
    expect(src.commits.flatMap((c) => [...c.values()])).not.toContain("109");
    expect(sub.health()[0]).toMatchObject({ inFlight: 0 });
    await sub.close();
  });

  test("a source waiting for room is woken once a quarter of maxInFlight is free, not at one free slot", async () => {
    const src = source();
    const gates = Array.from({ length: 8 }, () => gate());
    const sub = await subscribe(src, { ordering: "partition", maxInFlight: 8, handler: async (m: ReceivedMessage<Buffer>) => gates[Number(m.position.offset) - 100]!.wait });
    sub.deliverRun(run(100, 8));
    expect(sub.available).toBe(0);
    let woken = false;
    const room = sub.waitForCapacity().then(() => void (woken = true));
    gates[0]!.open();
    await waitFor(() => sub.available === 1);
    await new Promise((r) => setTimeout(r, 20));
    expect(woken).toBe(false);
    gates[1]!.open();
    await room;
    expect(sub.available).toBe(2);
    gates.forEach((g) => g.open());
    await waitFor(() => sub.health()[0]!.inFlight === 0);
    await sub.close();
  });

  test("ordering \"key\" keeps a task per message: records of other keys pass a retrying one", async () => {
    const src = source();
    const seen: string[] = [];
    const sub = await subscribe(src, { ordering: "key", maxInFlight: 100, handler: (m: ReceivedMessage<Buffer>) => void seen.push(m.position.offset) });
    sub.deliverRun(run(100, 5));
    await waitFor(() => seen.length === 5);
    await sub.commit();
    expect(src.commits.at(-1)).toEqual(new Map([["0", "104"]]));
    await sub.close();
  });
});

describe("deliverRun, batch handler", () => {
  test("batches are views over the run: a handler that reads only the length makes no record", async () => {
    const src = source();
    const made: number[] = [];
    const sizes: number[] = [];
    const sub = await subscribe(src, { batchHandler: async (ms: ReceivedMessage<Buffer>[]) => void sizes.push(ms.length), maxBatchSize: 4 });
    sub.deliverRun(run(100, 10, made));
    await waitFor(() => sizes.length === 3);
    expect(sizes).toEqual([4, 4, 2]);
    expect(made).toEqual([]);
    await waitFor(() => sub.health()[0]!.inFlight === 0);
    await sub.commit();
    expect(src.commits.at(-1)).toEqual(new Map([["0", "109"]]));
    await sub.close();
  });

  test("reading one message makes one record; a batch that fails for good is dead-lettered whole and committed past", async () => {
    const src = source();
    const made: number[] = [];
    const read: string[] = [];
    const errors: string[] = [];
    const sub = await subscribe(src, {
      maxBatchSize: 5,
      batchHandler: async (ms: ReceivedMessage<Buffer>[]) => {
        read.push(ms[1]!.data.toString());
        if (ms[0]!.position.offset === "105") throw new PermanentError("batch fails");
      },
    });
    sub.on("error", (e) => errors.push(e.message));
    sub.deliverRun(run(100, 10, made));
    await waitFor(() => sub.health()[0]!.inFlight === 0);
    await sub.commit();
    expect(src.commits.at(-1)).toEqual(new Map([["0", "109"]]));
    expect(read).toEqual(["m101", "m106"]);
    // batch 1: record 1 read, then record 0; batch 2: the same, then all five for the dead letter
    expect(made.slice(0, 2)).toEqual([101, 100]);
    expect(new Set(made)).toEqual(new Set([100, 101, 105, 106, 107, 108, 109]));
    expect(sub.stats()).toMatchObject({ delivered: 10, deadLettered: 5 });
    expect(errors.join("\n")).toContain("0/105");
    await sub.close();
  });
});
