// Mirror throughput beside the target's raw publish rate, in one run, over the compiled dist:
// `npx tsc -b && node scripts/bench-mirror.mjs [--messages N] [--runs R] [--kafka host:port | --no-kafka]`.
// 100-byte keyed messages (1,000 keys), 4 partitions; each measurement on a fresh target (its own
// directory or server, so no dedupe entries of another one). For each target — `local:` directory,
// `brook serve` (the local server, in-memory store) and Kafka (started here unless --kafka names
// one or --no-kafka) — each run measures, in one process:
//   raw:        publishBatch of the messages straight to the target, 1,000 per call;
//   raw+mirror headers: the same with what the mirror writes on each copy (its two headers and
//               an idempotency key, which a `local:`/`brook serve` target dedupes on publish);
//   mirror:     `mirror({ once: true })` from a `memory:` source holding the messages.
// Prints each run and the medians over the runs, writes bench-results/mirror.json. Not a test:
// nothing here asserts. Rates depend on what else the machine runs (printed: load average).
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { connect, silentLogger } from "../packages/core/dist/index.js";
import "../packages/local-broker/dist/index.js";
import { mirror } from "../packages/mirror/dist/index.js";

const args = process.argv.slice(2);
const opt = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const N = Number(opt("--messages") ?? 100_000);
const RUNS = Number(opt("--runs") ?? 3);
const payload = Buffer.alloc(100, 7);
const messages = Array.from({ length: N }, (_, i) => ({ key: `k${i % 1000}`, data: payload, headers: { n: String(i) } }));
// What the mirror adds to a copy of a message without an idempotency key (see @brook/mirror options).
const at = new Date().toISOString();
const withMirrorHeaders = messages.map((m, i) => ({
  ...m,
  headers: { ...m.headers, "brook-mirror-publish-time": at, "brook-mirror-source": `src/${i % 4}/${i >> 2}` },
  idempotencyKey: `brook-mirror:src/${i % 4}/${i >> 2}`,
}));
const now = () => performance.now() / 1000;
const rows = [];

async function publishAll(target, topic, list) {
  const pub = target.publisher(topic, { codec: "bytes" });
  const t = now();
  for (let i = 0; i < N; i += 1000) {
    for (const r of await pub.publishBatch(list.slice(i, i + 1000))) if (!r.ok) throw r.error;
  }
  const seconds = now() - t;
  await pub.close();
  return Math.round(N / seconds);
}

/** `open()` gives a fresh target each time (its own directory or server: no dedupe entries of another measurement). */
async function bench(name, open, run) {
  const id = `${Date.now().toString(36)}-${run}`;
  const load = loadavg()[0];
  const measure = async (body) => {
    const { url, close } = await open();
    const target = await connect(url, { logger: silentLogger });
    try {
      return await body(target);
    } finally {
      await target.close();
      await close();
    }
  };
  const raw = await measure(async (target) => {
    await target.admin.createTopic(`raw-${id}`, { partitions: 4 });
    return publishAll(target, `raw-${id}`, messages);
  });
  const rawHeaders = await measure(async (target) => {
    await target.admin.createTopic(`rawh-${id}`, { partitions: 4 });
    return publishAll(target, `rawh-${id}`, withMirrorHeaders);
  });
  const mirrorRate = await measure(async (target) => {
    await target.admin.createTopic(`copy-${id}`, { partitions: 4 });
    const source = await connect("memory:");
    try {
      await source.admin.createTopic("src", { partitions: 4 });
      const spub = source.publisher("src", { codec: "bytes" });
      for (let i = 0; i < N; i += 10_000) await spub.publishBatch(messages.slice(i, i + 10_000));
      await spub.close();
      const t = now();
      const result = await mirror({ from: source, to: target, topics: ["src"], toTopic: `copy-${id}`, once: true });
      return Math.round(result.mirrored / (now() - t));
    } finally {
      await source.close();
    }
  });
  const row = { target: name, run, messages: N, load1m: +load.toFixed(1), raw, rawMirrorHeaders: rawHeaders, mirror: mirrorRate, ofRaw: +(mirrorRate / raw).toFixed(2), ofRawMirrorHeaders: +(mirrorRate / rawHeaders).toFixed(2) };
  rows.push(row);
  console.log(JSON.stringify(row));
}

async function startServer() {
  const child = spawn(process.execPath, [join(import.meta.dirname, "../packages/cli/dist/main.js"), "serve", "--port", "0"], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const m = /listening on brook:\/\/[^:]+:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (code) => reject(new Error(`brook serve exited with ${code}`)));
  });
  return { url: `brook://127.0.0.1:${port}`, stop: () => new Promise((resolve) => (child.once("exit", resolve), child.kill("SIGINT"))) };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const dir = mkdtempSync(join(tmpdir(), "brook-bench-mirror-"));
let kafka;
try {
  const noop = async () => undefined;
  const targets = [["local: (fsync interval)", async () => ({ url: `local:${mkdtempSync(join(dir, "t-"))}`, close: noop })]];
  targets.push(["brook serve (memory)", async () => {
    const server = await startServer();
    return { url: server.url, close: server.stop };
  }]);
  if (!args.includes("--no-kafka")) {
    let brokers = opt("--kafka");
    if (brokers === undefined) {
      const { startKafka } = await import("./backends/kafka.mjs");
      kafka = await startKafka({ log: () => undefined });
      brokers = kafka.brokers;
    }
    await import("../packages/adapter-kafka/dist/index.js");
    targets.push(["kafka", async () => ({ url: `kafka://${brokers}?clientId=bench-mirror`, close: noop })]);
  }
  for (let run = 1; run <= RUNS; run += 1) for (const [name, open] of targets) await bench(name, open, run);
} finally {
  await kafka?.stop();
  rmSync(dir, { recursive: true, force: true });
}
const medians = [...new Set(rows.map((r) => r.target))].map((target) => {
  const of = rows.filter((r) => r.target === target);
  const m = (k) => median(of.map((r) => r[k]));
  return { target, runs: of.length, load1m: m("load1m"), raw: m("raw"), rawMirrorHeaders: m("rawMirrorHeaders"), mirror: m("mirror"), ofRaw: m("ofRaw"), ofRawMirrorHeaders: m("ofRawMirrorHeaders") };
});
console.log(`medians over ${RUNS} run(s), msg/s:`);
console.table(medians);
mkdirSync("bench-results", { recursive: true });
writeFileSync("bench-results/mirror.json", JSON.stringify({ at: new Date().toISOString(), node: process.version, rows, medians }, null, 2));
