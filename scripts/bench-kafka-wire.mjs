// `brook serve --kafka-port` vs the real Kafka broker, through the same raw KafkaJS client, in one run.
//
//   npx tsc -b && node scripts/bench-kafka-wire.mjs [--messages 100000] [--rounds 3] [--starts 5]
//
// Starts both brokers itself: `brook serve --kafka-port` (in-memory store; scripts/backends/
// kafka-wire.mjs) and a real single-node Kafka (scripts/backends/kafka.mjs) with the JVM's default
// JIT and GC (not the quick-start flags the tests use). Prints a table and writes
// bench-results/kafka-wire.json. Rounds alternate which broker goes first; the median round is
// reported. Both brokers stay up for the whole run, so each meets the same machine load. On a
// shared machine the load moves between rounds, so the ratio row is the median of the per-round
// ratios (each round runs both brokers back to back), not the ratio of the two medians.
//
// Workloads (100-byte values, 1,000 keys, 4 partitions), identical on both brokers:
//   produce   producer.send() of 1,000-record batches, one at a time, idempotent, acks=all
//   consume   consumer.run({ eachBatch }) counting records, autoCommit on (KafkaJS default),
//             timed from the first record to the last (steady state)
// Start-up: from the broker process's spawn to its first answered Metadata request. `brook serve`
// is started --starts times (median reported); Kafka once (its storage format step is not counted).
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { median, numberArg as arg, produceKafkajsKeyed, rate } from "./bench-common.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(path.join(ROOT, "packages", "adapter-kafka", "package.json"));
const kafkajs = require("kafkajs");
const { startKafka } = await import(path.join(ROOT, "scripts/backends/kafka.mjs"));
const { startKafkaWireServe } = await import(path.join(ROOT, "scripts/backends/kafka-wire.mjs"));

const MESSAGES = arg("messages", 100_000);
const ROUNDS = arg("rounds", 5);
const STARTS = arg("starts", 5);
const PARTITIONS = 4;
const KEYS = 1_000;
const BATCH = 1_000;
const VALUE = Buffer.alloc(100, 0x61);
const log = (m) => console.error(m);

/**
 * CPU time (user + system, all threads) a process has used, from /proc (Linux; undefined
 * elsewhere). On a loaded machine the wall-clock start-up mostly measures waiting for a core;
 * the CPU time is what the start-up itself costs.
 */
function cpuMsOf(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return Math.round(((Number(fields[11]) + Number(fields[12])) * 1000) / 100); // USER_HZ = 100
  } catch {
    return undefined;
  }
}

const keyOf = (i) => `key-${i % KEYS}`;

// Start-up of `brook serve --kafka-port`: several cold starts, each stopped before the next.
const wireStarts = [];
const wireStartsCpu = [];
for (let i = 0; i < STARTS; i++) {
  const w = await startKafkaWireServe({});
  wireStarts.push(w.readyMs);
  wireStartsCpu.push(cpuMsOf(w.pid));
  await w.stop();
}
log(`brook serve --kafka-port start-up: ${wireStarts.map((ms) => ms.toFixed(0)).join(", ")} ms (CPU ${wireStartsCpu.join(", ")} ms)`);

const targets = [];
let kafka;
let wire;
try {
  wire = await startKafkaWireServe({ log });
  kafka = await startKafka({ log, jvmDefaults: true, heap: "1g", pollMs: 25 });
  const kafkaCpu = cpuMsOf(kafka.pid);
  targets.push({ name: "brook serve --kafka-port", brokers: wire.brokers, startupMs: Math.round(median(wireStarts)), startupCpuMs: wireStartsCpu.includes(undefined) ? undefined : median(wireStartsCpu) });
  targets.push({ name: "Apache Kafka (JVM defaults)", brokers: kafka.brokers, startupMs: Math.round(kafka.readyMs), startupCpuMs: kafkaCpu });
  for (const t of targets) {
    t.client = new kafkajs.Kafka({ clientId: "bench-wire", brokers: [t.brokers], logLevel: kafkajs.logLevel.NOTHING });
    t.admin = t.client.admin();
    await t.admin.connect();
    t.topics = 0;
    t.groups = 0;
    t.newTopic = async (prefix) => {
      const topic = `bench-${prefix}-${Date.now().toString(36)}-${t.topics++}`;
      await t.admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }], waitForLeaders: true });
      return topic;
    };
  }

  function produce(t, topic, n) {
    return produceKafkajsKeyed(t.client.producer({ idempotent: true, maxInFlightRequests: 1 }), topic, n, { batch: BATCH, keyOf, value: VALUE });
  }

  async function consume(t, topic, n) {
    const consumer = t.client.consumer({ groupId: `g-${topic}-${t.groups++}`, heartbeatInterval: 500, maxWaitTimeInMs: 200 });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    let count = 0;
    let first = 0;
    let done;
    const finished = new Promise((r) => (done = r));
    await consumer.run({
      eachBatch: async ({ batch }) => {
        if (count === 0) first = performance.now();
        for (const m of batch.messages) if (m.value !== null && ++count === n) done(performance.now());
      },
    });
    const ended = await finished;
    await consumer.disconnect();
    return ended - first;
  }

  console.error(`kafka-wire bench: ${MESSAGES} x 100-byte messages, ${PARTITIONS} partitions, ${ROUNDS} rounds`);
  for (const t of targets) {
    // Warm-up: group coordinator, producer ids, JIT (both the broker's and the client's).
    const warm = await t.newTopic("warm");
    await produce(t, warm, 20_000);
    await consume(t, warm, 20_000);
    t.filled = await t.newTopic("filled");
    await produce(t, t.filled, MESSAGES);
    t.produceMs = [];
    t.consumeMs = [];
  }
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? targets : [...targets].reverse();
    for (const t of order) t.produceMs.push(await produce(t, await t.newTopic("p"), MESSAGES));
    for (const t of order) t.consumeMs.push(await consume(t, t.filled, MESSAGES));
    console.error(`  round ${round + 1}: ${targets.map((t) => `${t.name} produce ${rate(MESSAGES, t.produceMs.at(-1))}/s consume ${rate(MESSAGES, t.consumeMs.at(-1))}/s`).join("; ")}`);
  }
} finally {
  for (const t of targets) await t.admin?.disconnect().catch(() => undefined);
  await wire?.stop();
  await kafka?.stop();
}

const results = targets.map((t) => ({
  broker: t.name,
  produceMsgPerSec: rate(MESSAGES, median(t.produceMs)),
  consumeMsgPerSec: rate(MESSAGES, median(t.consumeMs)),
  startupMs: t.startupMs,
  startupCpuMs: t.startupCpuMs,
  produceRoundsMs: t.produceMs.map(Math.round),
  consumeRoundsMs: t.consumeMs.map(Math.round),
}));
const [wireR, kafkaR] = results;
console.log("");
console.log("| broker | kafkajs produce msg/s | kafkajs consume msg/s | start-up (spawn → Metadata) | start-up CPU |");
console.log("|---|---:|---:|---:|---:|");
for (const r of results) {
  console.log(`| ${r.broker} | ${r.produceMsgPerSec.toLocaleString("en")} | ${r.consumeMsgPerSec.toLocaleString("en")} | ${r.startupMs.toLocaleString("en")} ms | ${r.startupCpuMs === undefined ? "-" : `${r.startupCpuMs.toLocaleString("en")} ms`} |`);
}
const ratio = (a, b) => Number((a / b).toFixed(3));
// per round: Kafka's time / kafka-wire's time = kafka-wire's rate / Kafka's rate
const [wireT, kafkaT] = targets;
const roundRatios = {
  produce: wireT.produceMs.map((ms, i) => ratio(kafkaT.produceMs[i], ms)),
  consume: wireT.consumeMs.map((ms, i) => ratio(kafkaT.consumeMs[i], ms)),
};
const pct = (x) => `${(x * 100).toFixed(1)}%`;
console.log(`| kafka-wire / Kafka (median of per-round ratios) | ${pct(median(roundRatios.produce))} | ${pct(median(roundRatios.consume))} | ${pct(ratio(wireR.startupMs, kafkaR.startupMs))} | ${wireR.startupCpuMs === undefined || kafkaR.startupCpuMs === undefined ? "-" : pct(ratio(wireR.startupCpuMs, kafkaR.startupCpuMs))} |`);
mkdirSync(path.join(ROOT, "bench-results"), { recursive: true });
const out = {
  backend: "kafka-wire",
  date: new Date().toISOString(),
  node: process.version,
  cpus: os.cpus().length,
  loadAverage: os.loadavg().map((x) => Number(x.toFixed(2))),
  messageBytes: VALUE.byteLength,
  partitions: PARTITIONS,
  keys: KEYS,
  rounds: ROUNDS,
  client: "kafkajs 2.2.4, idempotent producer, acks=all, 1,000-record sends; consumer eachBatch",
  kafkaJvm: "JVM default JIT and GC, -Xmx1g",
  startup: "process spawn to the first answered Metadata request",
  brookServeStartsMs: wireStarts.map(Math.round),
  brookServeStartsCpuMs: wireStartsCpu,
  results,
  roundRatios,
  wireVsKafka: {
    produce: median(roundRatios.produce),
    consume: median(roundRatios.consume),
    startup: ratio(wireR.startupMs, kafkaR.startupMs),
  },
};
writeFileSync(path.join(ROOT, "bench-results", "kafka-wire.json"), `${JSON.stringify(out, null, 2)}\n`);
console.log(`\nwrote bench-results/kafka-wire.json`);
