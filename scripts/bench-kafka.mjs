// Kafka side by side, on one real broker, in one run, with the same messages: Brook over each
// driver (KafkaJS, @platformatic/kafka), each driver raw, and Kafka's own Java performance tools
// (org.apache.kafka:kafka-tools) as the ceiling a Kafka user knows.
//
//   npx tsc -b && node scripts/bench-kafka.mjs [--messages 100000] [--rounds 3]
//
// @platformatic/kafka needs Node >= 22.22: on an older Node this script runs itself again on
// Node 24 (scripts/runtimes/node24.mjs), so every row of the table runs on the same runtime.
// Uses BROOK_BENCH_KAFKA_BROKERS when set, else starts a broker (scripts/backends/kafka.mjs) on
// the JVM's default JIT and GC (not the tests' start-up flags, which would slow the broker and
// flatter the clients) and stops it at the end. Prints one table and writes
// bench-results/kafka.json. Every figure is the median of --rounds rounds; within a round the
// clients take turns in a rotating order, so none always meets a warmer broker.
//
// Workloads (100-byte values, 1,000 keys, 4 partitions):
//   produce   keyed, Kafka's murmur2 partitioner, idempotent, acks=all, batches of 1,000 sent one
//             at a time: raw KafkaJS producer.send(), raw @platformatic/kafka producer.send(),
//             Brook publisher.publishBatch() (bytes codec) over either driver; Java:
//             ProducerPerformance --key-distribution range --record-key-range 1000 (its own
//             batching and pipelining, keys "0".."999").
//   consume   a new group reads the same filled topic from the start, timed from the first record
//             to the last (steady state; start-up is reported apart). Like for like: every
//             client builds the same fields per record as Brook's Message (partition and offset
//             strings, key string, value bytes, headers object, publish time Date).
//             raw KafkaJS: consumer.run({ eachBatch }); raw @platformatic/kafka: its
//             consumer.consume() stream; Brook: subscribe() with a batchHandler (ordering "key");
//             Java: ConsumerPerformance (fetch.nMsg.sec: after the group join), which builds
//             ConsumerRecords and touches nothing.
import { spawn, execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { consumeBrookCounting, median, numberArg as arg, produceKafkajsKeyed, publishBrookKeyed, quiet, rate } from "./bench-common.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 22)) {
  const { installNode24 } = await import(path.join(ROOT, "scripts/runtimes/node24.mjs"));
  const rt = await installNode24({ log: (m) => console.error(m) });
  console.error(`kafka bench: Node ${process.versions.node} cannot load @platformatic/kafka; running on Node ${rt.version}`);
  const child = spawn(rt.node, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: "inherit" });
  const code = await new Promise((resolve) => child.on("exit", (c) => resolve(c ?? 1)));
  process.exit(code);
}

const require = createRequire(path.join(ROOT, "packages", "adapter-kafka", "package.json"));
const kafkajs = require("kafkajs");
const plt = await import(require.resolve("@platformatic/kafka"));
const { connectKafka, javaCompatiblePartitioner } = await import(path.join(ROOT, "packages/adapter-kafka/dist/index.js"));
const { startKafka, fetchKafkaTools } = await import(path.join(ROOT, "scripts/backends/kafka.mjs"));

const args = process.argv.slice(2);
const MESSAGES = arg("messages", 100_000);
// --only kafkajs,platformatic: just the clients whose name contains one of these (Java: "java")
const ONLY = (() => {
  const i = args.indexOf("--only");
  return i >= 0 ? args[i + 1].toLowerCase().split(",") : undefined;
})();
const ROUNDS = arg("rounds", 3);
const PARTITIONS = 4;
const KEYS = 1_000;
const BATCH = 1_000;
const VALUE = Buffer.alloc(100, 0x61);
const log = (m) => console.error(m);

let kafka;
let brokers = process.env.BROOK_BENCH_KAFKA_BROKERS;
if (!brokers) {
  kafka = await startKafka({ log, jvmDefaults: true, heap: "1g" });
  brokers = kafka.brokers;
}
const toolsDir = await fetchKafkaTools({ log });
const loadBefore = os.loadavg()[0];

const client = new kafkajs.Kafka({ clientId: "bench-raw", brokers: [brokers], logLevel: kafkajs.logLevel.NOTHING });
const brookKafkajs = await connectKafka(`kafka://${brokers}?clientId=bench&driver=kafkajs`, { logger: quiet });
const brookPlatformatic = await connectKafka(`kafka://${brokers}?clientId=bench&driver=platformatic`, { logger: quiet });
let topicSeq = 0;
let groupSeq = 0;
const newTopic = async (prefix) => {
  const topic = `bench-${prefix}-${Date.now().toString(36)}-${topicSeq++}`;
  await brookKafkajs.admin.createTopic(topic, { partitions: PARTITIONS });
  return topic;
};
// Keys "0".."999" round-robin: the same keys the Java tool's --key-distribution range sends.
const keyOf = (i) => String(i % KEYS);
const startup = {};

/** The fields of Brook's Message, built per record by every raw consumer (like for like). */
function build(partition, offset, key, value, headers, timestamp) {
  return { partition, offset, key, data: value, headers, publishTime: new Date(Number(timestamp)) };
}

// ---- producers ----

async function produceKafkajs(topic, n) {
  const choose = javaCompatiblePartitioner();
  const producer = client.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: () => ({ partitionMetadata, message }) => choose(message.key ?? null, partitionMetadata.length),
  });
  return produceKafkajsKeyed(producer, topic, n, { batch: BATCH, keyOf, value: VALUE });
}

async function producePlatformatic(topic, n) {
  const choose = javaCompatiblePartitioner();
  const producer = new plt.Producer({ clientId: "bench-raw", bootstrapBrokers: [brokers], idempotent: true, acks: plt.ProduceAcks.ALL });
  const count = (await producer.metadata({ topics: [topic] })).topics.get(topic).partitionsCount;
  const started = performance.now();
  for (let i = 0; i < n; i += BATCH) {
    const messages = [];
    for (let j = i; j < Math.min(n, i + BATCH); j++) {
      const key = Buffer.from(keyOf(j));
      messages.push({ topic, key, value: VALUE, partition: choose(key, count) });
    }
    await producer.send({ messages });
  }
  const ms = performance.now() - started;
  await producer.close();
  return ms;
}

function produceBrook(broker) {
  return (topic, n) => publishBrookKeyed(broker, topic, n, { batch: BATCH, keyOf, value: VALUE });
}

function runJava(cls, argv) {
  return new Promise((resolve, reject) => {
    execFile("java", ["-cp", `${toolsDir}${path.sep}*`, "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", cls, ...argv], { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cls} failed: ${err.message}\n${stderr}`));
      else resolve(String(stdout));
    });
  });
}

/** ms for n records by the Java producer's own figure (records/sec, after its JVM start). */
async function produceJava(topic, n) {
  const out = await runJava("org.apache.kafka.tools.ProducerPerformance", [
    // As many warm-up records again first (JIT), reported apart: the steady-state figure is used.
    "--topic", topic, "--num-records", String(2 * n), "--warmup-records", String(n), "--record-size", String(VALUE.byteLength), "--throughput", "-1",
    "--key-distribution", "range", "--record-key-range", String(KEYS),
    "--producer-props", `bootstrap.servers=${brokers}`, "acks=all", "enable.idempotence=true",
  ]);
  if (process.env.BROOK_BENCH_DEBUG) console.error(out);
  const lines = out.trim().split("\n").filter((l) => /records\/sec/.test(l));
  const m = /([\d.]+) records\/sec/.exec(lines.at(-1) ?? "");
  if (m === null) throw new Error(`ProducerPerformance: no result in\n${out}`);
  return (n / Number(m[1])) * 1000;
}

// ---- consumers ----

async function consumeKafkajs(topic, n) {
  const consumer = client.consumer({ groupId: `raw-kafkajs-${topic}-${groupSeq++}`, heartbeatInterval: 500, maxWaitTimeInMs: 200 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let count = 0;
  let first = 0;
  let done;
  const finished = new Promise((r) => (done = r));
  const started = performance.now();
  const sink = [];
  await consumer.run({
    eachBatch: async ({ batch }) => {
      if (count === 0) first = performance.now();
      const partition = String(batch.partition);
      for (const m of batch.messages) {
        sink.push(build(partition, m.offset, m.key?.toString("utf8"), m.value, m.headers ?? {}, m.timestamp));
        if (++count === n) done(performance.now());
      }
      sink.length = 0;
    },
  });
  const ended = await finished;
  await consumer.disconnect();
  (startup["raw KafkaJS"] ??= []).push(first - started);
  return ended - first;
}

async function consumePlatformatic(topic, n) {
  const consumer = new plt.Consumer({ clientId: "bench-raw", bootstrapBrokers: [brokers], groupId: `raw-plt-${topic}-${groupSeq++}`, heartbeatInterval: 500, maxWaitTime: 200 });
  let count = 0;
  let first = 0;
  let done;
  const finished = new Promise((r) => (done = r));
  const started = performance.now();
  const stream = await consumer.consume({ topics: [topic], mode: plt.MessagesStreamModes.EARLIEST, autocommit: true });
  let built;
  stream.on("data", (m) => {
    if (count === 0) first = performance.now();
    let headers = {};
    if (m.headers.size > 0) for (const [k, v] of m.headers) headers[k.toString()] = v.toString();
    built = build(String(m.partition), String(m.offset), m.key?.toString("utf8"), m.value, headers, m.timestamp);
    if (++count === n) done(performance.now());
  });
  const ended = await finished;
  void built;
  await stream.close();
  await consumer.close(true);
  (startup["raw @platformatic/kafka"] ??= []).push(first - started);
  return ended - first;
}

function consumeBrook(broker, name) {
  return async (topic, n) => {
    const { ms, startupMs } = await consumeBrookCounting(broker, topic, n, { group: `brook-${topic}-${groupSeq++}`, ordering: "key" });
    (startup[name] ??= []).push(startupMs);
    return ms;
  };
}

async function consumeJava(topic, n) {
  const out = await runJava("org.apache.kafka.tools.ConsumerPerformance", [
    "--bootstrap-server", brokers, "--topic", topic, "--messages", String(n), "--group", `java-${topic}-${groupSeq++}`, "--timeout", "60000",
  ]);
  // start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
  const line = out.trim().split("\n").pop() ?? "";
  const cols = line.split(",").map((c) => c.trim());
  const fetchRate = Number(cols[9]);
  if (!Number.isFinite(fetchRate) || fetchRate <= 0) throw new Error(`ConsumerPerformance: no result in\n${out}`);
  return (n / fetchRate) * 1000;
}

// ---- the run ----

const ALL_CLIENTS = [
  { name: "Kafka Java tools (ceiling)", produce: produceJava, consume: consumeJava },
  { name: "raw KafkaJS", produce: produceKafkajs, consume: consumeKafkajs },
  { name: "Brook, driver kafkajs", produce: produceBrook(brookKafkajs), consume: consumeBrook(brookKafkajs, "Brook, driver kafkajs"), raw: "raw KafkaJS" },
  { name: "raw @platformatic/kafka", produce: producePlatformatic, consume: consumePlatformatic },
  { name: "Brook, driver platformatic", produce: produceBrook(brookPlatformatic), consume: consumeBrook(brookPlatformatic, "Brook, driver platformatic"), raw: "raw @platformatic/kafka" },
];
const CLIENTS = ONLY === undefined ? ALL_CLIENTS : ALL_CLIENTS.filter((c) => ONLY.some((o) => c.name.toLowerCase().includes(o)));

const times = new Map(CLIENTS.map((c) => [c.name, { produce: [], consume: [] }]));
try {
  log(`kafka bench on ${brokers} (Node ${process.versions.node}): ${MESSAGES} x ${VALUE.byteLength}-byte messages, ${KEYS} keys, ${PARTITIONS} partitions, ${ROUNDS} rounds`);
  // Warm-up: group coordinator, producer ids, JIT of every client.
  const warm = await newTopic("warm");
  for (const c of CLIENTS) if (!c.name.startsWith("Kafka Java")) await c.produce(warm, 10_000);
  for (const c of CLIENTS) if (!c.name.startsWith("Kafka Java")) await c.consume(warm, 20_000);
  for (const k of Object.keys(startup)) delete startup[k];

  const filled = await newTopic("filled");
  await produceKafkajs(filled, MESSAGES);
  for (let round = 0; round < ROUNDS; round++) {
    const order = CLIENTS.map((_, i) => CLIENTS[(i + round) % CLIENTS.length]);
    for (const c of order) times.get(c.name).produce.push(await c.produce(await newTopic("p"), MESSAGES));
    for (const c of order) times.get(c.name).consume.push(await c.consume(filled, MESSAGES));
    log(`  round ${round + 1}: ${order.map((c) => `${c.name} ${rate(MESSAGES, times.get(c.name).produce.at(-1))}/${rate(MESSAGES, times.get(c.name).consume.at(-1))}`).join("; ")}`);
  }
} finally {
  await brookKafkajs.close().catch(() => undefined);
  await brookPlatformatic.close().catch(() => undefined);
  await kafka?.stop();
}

const loadAfter = os.loadavg()[0];
const rows = CLIENTS.map((c) => {
  const t = times.get(c.name);
  return {
    client: c.name,
    produceMsgPerSec: rate(MESSAGES, median(t.produce)),
    consumeMsgPerSec: rate(MESSAGES, median(t.consume)),
    produceRoundsMsgPerSec: t.produce.map((ms) => rate(MESSAGES, ms)),
    consumeRoundsMsgPerSec: t.consume.map((ms) => rate(MESSAGES, ms)),
    raw: c.raw,
    startupMs: startup[c.name] ? Math.round(median(startup[c.name])) : undefined,
  };
});
const byName = new Map(rows.map((r) => [r.client, r]));
const java = byName.get("Kafka Java tools (ceiling)");
const pct = (a, b) => `${((a / b) * 100).toFixed(0)}%`;
const fmt = (n) => n.toLocaleString("en");
console.log("");
console.log(`Kafka ${MESSAGES.toLocaleString("en")} x ${VALUE.byteLength} B, ${KEYS} keys, ${PARTITIONS} partitions, median of ${ROUNDS} rounds, Node ${process.versions.node}, ${os.cpus().length} cores, load ${loadBefore.toFixed(1)} -> ${loadAfter.toFixed(1)}`);
console.log("");
console.log("| client | produce msg/s | batch consume msg/s | vs its raw driver (produce / consume) | vs Java (produce / consume) | consume start-up ms |");
console.log("|---|---:|---:|---:|---:|---:|");
for (const r of rows) {
  const raw = r.raw === undefined ? undefined : byName.get(r.raw);
  const vsRaw = raw === undefined ? "" : `${pct(r.produceMsgPerSec, raw.produceMsgPerSec)} / ${pct(r.consumeMsgPerSec, raw.consumeMsgPerSec)}`;
  const vsJava = r === java || java === undefined ? "" : `${pct(r.produceMsgPerSec, java.produceMsgPerSec)} / ${pct(r.consumeMsgPerSec, java.consumeMsgPerSec)}`;
  console.log(`| ${r.client} | ${fmt(r.produceMsgPerSec)} | ${fmt(r.consumeMsgPerSec)} | ${vsRaw} | ${vsJava} | ${r.startupMs ?? ""} |`);
}
mkdirSync(path.join(ROOT, "bench-results"), { recursive: true });
const out = {
  backend: "kafka",
  date: new Date().toISOString(),
  node: process.version,
  cpus: os.cpus().length,
  loadAverage1m: { before: loadBefore, after: loadAfter },
  broker: kafka ? "started by the bench, JVM default JIT and GC" : "BROOK_BENCH_KAFKA_BROKERS",
  messageBytes: VALUE.byteLength,
  partitions: PARTITIONS,
  keys: KEYS,
  rounds: ROUNDS,
  consumeTiming: "from the first record handled to the last (steady state); Java: fetch.nMsg.sec",
  results: rows,
};
writeFileSync(path.join(ROOT, "bench-results", "kafka.json"), `${JSON.stringify(out, null, 2)}\n`);
console.log(`\nwrote bench-results/kafka.json`);
