/**
 * One mirror scenario, run for each pair of backends: the mirror copies while the source is
 * being written to; a group consumes part of the source; translate moves it to the target.
 */
import { expect } from "@jest/globals";
import type { Broker, ReceivedMessage, Subscription } from "@brook/core";
import { uniqueTopic, waitFor } from "@brook/contract-tests";
import { MIRROR_HEADERS, derivedIdempotencyKey, mirror, translate, type MirrorProgress, type MirrorResult } from "@brook/mirror";

export interface Pair {
  from: Broker;
  to: Broker;
  /** the broker translate sets the group's start through (default `to`) */
  translateTo?: Broker;
  /** called between rounds (the Pub/Sub emulator seeks by whole seconds) */
  betweenRounds?: () => Promise<void>;
  /**
   * The target seeks to a time more coarsely than the checkpoint's time (the Pub/Sub emulator
   * rounds down to whole seconds): more than declared may repeat, still at most the bound.
   */
  coarseSeek?: boolean;
  wait: number;
}

export const ROUNDS = 6;
export const PER_ROUND = 60;
export const SYNC_EVERY = 50;
export const BATCH = 20;
const KEYS = 7;
const SOURCE_PARTITIONS = 3;
/** g acknowledges the messages below this on the source */
const SETTLED_BELOW = 150;

interface Sent {
  i: number;
  key: string;
  idempotencyKey: string | undefined;
  partition: string;
  offset: string;
}

export async function runScenario(pair: Pair): Promise<void> {
  const { from, to, wait } = pair;
  const topic = uniqueTopic("mirror-src");
  const toTopic = uniqueTopic("mirror-dst");
  await from.admin.createTopic(topic, { partitions: SOURCE_PARTITIONS, retentionMs: 24 * 3600_000 });
  await to.admin.createTopic(toTopic, { partitions: 2, retentionMs: 24 * 3600_000 });

  // Everything the target holds, as a group that reads it all.
  const copies: ReceivedMessage<{ i: number }>[] = [];
  const verify = await to.subscribe<{ i: number }>(toTopic, { group: uniqueTopic("verify"), startFrom: "earliest", handler: (m) => void copies.push(m) });

  const stop = new AbortController();
  let last: MirrorProgress | undefined;
  const running: Promise<MirrorResult> = mirror({
    from,
    to,
    topics: [topic],
    toTopic,
    syncEvery: { messages: SYNC_EVERY, ms: 200 },
    batchSize: BATCH,
    progressIntervalMs: 50,
    onProgress: (p) => (last = p),
    signal: stop.signal,
  });
  running.catch(() => undefined);

  const pub = from.publisher<{ i: number }>(topic);
  const sent = new Map<number, Sent>();
  const publishTimes = new Map<string, string>();
  let g: Subscription | undefined;
  const settled = new Set<number>();
  try {
    for (let round = 0; round < ROUNDS; round += 1) {
      const batch = Array.from({ length: PER_ROUND }, (_, j) => round * PER_ROUND + j).map((i) => ({
        key: `k${i % KEYS}`,
        data: { i },
        headers: { n: String(i), "x-round": String(round) },
        ...(i % 3 === 0 ? { idempotencyKey: `order-${i}` } : {}),
      }));
      const results = await pub.publishBatch(batch);
      results.forEach((r, j) => {
        if (!r.ok) throw r.error;
        const m = batch[j]!;
        sent.set(m.data.i, { i: m.data.i, key: m.key, idempotencyKey: m.idempotencyKey, ...r.position });
      });
      const want = (round + 1) * PER_ROUND;
      await waitFor(() => new Set(copies.map((c) => c.data.i)).size >= want, wait, `round ${round}: ${want} copies on the target`);
      // A checkpoint after the round, so the map has one between the rounds.
      await waitFor(() => last !== undefined && last.mirrored >= want && last.unsynced === 0, wait, `a checkpoint after round ${round}`);
      await pair.betweenRounds?.();
      if (round === 2) {
        // g settles everything below SETTLED_BELOW on the source and holds the rest.
        g = await consumePart(from, topic, settled, wait);
      }
    }
    await waitFor(() => new Set(copies.map((c) => c.data.i)).size >= ROUNDS * PER_ROUND, wait, "every message on the target");
  } finally {
    await pub.close();
    stop.abort();
  }
  const dbg = (m: string): void => void (process.env.MIRROR_DEBUG && console.log(m));
  dbg("stopping");
  const result = await running;
  dbg("stopped");
  expect(result.mirrored).toBeGreaterThanOrEqual(ROUNDS * PER_ROUND);
  await verify.close();
  await g?.close({ drain: false });

  // Every message, with its key, headers and idempotency key; per-key order kept.
  const byI = new Map<number, ReceivedMessage<{ i: number }>>();
  for (const c of copies) if (!byI.has(c.data.i)) byI.set(c.data.i, c);
  expect(byI.size).toBe(ROUNDS * PER_ROUND);
  for (const [i, s] of sent) {
    const c = byI.get(i)!;
    expect(c.key).toBe(s.key);
    expect(c.headers.n).toBe(String(i));
    expect(c.headers["x-round"]).toBe(String(Math.floor(i / PER_ROUND)));
    expect(c.headers[MIRROR_HEADERS.source]).toBe(`${topic}/${s.partition}/${s.offset}`);
    expect(Number.isNaN(Date.parse(c.headers[MIRROR_HEADERS.publishTime] ?? ""))).toBe(false);
    expect(c.idempotencyKey).toBe(s.idempotencyKey ?? derivedIdempotencyKey(topic, s.partition, s.offset));
    publishTimes.set(`${i}`, c.headers[MIRROR_HEADERS.publishTime]!);
  }
  // Repeats on the target carry the idempotency key of the first copy.
  for (const c of copies) expect(c.idempotencyKey).toBe(byI.get(c.data.i)!.idempotencyKey);
  const perKey = new Map<string, number[]>();
  for (const c of copies) {
    const seq = perKey.get(c.key!) ?? [];
    if (!seq.includes(c.data.i)) seq.push(c.data.i);
    perKey.set(c.key!, seq);
  }
  for (const seq of perKey.values()) expect(seq).toEqual([...seq].sort((a, b) => a - b));

  dbg("verified");
  // Translation: the group resumes on the target with nothing skipped, at most the bound repeated.
  const plan = await translate({ from, to: pair.translateTo ?? to, topic, toTopic, group: "g", dryRun: true });
  expect(plan.applied).toBe(false);
  dbg("planned " + JSON.stringify(plan));
  const moved = await translate({ from, to: pair.translateTo ?? to, topic, toTopic, group: "g" });
  expect(moved.applied).toBe(true);
  expect(moved.start).toEqual(plan.start);
  expect(moved.checkpoint).toBeDefined();
  // Between two checkpoints at most SYNC_EVERY messages plus the batches in flight (one per
  // source partition) are acknowledged; copies acknowledged while an older batch was in flight
  // are counted in the marks. Well under what g settled (SETTLED_BELOW), so a wrong position shows.
  const bound = SYNC_EVERY + BATCH * SOURCE_PARTITIONS;
  const logSource = from.capabilities.seek.offset;
  const declared = logSource ? moved.partitions.reduce((n, p) => n + (p.mayRepeat ?? 0), 0) + (moved.rewound ?? 0) : bound;
  if (logSource) expect(moved.partitions.every((p) => p.mayRepeat !== undefined)).toBe(true);
  else expect(moved.partitions.every((p) => p.repeatWindow !== undefined)).toBe(true);
  expect(declared).toBeLessThanOrEqual(bound);

  dbg("moved");
  const resumed: number[] = [];
  const on = pair.translateTo ?? to;
  const gOnTarget = await on.subscribe<{ i: number }>(toTopic, {
    group: "g",
    ordering: pair.translateTo !== undefined ? "none" : "key",
    handler: (m) => void resumed.push(m.data.i),
  });
  try {
    const unsettled = [...sent.keys()].filter((i) => !settled.has(i));
    await waitFor(() => unsettled.every((i) => resumed.includes(i)), wait, "every message g had not settled, on the target").catch((err: unknown) => {
      dbg(`resumed ${resumed.length}: ${JSON.stringify(resumed.slice(0, 40))}; missing ${JSON.stringify(unsettled.filter((i) => !resumed.includes(i)).slice(0, 40))}`);
      throw err;
    });
  } finally {
    await gOnTarget.close({ drain: false });
  }
  const repeated = new Set(resumed.filter((i) => settled.has(i)));
  if (!logSource) {
    // Without offsets the repeats are what was published in the declared window (Pub/Sub times are ms).
    const window = moved.partitions[0]!.repeatWindow!;
    for (const i of repeated) {
      const t = Date.parse(publishTimes.get(`${i}`)!);
      if (window.from !== undefined) expect(t).toBeGreaterThanOrEqual(window.from.getTime());
      expect(t).toBeLessThanOrEqual(window.to.getTime());
    }
  }
  // The emulator rounds the seek down to the second: at most the round before (rounds end in
  // different seconds) repeats on top of what translate declared.
  expect(repeated.size).toBeLessThanOrEqual(pair.coarseSeek === true ? declared + PER_ROUND : declared);
  return;

  /** g acknowledges messages below SETTLED_BELOW and never those above, until its position shows it. */
  async function consumePart(broker: Broker, name: string, into: Set<number>, timeoutMs: number): Promise<Subscription> {
    const sub = await broker.subscribe<{ i: number }>(name, {
      group: "g",
      startFrom: "earliest",
      commitIntervalMs: 20,
      handler: (m) => {
        if (m.data.i < SETTLED_BELOW) {
          into.add(m.data.i);
          return;
        }
        return new Promise<void>(() => undefined); // held: never settled
      },
    });
    await waitFor(() => into.size >= SETTLED_BELOW, timeoutMs, "g settles its part");
    await waitFor(
      async () => {
        const positions = await broker.admin.groupPositions(name, "g");
        if (positions.length === 0) return false;
        if (broker.capabilities.seek.offset) {
          // every partition committed up to its last settled message
          return [...sent.values()].filter((s) => s.i < SETTLED_BELOW).every((s) => {
            const p = positions.find((x) => x.partition === s.partition);
            return p?.committed !== undefined && BigInt(p.committed) >= BigInt(s.offset);
          });
        }
        return positions.every((p) => p.settledBefore !== undefined);
      },
      timeoutMs,
      "g's position on the source",
    );
    return sub;
  }
}
