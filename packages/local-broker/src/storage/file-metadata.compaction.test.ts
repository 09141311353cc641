/**
 * Compaction of the metadata journal under a crash or power cut at each of its steps
 * (FORMAT.md §5.2: "snapshot + journal written so that a crash at any point leaves one of them
 * whole"). Compaction writes snapshot.tmp (fsynced), creates the next generation's empty journal
 * (fsynced, directory fsynced), renames snapshot.tmp over snapshot (directory fsynced) and
 * unlinks the old journal. Each on-disk state a crash can leave between (and within) those
 * steps is rebuilt here from the real files before and after one compaction: the old pair, and
 * the new snapshot's bytes. A power cut adds states a killed process cannot leave (a
 * half-written snapshot.tmp, a rename kept while the new journal's directory entry was lost).
 * Reopening each must give every topic, committed offset, segment entry and dedupe entry,
 * nothing lost, without claiming damage, and the store must keep working after it.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, test } from "@jest/globals";
import { FileMetadataStore } from "./file-metadata.js";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "brook-compaction-"));
  dirs.push(d);
  return d;
}

interface Opened {
  store: FileMetadataStore;
  errors: string[];
}

function open(dir: string, compactBytes = 1 << 30): Opened {
  const errors: string[] = [];
  const logger = { warn: () => undefined, error: (message: string) => void errors.push(message) };
  const store = FileMetadataStore.open(dir, { fsync: "always", compactBytes, logger, stats: { fsyncs: 0, writes: 0, bytesWritten: 0 } });
  return { store, errors };
}

const FAR = Date.now() + 24 * 3_600_000;
const TOPICS = ["orders", "payments", "audit"];

/** Everything the store knows, in a comparable form. */
function stateOf(store: FileMetadataStore): unknown {
  const topics = [...store.topics()].sort(([a], [b]) => a.localeCompare(b));
  const groups = store.groups().sort();
  const committed = groups.flatMap((g) => TOPICS.map((t) => [g, t, [...store.committed(g, t)].sort((a, b) => a[0] - b[0])]));
  const segments = TOPICS.flatMap((t) => [0, 1, 2].map((p) => [t, p, store.segmentsOf(t, p)]));
  const dedupe = TOPICS.flatMap((t) => Array.from({ length: 20 }, (_, i) => [t, i, store.dedupeGet(t, `key-${i}`, Date.now())]));
  return { topics, groups, committed, segments, dedupe };
}

/** Writes topics, commits, segment and dedupe entries; some land in the snapshot, some in the journal. */
async function fill(store: FileMetadataStore, round: number): Promise<void> {
  for (const [i, t] of TOPICS.entries()) {
    if (round === 0 || i === round % TOPICS.length) await store.putTopic(t, { partitions: 3, retentionMs: 86_400_000 + round, retentionBytes: undefined, createdAt: 1_700_000_000_000 + i });
    await store.recordSegments(t, round % 3, [round * 100]);
    for (let k = 0; k < 20; k++) if (k % 3 === round % 3) store.dedupePut(t, `key-${k}`, { partition: k % 3, offset: round * 1000 + k, expiresAt: FAR });
  }
  for (const g of ["billing", "reports"]) {
    for (const t of TOPICS) for (let p = 0; p < 3; p++) await store.commit(g, t, p, round * 10 + p + (g === "reports" ? 5 : 0));
  }
}

function journalName(generation: number): string {
  return `journal-${String(generation).padStart(20, "0")}.log`;
}

function generationOf(meta: string): number {
  const names = fs.readdirSync(meta).filter((f) => /^journal-\d{20}\.log$/.test(f));
  expect(names).toHaveLength(1);
  return Number(names[0]!.slice(8, 28));
}

function copyDir(from: string): string {
  const to = tempDir();
  for (const f of fs.readdirSync(from)) fs.copyFileSync(path.join(from, f), path.join(to, f));
  return to;
}

/**
 * The files before one compaction (generation G: snapshot of G unless G is 0, non-empty
 * journal-G) and the snapshot it writes (generation G + 1), with the state they hold.
 */
async function beforeAndAfter(generation: 0 | 1): Promise<{ before: string; newSnapshot: Buffer; g: number; expected: unknown }> {
  const before = tempDir();
  if (generation === 1) {
    // The first compaction happens after the first write (compactBytes 1, no snapshot yet).
    const first = open(before, 1);
    await first.store.putTopic("early", { partitions: 1, retentionMs: 1000, retentionBytes: 5, createdAt: 1 });
    await first.store.close();
  }
  const { store } = open(before);
  for (let round = 0; round < 4; round++) await fill(store, round);
  await store.deleteTopic("early").catch(() => undefined);
  const expected = stateOf(store);
  await store.close();
  const g = generationOf(before);
  expect(g).toBe(generation);
  expect(fs.existsSync(path.join(before, "snapshot"))).toBe(generation > 0);
  expect(fs.statSync(path.join(before, journalName(g))).size).toBeGreaterThan(0);

  // One compaction, on a copy: a commit of an offset already committed changes no state and
  // pushes the journal over compactBytes.
  const after = copyDir(before);
  const compacting = open(after, 1);
  await compacting.store.commit("billing", "orders", 0, 30);
  expect(stateOf(compacting.store)).toEqual(expected);
  await compacting.store.close();
  expect(generationOf(after)).toBe(g + 1);
  expect(fs.statSync(path.join(after, journalName(g + 1))).size).toBe(0);
  return { before, newSnapshot: fs.readFileSync(path.join(after, "snapshot")), g, expected };
}

type Step = (dir: string, newSnapshot: Buffer, g: number) => void;

const STEPS: Array<[string, Step]> = [
  ["snapshot.tmp half-written (power cut before its fsync)", (d, s) => fs.writeFileSync(path.join(d, "snapshot.tmp"), s.subarray(0, Math.floor(s.length / 2)))],
  ["snapshot.tmp written empty (power cut right after it was created)", (d) => fs.writeFileSync(path.join(d, "snapshot.tmp"), Buffer.alloc(0))],
  ["snapshot.tmp whole, the new journal not created yet", (d, s) => fs.writeFileSync(path.join(d, "snapshot.tmp"), s)],
  [
    "the new journal created, the snapshot not switched yet",
    (d, s, g) => {
      fs.writeFileSync(path.join(d, "snapshot.tmp"), s);
      fs.writeFileSync(path.join(d, journalName(g + 1)), Buffer.alloc(0));
    },
  ],
  [
    "the snapshot switched, the old journal not removed yet",
    (d, s, g) => {
      fs.writeFileSync(path.join(d, "snapshot"), s);
      fs.writeFileSync(path.join(d, journalName(g + 1)), Buffer.alloc(0));
    },
  ],
  [
    "the snapshot switched, the new journal's directory entry lost (power cut; fsync order rules it out, still whole)",
    (d, s) => fs.writeFileSync(path.join(d, "snapshot"), s),
  ],
  [
    "done: the old journal removed",
    (d, s, g) => {
      fs.writeFileSync(path.join(d, "snapshot"), s);
      fs.writeFileSync(path.join(d, journalName(g + 1)), Buffer.alloc(0));
      fs.unlinkSync(path.join(d, journalName(g)));
    },
  ],
];

describe.each([
  ["the first compaction (no snapshot before it)", 0 as const],
  ["a later compaction (snapshot + journal before it)", 1 as const],
])("metadata compaction cut short: %s", (_label, generation) => {
  let setup: Awaited<ReturnType<typeof beforeAndAfter>> | undefined;
  const prepared = async (): Promise<NonNullable<typeof setup>> => (setup ??= await beforeAndAfter(generation));

  test.each(STEPS)("%s: reopening gives every topic, committed offset and entry, and the store keeps working", async (_step, make) => {
    const { before, newSnapshot, g, expected } = await prepared();
    const dir = copyDir(before);
    make(dir, newSnapshot, g);
    const first = open(dir);
    expect(first.errors).toEqual([]); // an interrupted compaction is not damage
    expect(stateOf(first.store)).toEqual(expected);
    expect(fs.existsSync(path.join(dir, "snapshot.tmp"))).toBe(false);
    await first.store.commit("billing", "audit", 2, 999);
    await first.store.close();
    const again = open(dir);
    expect(again.errors).toEqual([]);
    expect(again.store.committed("billing", "audit").get(2)).toBe(999);
    expect(again.store.topics().size).toBe(TOPICS.length);
    // one generation's journal is left, and everything else still holds
    generationOf(dir);
    await again.store.close();
  });
});
