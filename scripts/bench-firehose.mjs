// Firehose throughput on moto: raw PutRecordBatch against the same work through Brook, and Brook
// with envelope "json", in the same run. Prints a table and writes bench-results/firehose.json.
// Not a test: nothing here asserts.
//
//   npx tsc -b && node scripts/bench-firehose.mjs
//   env: BENCH_MESSAGES=20000 (published per round) BENCH_ROUNDS=3 (BROOK_TEST_MOTO_ENDPOINT: a moto you run)
//
// Workload: ~100-byte JSON objects, newline-framed (the S3 form Firehose users read), into a
// fresh DirectPut delivery stream per measurement (moto writes one S3 object per call):
//   raw:   JSON.stringify(object) + "\n" per record, PutRecordBatchCommand of 500 records (the
//          API's maximum), one call at a time, on the same SDK client Brook uses
//   brook: publisher({ codec: "json" }).publishBatch() of the same 500-message chunks
//   brook, envelope "json": the same, each record a JSON envelope with key, headers and id
// Rounds alternate which side goes first; the median round is shown.
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { median, quiet, rate } from "./bench-common.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const requireRoot = createRequire(path.join(ROOT, "package.json"));
const F = createRequire(path.join(ROOT, "packages", "adapter-kinesis", "package.json"))("@aws-sdk/client-firehose");
const S3 = requireRoot("@aws-sdk/client-s3");
const adapter = await import(pathToFileURL(path.join(ROOT, "packages/adapter-kinesis/dist/index.js")).href);
const { startMoto } = await import(pathToFileURL(path.join(ROOT, "scripts/backends/moto.mjs")).href);

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CHUNK = 500;
const log = (m) => console.error(`[bench-firehose] ${m}`);
const objectOf = (i) => ({ id: i, customer: `cust-${i % 1_000}`, total: (i % 997) / 10, currency: "EUR", note: "benchmark order" });

let moto;
let endpoint = process.env.BROOK_BENCH_MOTO_ENDPOINT ?? process.env.BROOK_TEST_MOTO_ENDPOINT;
if (!endpoint) {
  moto = await startMoto({ log });
  endpoint = moto.endpoint;
}
const bucket = `brook-bench-${Date.now().toString(36)}`;
const s3 = new S3.S3Client({ region: "us-east-1", endpoint, forcePathStyle: true, credentials: { accessKeyId: "brook-local", secretAccessKey: "brook-local" } });
await s3.send(new S3.CreateBucketCommand({ Bucket: bucket }));
const brook = await adapter.connectFirehose(`firehose://us-east-1?endpoint=${encodeURIComponent(endpoint)}&bucket=${bucket}`, { logger: quiet });
const raw = brook.firehose; // the same SDK client, so both sides share connection settings
let seq = 0;
const newStream = async (prefix) => {
  const name = `bench-${prefix}-${Date.now().toString(36)}-${seq++}`;
  await brook.admin.createTopic(name, { s3: { prefix: `${name}/` } });
  return name;
};

async function publishRaw(stream, n) {
  const started = performance.now();
  for (let i = 0; i < n; i += CHUNK) {
    const Records = [];
    for (let j = i; j < Math.min(n, i + CHUNK); j++) Records.push({ Data: Buffer.from(`${JSON.stringify(objectOf(j))}\n`) });
    const r = await raw.send(new F.PutRecordBatchCommand({ DeliveryStreamName: stream, Records }));
    if (r.FailedPutCount > 0) throw new Error(`raw PutRecordBatch: ${r.FailedPutCount} failed`);
  }
  return { ms: performance.now() - started };
}

async function publishBrook(stream, n, envelope) {
  const pub = brook.publisher(stream, { codec: "json", envelope });
  const started = performance.now();
  for (let i = 0; i < n; i += CHUNK) {
    const messages = [];
    for (let j = i; j < Math.min(n, i + CHUNK); j++) {
      messages.push(envelope === "json" ? { data: objectOf(j), key: `cust-${j % 1_000}`, idempotencyKey: `order-${j}`, headers: { source: "bench" } } : { data: objectOf(j) });
    }
    for (const r of await pub.publishBatch(messages)) if (!r.ok) throw r.error;
  }
  const ms = performance.now() - started;
  await pub.close();
  return { ms };
}


const results = [];
try {
  log(`moto at ${endpoint}: ${MESSAGES} messages per round, ${ROUNDS} rounds`);
  const warm = await newStream("warm");
  await publishRaw(warm, 2_000);
  await publishBrook(warm, 2_000, "none");
  const sides = [
    ["raw PutRecordBatch", async () => publishRaw(await newStream("raw"), MESSAGES)],
    ["Brook", async () => publishBrook(await newStream("brook"), MESSAGES, "none")],
    ['Brook, envelope "json"', async () => publishBrook(await newStream("env"), MESSAGES, "json")],
  ];
  const runs = Object.fromEntries(sides.map(([name]) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? sides : [...sides].reverse();
    for (const [name, run] of order) runs[name].push((await run()).ms);
    log(`round ${round + 1}: ${sides.map(([name]) => `${name} ${rate(MESSAGES, runs[name].at(-1))} msgs/s`).join(", ")}`);
  }
  const rawRate = rate(MESSAGES, median(runs["raw PutRecordBatch"]));
  for (const [name] of sides) {
    const msgsPerSec = rate(MESSAGES, median(runs[name]));
    results.push({ workload: "publish", side: name, messages: MESSAGES, msgsPerSec, ofRaw: Math.round((msgsPerSec / rawRate) * 1000) / 10, roundsMs: runs[name].map(Math.round) });
  }
} finally {
  await brook.close().catch(() => undefined);
  s3.destroy();
  await moto?.stop();
}

console.log("");
console.log("| workload | side | messages | msgs/s | % of raw |");
console.log("|---|---|---:|---:|---:|");
for (const r of results) console.log(`| ${r.workload} | ${r.side} | ${r.messages.toLocaleString("en")} | ${r.msgsPerSec.toLocaleString("en")} | ${r.ofRaw}% |`);
mkdirSync(path.join(ROOT, "bench-results"), { recursive: true });
const out = { backend: "firehose (moto 5.2.1)", date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, rounds: ROUNDS, results };
writeFileSync(path.join(ROOT, "bench-results", "firehose.json"), `${JSON.stringify(out, null, 2)}\n`);
console.log("\nwrote bench-results/firehose.json");
