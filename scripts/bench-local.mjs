// Benchmark of the embedded local broker through the Brook API (publisher, subscription), over
// the compiled dist: `npx tsc -b && node scripts/bench-local.mjs [--messages N]`.
// 100-byte messages, 4 partitions. Measures, in one run:
//   - raw baseline: the same bytes appended to a file with fs.writeSync in 1,000-message chunks;
//   - publishBatch (10,000 per call) on memory:, local: fsync interval, local: fsync always;
//   - the same with an idempotency key (deduped on publish) and 2 headers per message, as
//     `brook mirror` writes, on memory: and local: fsync interval (each beside its plain row);
//   - 64 concurrent publishers on local: fsync always (group commit);
//   - consume with a batchHandler and with a per-message handler (ordering "partition");
//   - reopen (recovery) time of the written log, per GiB;
//   - keyed publishBatch (64 keys over 4 partitions) on memory:;
//   - a ~100-byte JSON object with the default codec, published and consumed (batchHandler) on memory:;
//   - peak RSS while a subscriber reads a big local: topic from the start (BENCH_RSS_MIB, default
//     512 MiB of 1 KiB messages; the figure is 4 GiB: BENCH_RSS_MIB=4096). The topic is
//     written, the broker closed, then read from a fresh child process (so nothing else this
//     benchmark did is in its RSS) with a batchHandler while RSS is sampled every 50 ms.
// Every row shows its rate as a multiple of the raw append of the same run ("x raw").
// Prints a table and writes bench-results/local.json. Not a test: nothing here asserts.
import { mkdtempSync, rmSync, openSync, writeSync, closeSync, statSync, readdirSync } from "node:fs";
import { mkdirSync, writeFileSync } from "node:fs";
import os, { tmpdir, cpus, totalmem } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { connect } from "../packages/core/dist/index.js";
import "../packages/local-broker/dist/index.js";

const args = process.argv.slice(2);
const N = Number(args[args.indexOf("--messages") + 1] || 1_000_000) || 1_000_000;
const payload = Buffer.alloc(100, 7);
const rows = [];
const row = (name, messages, seconds, extra = "") => {
  rows.push({ case: name, messages, seconds: +seconds.toFixed(3), msgPerSec: Math.round(messages / seconds), note: extra });
};
const now = () => performance.now() / 1000;

function rawBaseline(dir) {
  const file = join(dir, "raw.log");
  const fd = openSync(file, "w");
  const chunk = Buffer.alloc(100 * 1000, 7);
  const t = now();
  for (let i = 0; i < N; i += 1000) writeSync(fd, chunk);
  closeSync(fd);
  row("raw fs.writeSync baseline (1,000 x 100 B per write)", N, now() - t);
}

async function publishBatched(url, label) {
  const broker = await connect(url);
  await broker.admin.createTopic("bench", { partitions: 4, ifNotExists: true });
  const pub = broker.publisher("bench", { codec: "bytes" });
  const batch = Array.from({ length: 10_000 }, () => ({ data: payload }));
  const t = now();
  for (let i = 0; i < N; i += batch.length) await pub.publishBatch(batch);
  row(`publishBatch 10,000/call: ${label}`, N, now() - t);
  await pub.close();
  return broker;
}

/** publishBatch with a fresh idempotency key and 2 headers per message (what a mirror copy carries). */
async function publishIdempotent(url, label) {
  const broker = await connect(url);
  await broker.admin.createTopic("idem", { partitions: 4 });
  const pub = broker.publisher("idem", { codec: "bytes" });
  const at = new Date().toISOString();
  const batch = Array.from({ length: 10_000 }, () => ({ data: payload, idempotencyKey: "", headers: { "brook-mirror-publish-time": at, "brook-mirror-source": "" } }));
  const t = now();
  for (let i = 0; i < N; i += batch.length) {
    for (let j = 0; j < batch.length; j++) {
      const n = i + j;
      batch[j].idempotencyKey = `brook-mirror:src/${n % 4}/${n >> 2}`;
      batch[j].headers = { "brook-mirror-publish-time": at, "brook-mirror-source": `src/${n % 4}/${n >> 2}` };
    }
    await pub.publishBatch(batch);
  }
  row(`publishBatch 10,000/call, idempotency key + 2 headers: ${label}`, N, now() - t);
  await broker.close();
}

async function keyedMemory() {
  const broker = await connect("memory:");
  await broker.admin.createTopic("keyed", { partitions: 4 });
  const pub = broker.publisher("keyed", { codec: "bytes" });
  const batch = Array.from({ length: 10_000 }, (_, i) => ({ key: `key-${i % 64}`, data: payload }));
  const t = now();
  for (let i = 0; i < N; i += batch.length) await pub.publishBatch(batch);
  row("publishBatch 10,000/call, 64 keys, 4 partitions: memory:", N, now() - t);
  await broker.close();
}

async function jsonDefaultCodec() {
  const broker = await connect("memory:");
  await broker.admin.createTopic("json", { partitions: 4 });
  const pub = broker.publisher("json");
  const object = (i) => ({ id: i, user: "user-0042", kind: "order.created", amount: 1234.5, currency: "EUR", ok: true });
  const bytes = Buffer.byteLength(JSON.stringify(object(100_000)));
  const batch = Array.from({ length: 10_000 }, (_, i) => ({ data: object(100_000 + i) }));
  let t = now();
  for (let i = 0; i < N; i += batch.length) await pub.publishBatch(batch);
  row(`publishBatch JSON object (~${bytes} B), default codec: memory:`, N, now() - t);
  let got = 0;
  let sum = 0;
  t = now();
  const sub = await broker.subscribe("json", { group: "json", startFrom: "earliest", batchHandler: async (ms) => {
    got += ms.length;
    for (const m of ms) sum += m.data.id;
  } });
  while (got < N) await new Promise((r) => setTimeout(r, 2));
  row(`consume JSON object, default codec, batchHandler: memory:`, N, now() - t, sum > 0 ? "" : "?");
  await sub.close();
  await broker.close();
}

async function rssBigTopic(dir) {
  const mib = Number(process.env.BENCH_RSS_MIB ?? 512);
  const size = 1024;
  const count = Math.ceil((mib * 2 ** 20) / size);
  const data = Buffer.alloc(size, 3);
  const broker = await connect(`local:${dir}?fsync=never`);
  await broker.admin.createTopic("big", { partitions: 1 });
  const pub = broker.publisher("big", { codec: "bytes" });
  const batch = Array.from({ length: 1000 }, () => ({ data }));
  for (let i = 0; i < count; i += batch.length) await pub.publishBatch(batch);
  await pub.close();
  await broker.close();
  const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--rss-child", dir, String(count)], { encoding: "utf8" });
  const line = child.stdout.trim().split("\n").pop() ?? "";
  let result;
  try {
    result = JSON.parse(line);
  } catch {
    rows.push({ case: `read ${mib} MiB topic from the start: local:`, messages: count, seconds: 0, msgPerSec: 0, note: `child failed: ${child.stderr.slice(0, 200)}` });
    return;
  }
  row(`read ${mib} MiB topic from the start (1 KiB messages), fresh process: local:`, count, result.seconds, `peak RSS ${result.peakMiB} MiB (at start ${result.beforeMiB} MiB)`);
}

/** The child of rssBigTopic: reads the topic from the start and prints its peak RSS as JSON. */
async function rssChild(dir, count) {
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  const broker = await connect(`local:${dir}`);
  let got = 0;
  const t = now();
  const sub = await broker.subscribe("big", { group: "rss", codec: "bytes", startFrom: "earliest", batchHandler: async (ms) => void (got += ms.length) });
  while (got < count) await new Promise((r) => setTimeout(r, 5));
  const seconds = now() - t;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  await sub.close();
  await broker.close();
  console.log(JSON.stringify({ seconds, peakMiB: +(peak / 2 ** 20).toFixed(0), beforeMiB: +(before / 2 ** 20).toFixed(0) }));
}

async function concurrentAlways(dir) {
  const broker = await connect(`local:${dir}?fsync=always`);
  await broker.admin.createTopic("conc", { partitions: 4 });
  const pub = broker.publisher("conc", { codec: "bytes" });
  const per = 100;
  const publishers = 64;
  const total = Math.min(N, 640_000);
  const batch = Array.from({ length: per }, () => ({ data: payload }));
  const t = now();
  await Promise.all(
    Array.from({ length: publishers }, async () => {
      for (let i = 0; i < total / publishers; i += per) await pub.publishBatch(batch);
    }),
  );
  row("64 publishers x publishBatch(100): local fsync=always (group commit)", total, now() - t);
  await broker.close();
}

async function consume(broker, label, options) {
  let got = 0;
  const t = now();
  const sub = await broker.subscribe("bench", { group: `g-${label}`, codec: "bytes", startFrom: "earliest", ...options(() => (got += 1), (n) => (got += n)) });
  while (got < N) await new Promise((r) => setTimeout(r, 2));
  row(`consume: ${label}`, N, now() - t);
  await sub.close();
}

function dirBytes(dir) {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    total += entry.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return total;
}

if (args[0] === "--rss-child") {
  await rssChild(args[1], Number(args[2]));
  process.exit(0);
}

const work = mkdtempSync(join(tmpdir(), "brook-bench-local-"));
try {
  rawBaseline(work);
  const memory = await publishBatched("memory:", "memory:");
  await consume(memory, "memory batchHandler", (one, many) => ({ batchHandler: async (ms) => void many(ms.length) }));
  await consume(memory, "memory per-message handler", (one) => ({ maxInFlight: 4096, ordering: "partition", handler: async () => void one() }));
  await memory.close();
  await publishIdempotent("memory:", "memory:");
  const intervalDir = join(work, "interval");
  const local = await publishBatched(`local:${intervalDir}`, "local fsync=interval");
  await publishIdempotent(`local:${join(work, "idem")}`, "local fsync=interval");
  await consume(local, "local batchHandler", (one, many) => ({ batchHandler: async (ms) => void many(ms.length) }));
  await consume(local, "local per-message handler", (one) => ({ maxInFlight: 4096, ordering: "partition", handler: async () => void one() }));
  await local.close();
  await keyedMemory();
  await jsonDefaultCodec();
  await rssBigTopic(join(work, "big"));
  const alwaysDir = join(work, "always");
  await (await publishBatched(`local:${alwaysDir}?fsync=always`, "local fsync=always")).close();
  await concurrentAlways(join(work, "conc"));
  // Recovery: reopen the interval log (clean shutdown markers removed, as after a crash).
  for (const topic of readdirSync(join(intervalDir, "topics"))) {
    for (const part of readdirSync(join(intervalDir, "topics", topic))) rmSync(join(intervalDir, "topics", topic, part, "CLEAN"), { force: true });
  }
  const bytes = dirBytes(intervalDir);
  const t = now();
  const reopened = await connect(`local:${intervalDir}`);
  await reopened.admin.listTopics();
  const seconds = now() - t;
  await reopened.close();
  rows.push({ case: "recovery after crash (reopen, tail scan)", messages: N, seconds: +seconds.toFixed(3), msgPerSec: 0, note: `${(seconds / (bytes / 2 ** 30)).toFixed(2)} s/GiB of ${(bytes / 2 ** 20).toFixed(0)} MiB` });
} finally {
  rmSync(work, { recursive: true, force: true });
}

const raw = rows[0].msgPerSec;
for (const r of rows) r.xRaw = r.msgPerSec > 0 ? +(r.msgPerSec / raw).toFixed(3) : undefined;
const machine = `${cpus().length} x ${cpus()[0]?.model ?? "cpu"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`;
console.log(`local broker benchmark, ${N} x 100-byte messages, ${machine}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}`);
console.table(rows);
mkdirSync("bench-results", { recursive: true });
writeFileSync("bench-results/local.json", JSON.stringify({ machine, messages: N, rows }, null, 2));
