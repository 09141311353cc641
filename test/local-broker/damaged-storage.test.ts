/**
 * End to end through connect("local:dir"): damaged storage stops a consumer at the damage with
 * CORRUPT_DATA, it never delivers or commits past it (FORMAT.md §9).
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, test } from "@jest/globals";
import { BrookError, connect, silentLogger } from "@brook/core";
import "@brook/local-broker";
import { waitFor } from "@brook/contract-tests";
import { openFileStore } from "../../packages/local-broker/src/storage/file-store.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "brook-damaged-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test("a missing segment: the consumer stops before the gap with CORRUPT_DATA and never commits past it", async () => {
  let broker = await connect(`local:${dir}?fsync=always&segmentBytes=1024`, { logger: silentLogger });
  await broker.admin.createTopic("t", { partitions: 1 });
  const pub = broker.publisher<number>("t");
  for (let i = 0; i < 100; i++) await pub.publish({ data: i });
  await broker.close();

  const pdir = join(dir, "topics", "t", "0");
  const logs = readdirSync(pdir).filter((f) => f.endsWith(".log")).sort();
  expect(logs.length).toBeGreaterThan(3);
  const gapFrom = Number(logs[2]!.slice(0, 20));
  const gapTo = Number(logs[3]!.slice(0, 20));
  for (const ext of [".log", ".index", ".timeindex"]) rmSync(join(pdir, logs[2]!.replace(".log", ext)), { force: true });

  broker = await connect(`local:${dir}?fsync=always&segmentBytes=1024`, { logger: silentLogger });
  const seen: number[] = [];
  const errors: BrookError[] = [];
  const sub = await broker.subscribe<number>("t", {
    group: "g",
    startFrom: "earliest",
    commitIntervalMs: 20,
    handler: (m) => void seen.push(Number(m.position.offset)),
  });
  sub.on("error", (e) => errors.push(e));
  // (a consumer that skips the gap shows up as records after it, not as a timeout)
  await waitFor(() => (errors.length > 0 && seen.length >= gapFrom) || seen.includes(gapTo), 20_000, "the consumer to reach the gap");
  // give a consumer that would skip the gap every chance to do so
  await new Promise((r) => setTimeout(r, 300));
  expect(seen).toEqual(Array.from({ length: gapFrom }, (_, i) => i));
  expect(errors[0]?.code).toBe("CORRUPT_DATA");
  expect(errors[0]?.message).toContain(`offsets ${gapFrom}–${gapTo - 1} missing`);
  await sub.commit();
  expect(sub.health().find((h) => h.partition === "0")?.committed).toBe(String(gapFrom - 1));
  await sub.close({ drain: true });
  await broker.close();

  const store = await openFileStore(dir, { logger: { warn: () => undefined, error: () => undefined } });
  try {
    expect(store.metadata.committed("g", "t").get(0)).toBe(gapFrom);
  } finally {
    await store.close();
  }
});
