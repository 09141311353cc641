// Kafka through Brook vs raw KafkaJS, on a real broker, in one run.
//
//   npx tsc -b && node scripts/bench-kafka.mjs [--messages 100000] [--rounds 3]
//
// Uses BROOK_BENCH_KAFKA_BROKERS / BROOK_TEST_KAFKA_BROKERS when set, else starts a broker
// (scripts/backends/kafka.mjs) and stops it at the end. Prints a table and writes
// bench-results/kafka.json. Rounds alternate raw and Brook; the median round is reported.
//
// Workloads (100-byte values, 1,000 keys, 4 partitions):
//   produce   raw: producer.send() of 1,000-record batches, one at a time, idempotent, acks=all,
//             Kafka's murmur2 partitioner (the best raw batch size here: 5,000 is ~25% slower)
//             brook: publisher.publishBatch() of the same 1,000-record chunks (bytes codec)
// Consumers are timed from the first record handled to the last (steady state); the time from
// subscribe()/run() to the first record (group join, offset look-ups) is reported apart.
//   consume   raw: consumer.run({ eachBatch }) counting records, autoCommit on (KafkaJS default)
//             brook: subscribe() with a counting handler (keyed executor, watermark commits)
//   consume (per-message baseline)
//             raw: consumer.run({ eachMessage }) with a no-op async handler, one per partition at a time
//             brook: as above
//   1 ms I/O  raw: consumer.run({ eachMessage }) awaiting 1 ms per record, one per partition at a time
//             brook: subscribe() awaiting 1 ms per record, ordering "key", maxInFlight 256
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(path.join(ROOT, "packages", "adapter-kafka", "package.json"));
const kafkajs = require("kafkajs");
const { connectKafka, javaCompatiblePartitioner } = await import(path.join(ROOT, "packages/adapter-kafka/dist/index.js"));
const { startKafka } = await import(path.join(ROOT, "scripts/backends/kafka.mjs"));

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const MESSAGES = arg("messages", 100_000);
const ROUNDS = arg("rounds", 3);
const IO_MESSAGES = arg("io-messages", 4_000);
const PARTITIONS = 4;
const KEYS = 1_000;
const BATCH = 1_000;
const VALUE = Buffer.alloc(100, 0x61);
const quiet = { debug() {}, info() {}, warn() {}, error: (m) => console.error(m) };

let kafka;
let brokers = process.env.BROOK_BENCH_KAFKA_BROKERS ?? process.env.BROOK_TEST_KAFKA_BROKERS;
if (!brokers) {
  kafka = await startKafka({ log: (m) => console.error(m) });
  brokers = kafka.brokers;
}

const url = `kafka://${brokers}?clientId=bench`;
const client = new kafkajs.Kafka({ clientId: "bench-raw", brokers: [brokers], logLevel: kafkajs.logLevel.NOTHING });
const admin = client.admin();
const brook = await connectKafka(url, { logger: quiet });
let topicSeq = 0;
let groupSeq = 0;
const newTopic = async (prefix) => {
  const topic = `bench-${prefix}-${Date.now().toString(36)}-${topicSeq++}`;
  await brook.admin.createTopic(topic, { partitions: PARTITIONS });
  return topic;
};
const keyOf = (i) => `key-${i % KEYS}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Same partitioner on both sides (Kafka's murmur2), so both send the same record batches.
function rawPartitioner() {
  const choose = javaCompatiblePartitioner();
  return () => ({ partitionMetadata, message }) => choose(message.key ?? null, partitionMetadata.length);
}

async function produceRaw(topic, n) {
  const producer = client.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: rawPartitioner() });
  await producer.connect();
  const started = performance.now();
  for (let i = 0; i < n; i += BATCH) {
    const messages = [];
    for (let j = i; j < Math.min(n, i + BATCH); j++) messages.push({ key: keyOf(j), value: VALUE });
    await producer.send({ topic, messages, acks: -1 });
  }
  const ms = performance.now() - started;
  await producer.disconnect();
  return ms;
}

async function produceBrook(topic, n) {
  const pub = brook.publisher(topic, { codec: "bytes" });
  const started = performance.now();
  for (let i = 0; i < n; i += BATCH) {
    const messages = [];
    for (let j = i; j < Math.min(n, i + BATCH); j++) messages.push({ key: keyOf(j), data: VALUE });
    const results = await pub.publishBatch(messages);
    for (const r of results) if (!r.ok) throw r.error;
  }
  const ms = performance.now() - started;
  await pub.close();
  return ms;
}

async function consumeRaw(topic, n, { io = false, perMessage = false } = {}) {
  const consumer = client.consumer({ groupId: `raw-${topic}-${io}-${groupSeq++}`, heartbeatInterval: 500, maxWaitTimeInMs: 200 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let count = 0;
  let done;
  let first = 0;
  const finished = new Promise((r) => (done = r));
  const runStarted = performance.now();
  if (io || perMessage) {
    await consumer.run({
      partitionsConsumedConcurrently: PARTITIONS,
      eachMessage: io
        ? async () => {
            if (count === 0 && first === 0) first = performance.now();
            await sleep(1);
            if (++count === n) done(performance.now());
          }
        : async () => {
            if (++count === 1) first = performance.now();
            if (count === n) done(performance.now());
          },
    });
  } else {
    await consumer.run({
      eachBatch: async ({ batch }) => {
        if (count === 0) first = performance.now();
        for (const m of batch.messages) if (m.value !== null && ++count === n) done(performance.now());
      },
    });
  }
  const ended = await finished;
  await consumer.disconnect();
  startup.raw.push(first - runStarted);
  return ended - first;
}

async function consumeBrook(topic, n, { io = false, batch = false } = {}) {
  let count = 0;
  let done;
  let first = 0;
  const finished = new Promise((r) => (done = r));
  const subscribeStarted = performance.now();
  const sub = await brook.subscribe(topic, {
    group: `brook-${topic}-${io}-${groupSeq++}`,
    startFrom: "earliest",
    codec: "bytes",
    ordering: "key",
    ...(batch
      ? {
          batchHandler: (messages) => {
            if (count === 0) first = performance.now();
            count += messages.length;
            if (count >= n) done(performance.now());
          },
        }
      : { maxInFlight: 256 }),
    handler: batch ? undefined : io
      ? async () => {
          if (count === 0 && first === 0) first = performance.now();
          await sleep(1);
          if (++count === n) done(performance.now());
        }
      : () => {
          if (++count === 1) first = performance.now();
          if (count === n) done(performance.now());
        },
  });
  const ended = await finished;
  await sub.close();
  startup.brook.push(first - subscribeStarted);
  return ended - first;
}

/** ms from subscribe()/run() to the first record handled (joins, offset look-ups) */
const startup = { raw: [], brook: [] };

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rate = (n, ms) => Math.round((n / ms) * 1000);

async function measure(name, n, raw, viaBrook) {
  const rawMs = [];
  const brookMs = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate who goes first, so neither side always meets a warmer broker.
    if (round % 2 === 0) {
      rawMs.push(await raw());
      brookMs.push(await viaBrook());
    } else {
      brookMs.push(await viaBrook());
      rawMs.push(await raw());
    }
    console.error(`  ${name} round ${round + 1}: raw ${rate(n, rawMs.at(-1))}/s, brook ${rate(n, brookMs.at(-1))}/s`);
  }
  const r = { workload: name, messages: n, rawMsgPerSec: rate(n, median(rawMs)), brookMsgPerSec: rate(n, median(brookMs)) };
  r.brookVsRaw = Number((r.brookMsgPerSec / r.rawMsgPerSec).toFixed(3));
  r.rawRoundsMs = rawMs.map(Math.round);
  r.brookRoundsMs = brookMs.map(Math.round);
  return r;
}

const results = [];
let startupMs;
try {
  await admin.connect();
  console.error(`kafka bench on ${brokers}: ${MESSAGES} x 100-byte messages, ${PARTITIONS} partitions, ${ROUNDS} rounds`);
  // Warm-up: group coordinator, producer ids, JIT.
  const warm = await newTopic("warm");
  await produceRaw(warm, 10_000);
  await produceBrook(warm, 10_000);
  await consumeRaw(warm, 20_000);
  await consumeBrook(warm, 20_000);
  startup.raw.length = 0;
  startup.brook.length = 0;

  results.push(await measure("produce", MESSAGES, async () => produceRaw(await newTopic("p-raw"), MESSAGES), async () => produceBrook(await newTopic("p-brook"), MESSAGES)));
  const filled = await newTopic("filled");
  await produceRaw(filled, MESSAGES);
  results.push(await measure("consume", MESSAGES, () => consumeRaw(filled, MESSAGES), () => consumeBrook(filled, MESSAGES, { batch: true })));
  results.push(await measure("consume, Brook per-message handler", MESSAGES, () => consumeRaw(filled, MESSAGES), () => consumeBrook(filled, MESSAGES)));
  startupMs = { rawMedian: Math.round(median(startup.raw)), brookMedian: Math.round(median(startup.brook)) };
  results.push(
    await measure("consume (per-message baseline)", MESSAGES, () => consumeRaw(filled, MESSAGES, { perMessage: true }), () => consumeBrook(filled, MESSAGES)),
  );
  const ioTopic = await newTopic("io");
  await produceRaw(ioTopic, IO_MESSAGES);
  results.push(
    await measure(
      "consume, handler awaits 1 ms",
      IO_MESSAGES,
      () => consumeRaw(ioTopic, IO_MESSAGES, { io: true }),
      () => consumeBrook(ioTopic, IO_MESSAGES, { io: true }),
    ),
  );
} finally {
  await brook.close().catch(() => undefined);
  await admin.disconnect().catch(() => undefined);
  await kafka?.stop();
}

const labels = {
  produce: "raw producer.send",
  consume: "raw eachBatch vs Brook batchHandler, counting",
  "consume, Brook per-message handler": "raw eachBatch, counting loop",
  "consume (per-message baseline)": "raw eachMessage, no-op handler",
  "consume, handler awaits 1 ms": "raw eachMessage",
};
console.log("");
console.log("| workload | baseline | baseline msg/s | Brook msg/s | Brook / baseline |");
console.log("|---|---|---:|---:|---:|");
for (const r of results) {
  console.log(`| ${r.workload} | ${labels[r.workload]} | ${r.rawMsgPerSec.toLocaleString("en")} | ${r.brookMsgPerSec.toLocaleString("en")} | ${(r.brookVsRaw * 100).toFixed(1)}% |`);
}
if (startupMs) console.log(`\nconsume startup (subscribe/run to first record), median: raw ${startupMs.rawMedian} ms, Brook ${startupMs.brookMedian} ms`);
mkdirSync(path.join(ROOT, "bench-results"), { recursive: true });
const out = {
  backend: "kafka",
  date: new Date().toISOString(),
  node: process.version,
  cpus: (await import("node:os")).cpus().length,
  messageBytes: VALUE.byteLength,
  partitions: PARTITIONS,
  keys: KEYS,
  rounds: ROUNDS,
  consumeTiming: "from the first record handled to the last (steady state); startup measured apart",
  consumeStartupMs: startupMs,
  results,
};
writeFileSync(path.join(ROOT, "bench-results", "kafka.json"), `${JSON.stringify(out, null, 2)}\n`);
console.log(`\nwrote bench-results/kafka.json`);
