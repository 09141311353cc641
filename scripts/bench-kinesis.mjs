// Kinesis throughput on kinesis-local: raw PutRecords against the same work through Brook, and
// Brook with aggregate: true (KPL aggregation), in the same run, 100-byte messages. Prints a
// table and writes bench-results/kinesis.json. Not a test: nothing here asserts.
//
//   npx tsc -b && node scripts/bench-kinesis.mjs
//   env: BENCH_MESSAGES=5000 (published per round) BENCH_CONSUME=20000 (read per round) BENCH_ROUNDS=3 (BROOK_TEST_KINESIS_ENDPOINT / BROOK_TEST_DYNAMO_ENDPOINT: emulators you run)
//
// Workloads (4 shards, 1,000 keys, a fresh stream per measurement: kinesis-local slows down as
// its shards fill, so every side starts from the same empty stream):
//   publish   raw: PutRecordsCommand of 500 records (the API's maximum), one call at a time
//             brook: publisher.publishBatch() of the same 500-message chunks (bytes codec, raw records)
//             brook, aggregate: publishBatch() of 5,000-message chunks packed into KPL aggregates
//             of up to 51,200 bytes per shard (the KPL's default), 500 records per call at most
//   consume   raw: GetRecords loops over every shard, counting records, from TRIM_HORIZON
//             brook: subscribe() with a counting batchHandler (leases in dynalite, checkpoints
//             on the commit interval); timed from the first message to the last
// "records/s" counts Kinesis records written or read; "msgs/s" counts Brook messages (equal
// except with aggregation). Rounds alternate which side goes first; the median round is shown.
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { consumeBrookCounting, median, publishBrookKeyed, quiet, rate } from "./bench-common.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const requireAdapter = createRequire(path.join(ROOT, "packages", "adapter-kinesis", "package.json"));
const K = requireAdapter("@aws-sdk/client-kinesis");
const adapter = await import(pathToFileURL(path.join(ROOT, "packages/adapter-kinesis/dist/index.js")).href);
const { startKinesis } = await import(pathToFileURL(path.join(ROOT, "scripts/backends/kinesis.mjs")).href);

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 5_000);
const CONSUME = Number(process.env.BENCH_CONSUME ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SHARDS = 4;
const KEYS = 1_000;
const CHUNK = 500;
const AGG_CHUNK = 5_000;
const VALUE = Buffer.alloc(100, 0x61);
const log = (m) => console.error(`[bench-kinesis] ${m}`);

let emulators;
let kinesisEndpoint = process.env.BROOK_BENCH_KINESIS_ENDPOINT ?? process.env.BROOK_TEST_KINESIS_ENDPOINT;
let dynamoEndpoint = process.env.BROOK_BENCH_DYNAMO_ENDPOINT ?? process.env.BROOK_TEST_DYNAMO_ENDPOINT;
if (!kinesisEndpoint || !dynamoEndpoint) {
  emulators = await startKinesis({ log });
  kinesisEndpoint = emulators.kinesisEndpoint;
  dynamoEndpoint = emulators.dynamoEndpoint;
}
const url = `kinesis://us-east-1?endpoint=${kinesisEndpoint}&dynamoEndpoint=${dynamoEndpoint}&pollIntervalMs=200&leaseTable={group}-{topic}`;
const brook = await adapter.connectKinesis(url, { logger: quiet });
const raw = brook.kinesis; // the same SDK client, so both sides share connection settings
let seq = 0;
const newStream = async (prefix) => {
  const name = `bench-${prefix}-${Date.now().toString(36)}-${seq++}`;
  await brook.admin.createTopic(name, { partitions: SHARDS });
  return name;
};
const keyOf = (i) => `key-${i % KEYS}`;

async function publishRaw(stream, n) {
  const started = performance.now();
  for (let i = 0; i < n; i += CHUNK) {
    const Records = [];
    for (let j = i; j < Math.min(n, i + CHUNK); j++) Records.push({ Data: VALUE, PartitionKey: keyOf(j) });
    const r = await raw.send(new K.PutRecordsCommand({ StreamName: stream, Records }));
    if (r.FailedRecordCount > 0) throw new Error(`raw PutRecords: ${r.FailedRecordCount} failed`);
  }
  return { ms: performance.now() - started, records: n };
}

async function publishBrook(stream, n, aggregate) {
  // Kinesis records written (an aggregated record holds many messages): by shard and sequence number.
  const records = new Set();
  const ms = await publishBrookKeyed(brook, stream, n, {
    batch: aggregate ? AGG_CHUNK : CHUNK,
    keyOf,
    value: VALUE,
    publisherOptions: { aggregate },
    onResult: (r) => records.add(`${r.position.partition}/${r.position.offset.split(":")[0]}`),
  });
  return { ms, records: records.size };
}

async function consumeRaw(stream, n) {
  const shards = (await raw.send(new K.ListShardsCommand({ StreamName: stream }))).Shards;
  let count = 0;
  let first = 0;
  let ended = 0;
  await Promise.all(
    shards.map(async (s) => {
      let it = (await raw.send(new K.GetShardIteratorCommand({ StreamName: stream, ShardId: s.ShardId, ShardIteratorType: "TRIM_HORIZON" }))).ShardIterator;
      while (count < n && it) {
        const r = await raw.send(new K.GetRecordsCommand({ ShardIterator: it, Limit: 10_000 }));
        if (r.Records.length > 0 && first === 0) first = performance.now();
        count += r.Records.length;
        if (count >= n && ended === 0) ended = performance.now();
        it = r.NextShardIterator;
        // Kinesis allows 5 reads a second per shard; Brook waits as long between reads.
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }),
  );
  return { ms: ended - first, records: count };
}

async function consumeBrook(stream, n) {
  const { ms, records } = await consumeBrookCounting(brook, stream, n, { group: `bench-${seq++}` });
  return { ms, records };
}


async function measure(workload, n, sides) {
  const runs = Object.fromEntries(sides.map(([name]) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? sides : [...sides].reverse();
    for (const [name, run] of order) runs[name].push(await run());
    log(`${workload} round ${round + 1}: ${sides.map(([name]) => `${name} ${rate(n, runs[name].at(-1).ms)} msgs/s`).join(", ")}`);
  }
  return sides.map(([name]) => {
    const rounds = runs[name];
    const mid = median(rounds.map((r) => r.ms));
    const at = rounds.find((r) => r.ms === mid);
    return { workload, side: name, messages: n, msgsPerSec: rate(n, mid), kinesisRecordsPerSec: rate(at.records, mid), kinesisRecords: at.records, roundsMs: rounds.map((r) => Math.round(r.ms)) };
  });
}

const results = [];
try {
  log(`kinesis-local at ${kinesisEndpoint}: ${MESSAGES} x ${VALUE.length}-byte messages, ${SHARDS} shards, ${ROUNDS} rounds`);
  // Warm-up: connections, JIT.
  const warm = await newStream("warm");
  await publishRaw(warm, 1_000);
  await publishBrook(warm, 1_000, false);
  results.push(
    ...(await measure("publish", MESSAGES, [
      ["raw PutRecords", async () => publishRaw(await newStream("raw"), MESSAGES)],
      ["Brook", async () => publishBrook(await newStream("brook"), MESSAGES, false)],
      ["Brook, aggregate: true", async () => publishBrook(await newStream("agg"), MESSAGES, true)],
    ])),
  );
  const filled = await newStream("filled");
  await publishRaw(filled, CONSUME);
  results.push(
    ...(await measure("consume", CONSUME, [
      ["raw GetRecords", async () => consumeRaw(filled, CONSUME)],
      ["Brook", async () => consumeBrook(filled, CONSUME)],
    ])),
  );
} finally {
  await brook.close().catch(() => undefined);
  await emulators?.stop();
}

console.log("");
console.log("| workload | side | messages | msgs/s | Kinesis records/s | Kinesis records |");
console.log("|---|---|---:|---:|---:|---:|");
for (const r of results) {
  console.log(`| ${r.workload} | ${r.side} | ${r.messages.toLocaleString("en")} | ${r.msgsPerSec.toLocaleString("en")} | ${r.kinesisRecordsPerSec.toLocaleString("en")} | ${r.kinesisRecords.toLocaleString("en")} |`);
}
mkdirSync(path.join(ROOT, "bench-results"), { recursive: true });
const out = {
  backend: "kinesis (kinesis-local 0.6.2, dynalite 4.0.0)",
  date: new Date().toISOString(),
  node: process.version,
  cpus: os.cpus().length,
  messageBytes: VALUE.length,
  shards: SHARDS,
  keys: KEYS,
  rounds: ROUNDS,
  results,
};
writeFileSync(path.join(ROOT, "bench-results", "kinesis.json"), `${JSON.stringify(out, null, 2)}\n`);
console.log("\nwrote bench-results/kinesis.json");
