/**
 * The mirror process is SIGKILLed at random points, at least 20 times, and restarted: the
 * target ends up with every source message; a message copied more than once carries the same
 * idempotency key each time; each key keeps its order; and a group that consumed part of the
 * source moves to the target through the map those runs wrote, with nothing skipped.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { connect, type Broker, type ReceivedMessage } from "@brook/core";
import "@brook/local-broker";
import { waitFor } from "@brook/contract-tests";
import { derivedIdempotencyKey, translate } from "@brook/mirror";

const ROOT = path.resolve(__dirname, "..", "..");
const CHILD = path.join(__dirname, "kill-child.mjs");
const KILLS = Number(process.env.MIRROR_KILLS ?? 20);
const PER_TOP_UP = 4_000;
const KEYS = 50;
let dir: string;

beforeAll(() => {
  // The child runs the compiled packages.
  execFileSync(process.execPath, [path.join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-b"], { cwd: ROOT, stdio: "inherit" });
  dir = mkdtempSync(path.join(tmpdir(), "brook-mirror-kill-"));
}, 120_000);
afterAll(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

interface Sent {
  key: string;
  idempotencyKey: string | undefined;
  partition: string;
  offset: string;
}

/** Runs the child; kills it with SIGKILL `killAfterMs` after its first progress line (or after spawn) unless it is done first. */
function runChild(args: string[], kill: { afterProgress: boolean; ms: number } | undefined): Promise<{ done: boolean; killed: boolean; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    let out = "";
    let done = false;
    let killed = false;
    let timer: NodeJS.Timeout | undefined;
    const killLater = (): void => {
      if (timer !== undefined || kill === undefined) return;
      timer = setTimeout(() => {
        if (child.exitCode === null && !done) {
          killed = true;
          child.kill("SIGKILL");
        }
      }, kill.ms);
    };
    const guard = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`mirror child did not finish within 120 s:\n${stderr}`));
    }, 120_000);
    if (kill !== undefined && !kill.afterProgress) killLater();
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes("\nDONE ") || out.startsWith("DONE ")) done = true;
      if (kill?.afterProgress && out.includes("P ")) killLater();
    });
    child.once("exit", () => {
      clearTimeout(guard);
      if (timer !== undefined) clearTimeout(timer);
      resolve({ done, killed, stderr });
    });
  });
}

test(`SIGKILL at random points (≥ ${KILLS} kills), restarted each time: every message on the target, repeats only with the same idempotency key, key order kept, translation skips nothing`, async () => {
  const src = `local:${path.join(dir, "src")}`;
  const dst = `local:${path.join(dir, "dst")}`;
  const topic = "orders";
  const toTopic = "orders-copy";
  const sent = new Map<number, Sent>();
  const settled = new Set<number>();

  const topUp = async (): Promise<void> => {
    const broker = await connect(src);
    try {
      if (!(await broker.admin.topicExists(topic))) await broker.admin.createTopic(topic, { partitions: 3 });
      const pub = broker.publisher<{ i: number }>(topic);
      const base = sent.size;
      const batch = Array.from({ length: PER_TOP_UP }, (_, j) => base + j).map((i) => ({
        key: `k${i % KEYS}`,
        data: { i },
        headers: { n: String(i) },
        ...(i % 2 === 0 ? { idempotencyKey: `order-${i}` } : {}),
      }));
      const results = await pub.publishBatch(batch);
      results.forEach((r, j) => {
        if (!r.ok) throw r.error;
        const m = batch[j]!;
        sent.set(m.data.i, { key: m.key, idempotencyKey: m.idempotencyKey, ...r.position });
      });
      await pub.close();
      if (base === 0) {
        // A group that consumes the first quarter on the source, to be moved to the target at the end.
        const g = await broker.subscribe<{ i: number }>(topic, {
          group: "g",
          startFrom: "earliest",
          commitIntervalMs: 20,
          handler: (m) => (m.data.i < PER_TOP_UP / 4 ? void settled.add(m.data.i) : new Promise<void>(() => undefined)),
        });
        await waitFor(() => settled.size === PER_TOP_UP / 4, 30_000, "g settles its quarter");
        await waitFor(
          async () => {
            const positions = await broker.admin.groupPositions(topic, "g");
            return [...sent].filter(([i]) => i < PER_TOP_UP / 4).every(([, s]) => {
              const c = positions.find((p) => p.partition === s.partition)?.committed;
              return c !== undefined && BigInt(c) >= BigInt(s.offset);
            });
          },
          30_000,
          "g's position",
        );
        await g.close({ drain: false });
      }
    } finally {
      await broker.close();
    }
  };
  const target = await connect(dst);
  await target.admin.createTopic(toTopic, { partitions: 2 });
  await target.close();
  await topUp();

  let kills = 0;
  let runs = 0;
  while (kills < KILLS) {
    runs += 1;
    // Most kills land while copying, some while the mirror is still starting.
    const afterProgress = Math.random() < 0.8;
    const r = await runChild([src, dst, topic, toTopic], { afterProgress, ms: afterProgress ? Math.floor(Math.random() * 150) : 100 + Math.floor(Math.random() * 400) });
    if (r.killed) kills += 1;
    else if (r.done) await topUp(); // everything copied before the kill: give the next runs more to do
    else throw new Error(`the mirror child failed:\n${r.stderr}`);
  }
  const last = await runChild([src, dst, topic, toTopic], undefined);
  expect(last.done).toBe(true);

  const broker: Broker = await connect(dst);
  const source: Broker = await connect(src);
  try {
    const copies: ReceivedMessage<{ i: number }>[] = [];
    const reader = await broker.subscribe<{ i: number }>(toTopic, { group: "verify", startFrom: "earliest", handler: (m) => void copies.push(m) });
    await waitFor(() => new Set(copies.map((c) => c.data.i)).size >= sent.size, 60_000, "every source message on the target");
    await reader.close();
    const first = new Map<number, ReceivedMessage<{ i: number }>>();
    for (const c of copies) if (!first.has(c.data.i)) first.set(c.data.i, c);
    expect(first.size).toBe(sent.size);
    for (const c of copies) {
      const s = sent.get(c.data.i)!;
      expect(c.key).toBe(s.key);
      expect(c.headers.n).toBe(String(c.data.i));
      // A repeat carries the same idempotency key as the first copy: the original, or the one derived from the source position.
      expect(c.idempotencyKey).toBe(s.idempotencyKey ?? derivedIdempotencyKey(topic, s.partition, s.offset));
    }
    const perKey = new Map<string, number[]>();
    for (const c of copies) {
      const seq = perKey.get(c.key!) ?? [];
      if (!seq.includes(c.data.i)) seq.push(c.data.i);
      perKey.set(c.key!, seq);
    }
    for (const seq of perKey.values()) expect(seq).toEqual([...seq].sort((a, b) => a - b));
    process.stdout.write(`[mirror kill] ${kills} kills in ${runs} runs, ${sent.size} messages, ${copies.length - sent.size} repeated copies on the target\n`);

    // The map written across all those runs moves g to the target without a skip.
    const moved = await translate({ from: source, to: broker, topic, toTopic, group: "g" });
    const declared = moved.partitions.reduce((n, p) => n + (p.mayRepeat ?? 0), 0) + (moved.rewound ?? 0);
    const resumed: number[] = [];
    const g = await broker.subscribe<{ i: number }>(toTopic, { group: "g", handler: (m) => void resumed.push(m.data.i) });
    try {
      const unsettled = [...sent.keys()].filter((i) => !settled.has(i));
      await waitFor(() => new Set(resumed).size >= unsettled.length && unsettled.every((i) => resumed.includes(i)), 60_000, "every message g had not settled").catch((err: unknown) => {
        const missing = unsettled.filter((i) => !resumed.includes(i));
        process.stdout.write(`plan ${JSON.stringify(moved)}\nresumed ${resumed.length}, missing ${missing.length}: ${JSON.stringify(missing.slice(0, 20).map((i) => [i, sent.get(i)]))}\n`);
        throw err;
      });
    } finally {
      await g.close({ drain: false });
    }
    const repeated = new Set(resumed.filter((i) => settled.has(i)));
    expect(repeated.size).toBeLessThanOrEqual(declared);
    expect(kills).toBeGreaterThanOrEqual(KILLS);
  } finally {
    await broker.close();
    await source.close();
  }
}, 300_000);
