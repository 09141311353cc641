// Benchmark of the local broker in server mode (`brook serve`), over the compiled dist:
//   npx tsc -b && node scripts/bench-server.mjs [--messages N] [--rate R] [--seconds S]
// Starts `brook serve` (in-memory store) as a child process on a free port, then measures from
// this process over ONE client connection:
//   - publish throughput of 100-byte messages: publishBatch (1 and 4 publishers), many
//     concurrent publish() calls, and raw pipelined RemoteEngineApi.append (no core publisher,
//     to show what the core publisher costs);
//   - keyed publishBatch (64 keys, 4 partitions) and consume of the same messages (batch and
//     per-message handler) over the same connection;
//   - the same against `brook serve --dir` (durable file store, fsync interval);
//   - the same publisher and subscriber in process (memory:), as the no-network baseline;
//   - end-to-end latency (publish() call -> handler) at a steady R msg/s (default 50,000),
//     publisher and subscriber on the same connection, for each of the three.
// Prints a table and writes bench-results/server.json. Numbers depend on the machine (and on
// what else runs on it); this is not a test.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const { connect, silentLogger } = await import(path.join(root, "packages/core/dist/index.js"));
await import(path.join(root, "packages/local-broker/dist/index.js")); // registers brook://
const { RemoteEngineApi } = await import(path.join(root, "packages/local-broker/dist/engine-entry.js"));

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const MESSAGES = arg("messages", 1_000_000);
const RATE = arg("rate", 50_000);
const SECONDS = arg("seconds", 5);
const SIZE = 100;
const rows = [];

function report(name, messages, ms, extra = {}) {
  const row = { name, messages, ms: Math.round(ms), msgPerSec: Math.round((messages / ms) * 1000), ...extra };
  rows.push(row);
  const more = Object.entries(extra).map(([k, v]) => `${k}=${v}`).join(" ");
  console.log(`${name.padEnd(62)} ${row.msgPerSec.toLocaleString("en-US").padStart(11)} msg/s ${String(row.ms).padStart(7)} ms  ${more}`);
}

async function startServer(extraArgs = []) {
  const child = spawn(process.execPath, [path.join(root, "packages/cli/dist/main.js"), "serve", "--port", "0", ...extraArgs], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const m = /listening on brook:\/\/[^:]+:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (code) => reject(new Error(`brook serve exited with ${code}`)));
  });
  return {
    url: `brook://127.0.0.1:${port}`,
    port,
    stop: () => new Promise((resolve) => {
      child.once("exit", resolve);
      child.kill("SIGINT");
    }),
  };
}

const payload = new Uint8Array(SIZE).fill(97);

/** `publishers` publishers on one broker, each sending publishBatch(batchSize) until `total` are in. */
async function publishBatches(broker, name, total, publishers, batchSize) {
  const topic = `bench-${Math.random().toString(36).slice(2)}`;
  await broker.admin.createTopic(topic, { partitions: 4 });
  const batch = Array.from({ length: batchSize }, () => ({ data: payload }));
  let remaining = total;
  let failed = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: publishers }, async () => {
      const pub = broker.publisher(topic, { codec: "bytes" });
      while (remaining > 0) {
        remaining -= batchSize;
        for (const r of await pub.publishBatch(batch)) if (!r.ok) failed += 1;
      }
      await pub.close();
    }),
  );
  const ms = performance.now() - start;
  await broker.admin.deleteTopic(topic);
  if (name !== undefined) report(name, total, ms, failed > 0 ? { failed } : {});
}

/**
 * Keyed publishBatch (64 keys over 4 partitions, as services publish), then the same messages
 * consumed from the start by a batch handler and by a per-message handler (ordering
 * "partition", maxInFlight 4,096), each with a group of its own, over the same connection.
 */
async function keyedThenConsume(broker, label, total, batchSize) {
  const topic = `bench-${Math.random().toString(36).slice(2)}`;
  await broker.admin.createTopic(topic, { partitions: 4 });
  const batch = Array.from({ length: batchSize }, (_, i) => ({ key: `key-${i % 64}`, data: payload }));
  const pub = broker.publisher(topic, { codec: "bytes" });
  let failed = 0;
  let start = performance.now();
  for (let sent = 0; sent < total; sent += batchSize) for (const r of await pub.publishBatch(batch)) if (!r.ok) failed += 1;
  report(`${label}: publishBatch, 64 keys, 1 x ${batchSize.toLocaleString("en-US")}`, total, performance.now() - start, failed > 0 ? { failed } : {});
  await pub.close();
  const consumers = [
    ["consume, batch handler", (count) => ({ batchHandler: async (ms) => void count(ms.length) })],
    ["consume, per-message handler", (count) => ({ ordering: "partition", maxInFlight: 4096, handler: async () => void count(1) })],
  ];
  for (const [what, handlerOptions] of consumers) {
    let got = 0;
    start = performance.now();
    const sub = await broker.subscribe(topic, { group: `g-${what}`, codec: "bytes", startFrom: "earliest", ...handlerOptions((n) => (got += n)) });
    const deadline = Date.now() + 120_000;
    while (got < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    const ms = performance.now() - start;
    await sub.close();
    report(`${label}: ${what}`, got, ms, got < total ? { missing: total - got } : {});
  }
  await broker.admin.deleteTopic(topic);
}

/** `window` publish() calls outstanding at any time until `total` are acknowledged. */
async function concurrentPublish(broker, name, total, window) {
  const topic = `bench-${Math.random().toString(36).slice(2)}`;
  await broker.admin.createTopic(topic, { partitions: 4 });
  const pub = broker.publisher(topic, { codec: "bytes" });
  let sent = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: window }, async () => {
      while (sent < total) {
        sent += 1;
        await pub.publish({ data: payload });
      }
    }),
  );
  const ms = performance.now() - start;
  await pub.close();
  await broker.admin.deleteTopic(topic);
  report(name, total, ms, { outstanding: window });
}

/** RemoteEngineApi.append directly: encoded batches, `inFlight` requests pipelined. */
async function rawAppend(url, name, total, batchSize, inFlight) {
  const port = Number(new URL(url).port);
  const api = await RemoteEngineApi.connect({ port, logger: silentLogger });
  const topic = `bench-${Math.random().toString(36).slice(2)}`;
  await api.createTopic(topic, { partitions: 4 }, false);
  const batch = Array.from({ length: batchSize }, () => ({ key: undefined, idempotencyKey: undefined, headers: {}, value: payload }));
  let remaining = total;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (remaining > 0) {
        remaining -= batchSize;
        await api.append(topic, batch);
      }
    }),
  );
  const ms = performance.now() - start;
  await api.deleteTopic(topic);
  await api.close();
  report(name, total, ms, { batch: batchSize, inFlight });
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** publish() at `rate` msg/s for warm-up + `seconds`; the subscriber on the same connection records latency. */
async function latency(broker, rate, seconds, label = "server") {
  const topic = `bench-lat-${Math.random().toString(36).slice(2)}`;
  await broker.admin.createTopic(topic, { partitions: 4 });
  const samples = [];
  let received = 0;
  let measuring = false;
  const sub = await broker.subscribe(topic, {
    group: "latency",
    codec: "bytes",
    startFrom: "latest",
    ordering: "partition",
    maxInFlight: 1024,
    handler: (m) => {
      const sentAt = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).readDoubleLE(0);
      received += 1;
      if (measuring && sentAt > 0) samples.push(performance.now() - sentAt);
    },
  });
  while (sub.assignment().length < 4) await new Promise((r) => setTimeout(r, 10));
  const pub = broker.publisher(topic, { codec: "bytes" });
  const warmupMs = 1_000;
  const totalMs = warmupMs + seconds * 1_000;
  const start = performance.now();
  let sent = 0;
  let failed = 0;
  await new Promise((resolve) => {
    const tick = () => {
      const elapsed = performance.now() - start;
      measuring = elapsed >= warmupMs;
      const due = Math.min(Math.floor((elapsed / 1000) * rate), Math.floor((totalMs / 1000) * rate));
      while (sent < due) {
        const data = new Uint8Array(SIZE);
        new DataView(data.buffer).setFloat64(0, elapsed >= warmupMs ? performance.now() : 0, true);
        sent += 1;
        pub.publish({ data }).catch(() => void (failed += 1));
      }
      if (elapsed >= totalMs) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  const deadline = Date.now() + 10_000;
  while (received < sent - failed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const actualRate = Math.round(sent / ((performance.now() - start) / 1000));
  await pub.close();
  await sub.close({ drain: true });
  await broker.admin.deleteTopic(topic);
  samples.sort((a, b) => a - b);
  const ms = (v) => Number(v.toFixed(3));
  const result = {
    targetRate: rate,
    actualRate,
    samples: samples.length,
    lost: sent - failed - received,
    failed,
    p50Ms: ms(percentile(samples, 50)),
    p90Ms: ms(percentile(samples, 90)),
    p99Ms: ms(percentile(samples, 99)),
    p999Ms: ms(percentile(samples, 99.9)),
    maxMs: ms(samples[samples.length - 1]),
  };
  console.log(
    `${label + ": latency at " + rate.toLocaleString("en-US") + " msg/s"}`.padEnd(58) +
      ` p50 ${result.p50Ms} ms  p90 ${result.p90Ms} ms  p99 ${result.p99Ms} ms  p99.9 ${result.p999Ms} ms  max ${result.maxMs} ms  (${result.samples} samples, ${result.actualRate} msg/s, lost ${result.lost})`,
  );
  return result;
}

console.log(`load average before: ${os.loadavg().map((l) => l.toFixed(2)).join(" ")} (other work on the machine shows in the tail latencies)`);
console.log(`${MESSAGES.toLocaleString("en-US")} messages of ${SIZE} bytes per throughput row; node ${process.version}, ${os.cpus().length} cpus\n`);
const latencies = {};

// 1. brook serve with the in-memory store: every row, one client connection.
let server = await startServer();
try {
  const remote = await connect(server.url, { logger: silentLogger });
  // Latency first, on a server whose heap has not yet held millions of throughput messages.
  latencies.serverMemory = await latency(remote, RATE, SECONDS, "server (memory store)");
  await publishBatches(remote, undefined, 200_000, 1, 10_000); // warm-up (JIT, socket buffers)
  await publishBatches(remote, "server (memory): publishBatch, 1 publisher x 10,000/batch", MESSAGES, 1, 10_000);
  await publishBatches(remote, "server (memory): publishBatch, 4 publishers x 10,000/batch", MESSAGES, 4, 10_000);
  await publishBatches(remote, "server (memory): publishBatch, 4 publishers x 1,000/batch", MESSAGES, 4, 1_000);
  await concurrentPublish(remote, "server (memory): concurrent publish(), 10,000 outstanding", Math.min(MESSAGES, 500_000), 10_000);
  await rawAppend(server.url, "server (memory): raw RemoteEngineApi.append, no core", MESSAGES, 10_000, 4);
  await keyedThenConsume(remote, "server (memory)", MESSAGES, 10_000);
  await remote.close();
} finally {
  await server.stop();
}

// 2. brook serve --dir (durable file store, fsync interval): records leave the JS heap.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "brook-bench-server-"));
server = await startServer(["--dir", dir]);
try {
  const remote = await connect(server.url, { logger: silentLogger });
  latencies.serverFile = await latency(remote, RATE, SECONDS, "server (file store)");
  await publishBatches(remote, undefined, 200_000, 1, 10_000);
  await publishBatches(remote, "server (file, fsync interval): publishBatch, 1 x 10,000", MESSAGES, 1, 10_000);
  await publishBatches(remote, "server (file, fsync interval): publishBatch, 4 x 1,000", MESSAGES, 4, 1_000);
  await keyedThenConsume(remote, "server (file)", MESSAGES, 10_000);
  await remote.close();
} finally {
  await server.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}

// 3. The same core publisher and subscriber without the network: what server mode adds is the difference.
const local = await connect("memory:", { logger: silentLogger });
latencies.inProcessMemory = await latency(local, RATE, SECONDS, "in process (memory:)");
await publishBatches(local, undefined, 200_000, 1, 10_000);
await publishBatches(local, "in process (memory:): publishBatch, 1 publisher x 10,000", MESSAGES, 1, 10_000);
await concurrentPublish(local, "in process (memory:): concurrent publish(), 10,000 out", Math.min(MESSAGES, 500_000), 10_000);
await local.close();

const out = path.join(root, "bench-results", "server.json");
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(
  out,
  `${JSON.stringify({ node: process.version, cpus: os.cpus().length, when: new Date().toISOString(), messageBytes: SIZE, rows, latency: latencies, loadAverageAfter: os.loadavg() }, null, 2)}\n`,
);
console.log(`\nwrote ${path.relative(root, out)}`);
