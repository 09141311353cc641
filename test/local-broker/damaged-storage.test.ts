/**
 * End to end through connect("local:dir"): damaged storage stops a consumer at the damage with
 * CORRUPT_DATA, it never delivers or commits past it (FORMAT.md §9).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, expect, test } from "@jest/globals";
import { BrookError, connect, silentLogger } from "@brook/core";
import "@brook/local-broker";
import { waitFor } from "@brook/contract-tests";
import { openFileStore } from "../../packages/local-broker/src/storage/file-store.js";

const root = resolve(__dirname, "../..");
const cli = join(root, "packages/cli/dist/main.js");

function brook(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** 100 messages over several 1 KiB segments of topic "t"; returns the partition directory and its segment files. */
async function segmentedTopic(): Promise<{ pdir: string; logs: string[] }> {
  const broker = await connect(`local:${dir}?fsync=always&segmentBytes=1024`, { logger: silentLogger });
  await broker.admin.createTopic("t", { partitions: 1 });
  const pub = broker.publisher<number>("t");
  for (let i = 0; i < 100; i++) await pub.publish({ data: i });
  await broker.close();
  const pdir = join(dir, "topics", "t", "0");
  const logs = readdirSync(pdir).filter((f) => f.endsWith(".log")).sort();
  expect(logs.length).toBeGreaterThan(3);
  return { pdir, logs };
}

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

test("a batch failing its CRC inside a sealed segment (found by the read): the consumer stops there and commits nothing past it", async () => {
  const { pdir, logs } = await segmentedTopic();
  const victim = join(pdir, logs[2]!);
  const bytes = readFileSync(victim);
  bytes[bytes.length - 1] ^= 0x5a; // the last record's value: every header still fine
  writeFileSync(victim, bytes);
  const bad = Number(logs[3]!.slice(0, 20)) - 1; // the offset of that record

  const broker = await connect(`local:${dir}?segmentBytes=1024`, { logger: silentLogger });
  try {
    const seen: number[] = [];
    const errors: BrookError[] = [];
    const sub = await broker.subscribe<number>("t", {
      group: "g",
      startFrom: "earliest",
      commitIntervalMs: 20,
      handler: (m) => void seen.push(Number(m.position.offset)),
    });
    sub.on("error", (e) => errors.push(e));
    await waitFor(() => (errors.length > 0 && seen.length >= bad) || seen.includes(bad + 1), 20_000, "the consumer to reach the damage");
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toEqual(Array.from({ length: bad }, (_, i) => i));
    expect(errors[0]?.code).toBe("CORRUPT_DATA");
    expect(errors[0]?.message).toContain(victim);
    expect(errors[0]?.message).toContain(`offset ${bad}`);
    await sub.commit();
    await sub.close({ drain: true });
  } finally {
    await broker.close();
  }
  const store = await openFileStore(dir, { logger: { warn: () => undefined, error: () => undefined } });
  try {
    expect(store.metadata.committed("g", "t").get(0)).toBe(bad);
  } finally {
    await store.close();
  }
});

test("brook check reports a missing segment, a damaged batch and a damaged journal entry, and leaves the damaged bytes as they are", async () => {
  const build = spawnSync("npx", ["tsc", "-b", "packages/cli"], { cwd: root, encoding: "utf8" });
  expect(build.status).toBe(0);
  const { pdir, logs } = await segmentedTopic();
  let r = brook("check", "--dir", dir);
  expect(r.stdout).toMatch(/^ok +1 topics, 1 partitions, \d+ segments, \d+ bytes, 0 damaged ranges$/m);
  expect(r.status).toBe(0);

  // a segment absent, and a value byte of another sealed segment's last batch (found only by a CRC scan)
  const absentFrom = Number(logs[1]!.slice(0, 20));
  const absentTo = Number(logs[2]!.slice(0, 20));
  for (const ext of [".log", ".index", ".timeindex"]) rmSync(join(pdir, logs[1]!.replace(".log", ext)), { force: true });
  const victim = join(pdir, logs[3]!);
  const bytes = readFileSync(victim);
  bytes[bytes.length - 1] ^= 0x5a;
  writeFileSync(victim, bytes);
  r = brook("check", "--dir", dir);
  expect(r.status).toBe(3);
  const damaged = r.stdout.split("\n").filter((l) => l.startsWith("damaged"));
  expect(damaged).toHaveLength(2);
  expect(damaged[0]).toContain(`topic "t" partition 0: offsets ${absentFrom}–${absentTo - 1}`);
  expect(damaged[0]).toContain(`${logs[1]} absent`);
  expect(damaged[1]).toContain(victim);
  expect(r.stdout).toMatch(/, 2 damaged ranges$/m);

  // a damaged journal entry: opening refuses, check names it
  const meta = join(dir, "meta");
  const journal = join(meta, readdirSync(meta).find((f) => f.startsWith("journal-"))!);
  const jbytes = readFileSync(journal);
  jbytes[20] ^= 0x5a; // inside the first entry (topicPut of "t")
  writeFileSync(journal, jbytes);
  r = brook("check", "--dir", dir);
  expect(r.status).toBe(3);
  expect(r.stdout).toMatch(/^damaged +metadata: .*journal-\d{20}\.log: metadata journal entry at byte 0 is damaged/m);
  expect(readFileSync(journal)).toEqual(jbytes);
  await expect(connect(`local:${dir}`, { logger: silentLogger })).rejects.toMatchObject({ code: "CORRUPT_DATA" });
}, 120_000);

test("brook repair --skip-damaged skips each damaged range explicitly, logs it, and consumers then move past it", async () => {
  const build = spawnSync("npx", ["tsc", "-b", "packages/cli"], { cwd: root, encoding: "utf8" });
  expect(build.status).toBe(0);
  const { pdir, logs } = await segmentedTopic();
  const gapFrom = Number(logs[1]!.slice(0, 20));
  const gapTo = Number(logs[2]!.slice(0, 20));
  for (const ext of [".log", ".index", ".timeindex"]) rmSync(join(pdir, logs[1]!.replace(".log", ext)), { force: true });

  // without --skip-damaged nothing is skipped
  let r = brook("repair", "--dir", dir);
  expect(r.status).toBe(3);
  expect(r.stdout).not.toMatch(/^skipped/m);

  r = brook("repair", "--dir", dir, "--skip-damaged");
  expect(r.status).toBe(0);
  expect(r.stdout).toContain(`skipped  topic "t" partition 0: offsets ${gapFrom}–${gapTo - 1}`);
  expect(r.stderr).toContain("damaged range skipped by brook repair --skip-damaged");
  r = brook("check", "--dir", dir);
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/^skipped +topic "t" partition 0: offsets/m);

  const broker = await connect(`local:${dir}`, { logger: silentLogger });
  try {
    const seen: number[] = [];
    const errors: BrookError[] = [];
    const sub = await broker.subscribe<number>("t", { group: "g", startFrom: "earliest", handler: (m) => void seen.push(Number(m.position.offset)) });
    sub.on("error", (e) => errors.push(e));
    await waitFor(() => seen.length >= 100 - (gapTo - gapFrom), 20_000, "every record outside the skipped range");
    await sub.close();
    expect(errors).toEqual([]);
    expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => i).filter((o) => o < gapFrom || o >= gapTo));
  } finally {
    await broker.close();
  }
}, 120_000);

test("a damaged active segment: repair sets the damaged bytes aside and never reuses an offset", async () => {
  const build = spawnSync("npx", ["tsc", "-b", "packages/cli"], { cwd: root, encoding: "utf8" });
  expect(build.status).toBe(0);
  let broker = await connect(`local:${dir}?fsync=always`, { logger: silentLogger });
  await broker.admin.createTopic("t", { partitions: 1 });
  const pub = broker.publisher<number>("t");
  for (let i = 0; i < 10; i++) await pub.publish({ data: i });
  await broker.close();
  const pdir = join(dir, "topics", "t", "0");
  const file = join(pdir, "00000000000000000000.log");
  rmSync(join(pdir, "CLEAN")); // as after a crash
  const bytes = readFileSync(file);
  // the 5th batch (offset 4): a byte of its records
  let at = 0;
  for (let i = 0; i < 4; i++) at += bytes.readUInt32BE(at);
  bytes[at + 40] ^= 0x5a;
  writeFileSync(file, bytes);
  await expect(connect(`local:${dir}`, { logger: silentLogger })).rejects.toMatchObject({ code: "CORRUPT_DATA" });
  expect(statSync(file).size).toBe(bytes.length); // nothing was cut

  const r = brook("repair", "--dir", dir, "--skip-damaged");
  expect(r.status).toBe(0);
  expect(r.stdout).toContain(`skipped  topic "t" partition 0: offsets 4–9`);
  expect(readdirSync(pdir).some((f) => f.endsWith(".damaged"))).toBe(true);

  broker = await connect(`local:${dir}`, { logger: silentLogger });
  try {
    const published = await broker.publisher<number>("t").publish({ data: 10 });
    expect(published.position.offset).toBe("10"); // offsets 4–9 were handed out once: never again
  } finally {
    await broker.close();
  }
}, 120_000);
