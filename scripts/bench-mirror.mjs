// Mirror throughput beside the target's raw publish rate, in one run, over the compiled dist:
// `npx tsc -b && node scripts/bench-mirror.mjs [--messages N] [--kafka host:port]`.
// 100-byte keyed messages, 4 partitions. For each target (local: directory, and Kafka when
// --kafka is given): (1) raw: publishBatch of the same messages straight to the target,
// 1,000 per call; (2) mirror: `mirror({ once: true })` from a memory: source holding them.
// Prints a table and writes bench-results/mirror.json. Not a test: nothing here asserts.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "../packages/core/dist/index.js";
import "../packages/local-broker/dist/index.js";
import { mirror } from "../packages/mirror/dist/index.js";

const args = process.argv.slice(2);
const opt = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const N = Number(opt("--messages") ?? 100_000);
const kafka = opt("--kafka");
const payload = Buffer.alloc(100, 7);
const messages = Array.from({ length: N }, (_, i) => ({ key: `k${i % 1000}`, data: payload, headers: { n: String(i) } }));
const now = () => performance.now() / 1000;
const rows = [];

async function bench(name, url) {
  if (url.startsWith("kafka:")) await import("../packages/adapter-kafka/dist/index.js");
  const target = await connect(url);
  const source = await connect("memory:");
  const run = Date.now().toString(36);
  try {
    const raw = `raw-${run}`;
    const copy = `copy-${run}`;
    await target.admin.createTopic(raw, { partitions: 4 });
    await target.admin.createTopic(copy, { partitions: 4 });
    await source.admin.createTopic("src", { partitions: 4 });
    const pub = target.publisher(raw, { codec: "bytes" });
    let t = now();
    for (let i = 0; i < N; i += 1000) await pub.publishBatch(messages.slice(i, i + 1000));
    const rawSeconds = now() - t;
    await pub.close();
    const spub = source.publisher("src", { codec: "bytes" });
    for (let i = 0; i < N; i += 10_000) await spub.publishBatch(messages.slice(i, i + 10_000));
    await spub.close();
    t = now();
    const result = await mirror({ from: source, to: target, topics: ["src"], toTopic: copy, once: true });
    const mirrorSeconds = now() - t;
    const rawRate = Math.round(N / rawSeconds);
    const mirrorRate = Math.round(result.mirrored / mirrorSeconds);
    rows.push({ target: name, messages: N, rawPublishPerSec: rawRate, mirrorPerSec: mirrorRate, ratio: +(mirrorRate / rawRate).toFixed(2) });
  } finally {
    await source.close();
    await target.close();
  }
}

const dir = mkdtempSync(join(tmpdir(), "brook-bench-mirror-"));
try {
  await bench("local: (fsync interval)", `local:${dir}`);
  if (kafka !== undefined) await bench("kafka", `kafka://${kafka}?clientId=bench-mirror`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.table(rows);
mkdirSync("bench-results", { recursive: true });
writeFileSync("bench-results/mirror.json", JSON.stringify({ at: new Date().toISOString(), node: process.version, rows }, null, 2));
