// Event Hubs through Brook vs the raw @azure/event-hubs SDK, on the project's AMQP test server
// (test/servers/eventhubs-amqp) with Azurite for checkpoints, in one run.
//
//   npx tsc -b && node scripts/bench-eventhubs.mjs [--messages 20000] [--rounds 3]
//
// Uses BROOK_TEST_EVENTHUBS_CONNECTION_STRING / _CONTROL_URL / _BLOB when set, else starts the
// test server and Azurite (scripts/backends/eventhubs.mjs) and stops them at the end. Prints a
// table and writes bench-results/eventhubs.json. Rounds alternate raw and Brook; the median
// round is reported. The server is ours (in-process JavaScript, no disk), so the numbers compare
// the client sides; they say nothing of the real service's throughput.
//
// Workloads (100-byte values, 1,000 keys, 4 partitions):
// Before the clock starts each side has the hub's connection open (raw: getPartitionIds; Brook:
// admin.describeTopic on the broker's client for the hub); sender links attach while timed.
//   produce   raw: chunks of 1,000 events split by partition (the same murmur2 partitioner
//             Brook uses), one EventDataBatch per partition filled with tryAdd, sendBatch,
//             partitions in parallel
//             brook: publisher.publishBatch() of the same chunks (bytes codec); Brook also reads
//             each partition's last sequence number after each batch (positions)
//   produce, publishPositions=none: the same raw side; Brook without the position reads
//   consume   raw: EventHubConsumerClient.subscribe() with the blob checkpoint store, counting,
//             updateCheckpoint with each batch's last event
//             brook: subscribe() with a batchHandler counting (keyed executor, watermark checkpoints)
//   consume, Brook per-message handler: the same raw side; Brook with a per-message handler
// Consumers are timed from the first event handled to the last; startup is reported apart.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { consumeBrookCounting, median, numberArg as arg, publishBrookKeyed, quiet, rate } from "./bench-common.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(path.join(ROOT, "packages", "adapter-eventhubs", "package.json"));
const { EventHubProducerClient, EventHubConsumerClient, earliestEventPosition } = require("@azure/event-hubs");
const { BlobCheckpointStore } = require("@azure/eventhubs-checkpointstore-blob");
const { ContainerClient } = require("@azure/storage-blob");
const { connectEventHubs } = await import(path.join(ROOT, "packages/adapter-eventhubs/dist/index.js"));
const { partitionForKey } = await import(path.join(ROOT, "packages/core/dist/spi.js"));
const { startEventHubs } = await import(path.join(ROOT, "scripts/backends/eventhubs.mjs"));

const MESSAGES = arg("messages", 20_000);
const ROUNDS = arg("rounds", 3);
const PARTITIONS = 4;
const KEYS = 1_000;
const BATCH = 1_000;
const VALUE = Buffer.alloc(100, 0x61);

let backend;
let eh = {
  connectionString: process.env.BROOK_TEST_EVENTHUBS_CONNECTION_STRING,
  controlUrl: process.env.BROOK_TEST_EVENTHUBS_CONTROL_URL,
  blobConnectionString: process.env.BROOK_TEST_EVENTHUBS_BLOB,
};
if (!eh.connectionString) {
  backend = await startEventHubs({ log: (m) => console.error(m) });
  eh = backend;
}
const container = `bench-${Date.now().toString(36)}`;
const containerClient = new ContainerClient(eh.blobConnectionString, container);
await containerClient.createIfNotExists();
const rawStore = new BlobCheckpointStore(containerClient);
const url =
  `eventhubs://?connectionString=${encodeURIComponent(eh.connectionString)}&checkpointStore=blob` +
  `&blobConnectionString=${encodeURIComponent(eh.blobConnectionString)}&container=${container}&updateIntervalMs=500&ownershipExpirationMs=5000&maxWaitTimeMs=500`;
const brook = await connectEventHubs(url, { logger: quiet });
// The same without publish positions (publishPositions=none: no partition reads around batches).
const brookNoPositions = await connectEventHubs(`${url}&publishPositions=none`, { logger: quiet });
let hubSeq = 0;
let groupSeq = 0;
const newHub = async (prefix) => {
  const name = `bench-${prefix}-${Date.now().toString(36)}-${hubSeq++}`;
  const res = await fetch(`${eh.controlUrl}/hubs`, { method: "POST", body: JSON.stringify({ name, partitions: PARTITIONS }) });
  if (res.status !== 201) throw new Error(`create hub ${name}: HTTP ${res.status}`);
  return name;
};
const keyOf = (i) => `key-${i % KEYS}`;

async function produceRaw(hub, n) {
  const producer = new EventHubProducerClient(eh.connectionString, hub);
  const ids = await producer.getPartitionIds();
  const started = performance.now();
  for (let i = 0; i < n; i += BATCH) {
    const byPartition = new Map();
    for (let j = i; j < Math.min(n, i + BATCH); j++) {
      const key = keyOf(j);
      const p = ids[partitionForKey(Buffer.from(key), ids.length)];
      if (!byPartition.has(p)) byPartition.set(p, []);
      byPartition.get(p).push({ body: VALUE, bodyType: "data", messageAnnotations: { "x-opt-partition-key": key } });
    }
    await Promise.all(
      [...byPartition].map(async ([partitionId, events]) => {
        let batch = await producer.createBatch({ partitionId });
        for (const e of events) {
          if (batch.tryAdd(e)) continue;
          await producer.sendBatch(batch);
          batch = await producer.createBatch({ partitionId });
          if (!batch.tryAdd(e)) throw new Error("event too large");
        }
        if (batch.count > 0) await producer.sendBatch(batch);
      }),
    );
  }
  const ms = performance.now() - started;
  await producer.close();
  return ms;
}

async function produceBrook(hub, n, broker = brook) {
  // As on the raw side: the hub's connection is open (a management read) before the clock
  // starts; the sender links attach in the timed part on both sides.
  await broker.admin.describeTopic(hub);
  return publishBrookKeyed(broker, hub, n, { batch: BATCH, keyOf, value: VALUE });
}

async function consumeRaw(hub, n) {
  const consumer = new EventHubConsumerClient(`raw-${groupSeq++}`, eh.connectionString, hub, rawStore, {
    loadBalancingOptions: { strategy: "greedy", updateIntervalInMs: 500, partitionOwnershipExpirationIntervalInMs: 5000 },
  });
  let count = 0;
  let first = 0;
  let done;
  const finished = new Promise((r) => (done = r));
  const started = performance.now();
  const sub = consumer.subscribe(
    {
      processEvents: async (events, ctx) => {
        if (events.length === 0) return;
        if (count === 0) first = performance.now();
        count += events.length;
        await ctx.updateCheckpoint(events[events.length - 1]);
        if (count >= n) done(performance.now());
      },
      processError: async (err) => console.error(`raw consumer: ${err.message}`),
    },
    { startPosition: earliestEventPosition, maxBatchSize: 300, maxWaitTimeInSeconds: 0.5, skipParsingBodyAsJson: true },
  );
  const ended = await finished;
  await sub.close();
  await consumer.close();
  startup.raw.push(first - started);
  return ended - first;
}

async function consumeBrook(hub, n, { batch = false } = {}) {
  const options = { group: `brook-${groupSeq++}`, ordering: "key", ...(batch ? {} : { maxInFlight: 256 }) };
  const { ms, startupMs } = await consumeBrookCounting(brook, hub, n, options, { perMessage: !batch });
  startup.brook.push(startupMs);
  return ms;
}

const startup = { raw: [], brook: [] };

async function measure(name, n, raw, viaBrook) {
  const rawMs = [];
  const brookMs = [];
  for (let round = 0; round < ROUNDS; round++) {
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
  console.error(`eventhubs bench: ${MESSAGES} x 100-byte events, ${PARTITIONS} partitions, ${ROUNDS} rounds`);
  const warm = await newHub("warm");
  await produceRaw(warm, 2_000);
  await produceBrook(warm, 2_000);
  await consumeRaw(warm, 4_000);
  await consumeBrook(warm, 4_000, { batch: true });
  startup.raw.length = 0;
  startup.brook.length = 0;
  results.push(await measure("produce", MESSAGES, async () => produceRaw(await newHub("p-raw"), MESSAGES), async () => produceBrook(await newHub("p-brook"), MESSAGES)));
  results.push(
    await measure("produce, publishPositions=none", MESSAGES, async () => produceRaw(await newHub("p-raw"), MESSAGES), async () => produceBrook(await newHub("p-brook"), MESSAGES, brookNoPositions)),
  );
  const filled = await newHub("filled");
  await produceRaw(filled, MESSAGES);
  results.push(await measure("consume", MESSAGES, () => consumeRaw(filled, MESSAGES), () => consumeBrook(filled, MESSAGES, { batch: true })));
  results.push(await measure("consume, Brook per-message handler", MESSAGES, () => consumeRaw(filled, MESSAGES), () => consumeBrook(filled, MESSAGES)));
  startupMs = { rawMedian: Math.round(median(startup.raw)), brookMedian: Math.round(median(startup.brook)) };
} finally {
  await brook.close().catch(() => undefined);
  await brookNoPositions.close().catch(() => undefined);
  await backend?.stop();
}

const labels = {
  produce: "raw EventDataBatch per partition + sendBatch",
  "produce, publishPositions=none": "raw EventDataBatch per partition + sendBatch",
  consume: "raw subscribe(), checkpoint per batch",
  "consume, Brook per-message handler": "raw subscribe(), checkpoint per batch",
};
console.log("");
console.log("| workload | baseline | baseline msg/s | Brook msg/s | Brook / baseline |");
console.log("|---|---|---:|---:|---:|");
for (const r of results) {
  console.log(`| ${r.workload} | ${labels[r.workload]} | ${r.rawMsgPerSec.toLocaleString("en")} | ${r.brookMsgPerSec.toLocaleString("en")} | ${(r.brookVsRaw * 100).toFixed(1)}% |`);
}
if (startupMs) console.log(`\nconsume startup (subscribe to first event), median: raw ${startupMs.rawMedian} ms, Brook ${startupMs.brookMedian} ms`);
mkdirSync(path.join(ROOT, "bench-results"), { recursive: true });
const out = {
  backend: "eventhubs (project test server + Azurite)",
  date: new Date().toISOString(),
  node: process.version,
  cpus: (await import("node:os")).cpus().length,
  messageBytes: VALUE.byteLength,
  partitions: PARTITIONS,
  keys: KEYS,
  rounds: ROUNDS,
  consumeTiming: "from the first event handled to the last (steady state); startup measured apart",
  consumeStartupMs: startupMs,
  results,
};
writeFileSync(path.join(ROOT, "bench-results", "eventhubs.json"), `${JSON.stringify(out, null, 2)}\n`);
console.log(`\nwrote bench-results/eventhubs.json`);
