// Pub/Sub throughput: raw @google-cloud/pubsub against the same work through Brook, in the same
// run, on the same emulator, with 100-byte messages. Prints a table and writes
// bench-results/pubsub.json. Not a test: nothing here asserts.
//
//   npx tsc -b && node scripts/bench-pubsub.mjs
//   BROOK_BENCH_PUBSUB_HOST=127.0.0.1:8085 node scripts/bench-pubsub.mjs   # an emulator you run
//   env: BENCH_PUBLISH=100000 BENCH_RECEIVE=20000 BENCH_ROUNDS=5
//
// Each case runs BENCH_ROUNDS times; within a round raw and Brook run back to back, in an order
// that alternates between rounds. On a shared machine whole rounds speed up and slow down
// together, so the comparison is the median of the per-round ratios Brook / raw; the table also
// shows median throughput and this process's CPU time per message (less sensitive to load).
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { startPubSubEmulator } from "./backends/pubsub.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const requireFromAdapter = createRequire(join(root, "packages/adapter-pubsub/package.json"));
const { PubSub } = requireFromAdapter("@google-cloud/pubsub");
const core = await import(pathToFileURL(join(root, "packages/core/dist/index.js")).href);
await import(pathToFileURL(join(root, "packages/adapter-pubsub/dist/index.js")).href);

const PUBLISH = Number(process.env.BENCH_PUBLISH ?? 100_000);
const RECEIVE = Number(process.env.BENCH_RECEIVE ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SIZE = 100;
const PROJECT = "brook-bench";
const payload = Buffer.alloc(SIZE, 0x61);

const log = (m) => console.error(`[bench-pubsub] ${m}`);
let emulator;
let host = process.env.BROOK_BENCH_PUBSUB_HOST ?? process.env.BROOK_TEST_PUBSUB_HOST;
if (!host) {
  emulator = await startPubSubEmulator({ log, javaOpts: "-Xmx512m" });
  host = emulator.host;
}

const raw = new PubSub({ projectId: PROJECT, apiEndpoint: host, emulatorMode: true, universeDomain: "googleapis.com" });
const broker = await core.connect(`pubsub://${PROJECT}?emulatorHost=${host}`, { logger: core.silentLogger });
let topicSeq = 0;
const topicName = (what) => `bench-${what}-${Date.now().toString(36)}-${topicSeq++}`;

/** Raw publish: publishMessage per message with the client's batching, as its docs advise. */
async function rawPublish(n) {
  const [topic] = await raw.createTopic(topicName("rawpub"));
  const publisher = raw.topic(topic.name, { batching: { maxMessages: 1000, maxMilliseconds: 20 } });
  const start = performance.now();
  const pending = new Array(n);
  for (let i = 0; i < n; i++) pending[i] = publisher.publishMessage({ data: payload });
  await Promise.all(pending);
  const ms = performance.now() - start;
  await publisher.flush();
  await topic.delete();
  return ms;
}

/** Brook publish(): one promise per message, as an application would write it. */
async function brookPublish(n) {
  const name = topicName("brookpub");
  await broker.admin.createTopic(name);
  const pub = broker.publisher(name, { codec: "bytes" });
  const start = performance.now();
  const pending = new Array(n);
  for (let i = 0; i < n; i++) pending[i] = pub.publish({ data: payload });
  await Promise.all(pending);
  const ms = performance.now() - start;
  await pub.close();
  await broker.admin.deleteTopic(name);
  return ms;
}

/** Brook publishBatch(): the batch path, 1,000 messages a call. */
async function brookPublishBatch(n) {
  const name = topicName("brookbatch");
  await broker.admin.createTopic(name);
  const pub = broker.publisher(name, { codec: "bytes" });
  const batch = Array.from({ length: 1000 }, () => ({ data: payload }));
  const start = performance.now();
  const pending = [];
  for (let i = 0; i < n; i += 1000) pending.push(pub.publishBatch(i + 1000 <= n ? batch : batch.slice(0, n - i)));
  const results = await Promise.all(pending);
  const ms = performance.now() - start;
  if (!results.every((rs) => rs.every((r) => r.ok))) throw new Error("a Brook publishBatch entry failed");
  await pub.close();
  await broker.admin.deleteTopic(name);
  return ms;
}

/**
 * Receive: one topic, a backlog of n messages on two identical subscriptions (the ones Brook
 * creates: message ordering, retained acked messages), drained by the raw client and by Brook.
 */
async function prepareBacklog(n) {
  const name = topicName("recv");
  await broker.admin.createTopic(name);
  // Brook creates its subscription "<topic>.brook"; the raw one gets the same settings.
  const warm = await broker.subscribe(name, { group: "brook", handler: () => undefined });
  await warm.close();
  await raw.topic(name).createSubscription(`${name}.raw`, {
    enableMessageOrdering: true,
    retainAckedMessages: true,
    messageRetentionDuration: { seconds: 7 * 24 * 3600 },
  });
  const pub = broker.publisher(name, { codec: "bytes" });
  const batch = Array.from({ length: 1000 }, () => ({ data: payload }));
  for (let i = 0; i < n; i += 1000) await pub.publishBatch(batch);
  await pub.close();
  return name;
}

async function rawReceive(name, n) {
  const sub = raw.subscription(`${name}.raw`, { flowControl: { maxMessages: 1000, allowExcessMessages: false } });
  let count = 0;
  const start = performance.now();
  await new Promise((resolve, reject) => {
    sub.on("error", reject);
    sub.on("message", (m) => {
      m.ack();
      if (++count === n) resolve();
    });
  });
  const ms = performance.now() - start;
  await sub.close();
  return ms;
}

async function brookReceive(name, n, options) {
  let count = 0;
  let done;
  const finished = new Promise((resolve) => (done = resolve));
  const start = performance.now();
  const sub = await broker.subscribe(name, {
    group: "brook",
    codec: "bytes",
    ...options,
    handler: () => {
      if (++count === n) done();
    },
  });
  await finished;
  const ms = performance.now() - start;
  await sub.close();
  return ms;
}

const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** Runs one case: throughput (msg/s) and this process's CPU time per message (µs). */
async function measure(n, run) {
  const cpu = process.cpuUsage();
  const ms = await run();
  const used = process.cpuUsage(cpu);
  return { rate: Math.round((n / ms) * 1000), cpuUsPerMsg: Number(((used.user + used.system) / n).toFixed(2)) };
}

const runs = { rawPublish: [], brookPublish: [], brookPublishBatch: [], rawReceive: [], brookReceive: [], brookReceiveKeyOrder: [] };
try {
  // Warm-up: connections, JIT, the emulator's first topics.
  await rawPublish(5_000);
  await brookPublish(5_000);
  for (let round = 1; round <= ROUNDS; round++) {
    // Who goes first alternates, so warming up and emulator state favour neither side.
    const rawFirst = round % 2 === 1;
    log(`round ${round}/${ROUNDS}: publish ${PUBLISH} (${rawFirst ? "raw" : "Brook"} first)`);
    const publishCases = [
      async () => runs.rawPublish.push(await measure(PUBLISH, () => rawPublish(PUBLISH))),
      async () => runs.brookPublish.push(await measure(PUBLISH, () => brookPublish(PUBLISH))),
      async () => runs.brookPublishBatch.push(await measure(PUBLISH, () => brookPublishBatch(PUBLISH))),
    ];
    for (const run of rawFirst ? publishCases : [...publishCases].reverse()) await run();
    log(`round ${round}/${ROUNDS}: receive ${RECEIVE}`);
    const a = await prepareBacklog(RECEIVE);
    const b = await prepareBacklog(RECEIVE);
    const receiveCases = [
      async () => runs.rawReceive.push(await measure(RECEIVE, () => rawReceive(a, RECEIVE))),
      async () => runs.brookReceive.push(await measure(RECEIVE, () => brookReceive(a, RECEIVE, { ordering: "none", maxInFlight: 1000 }))),
      async () => runs.brookReceiveKeyOrder.push(await measure(RECEIVE, () => brookReceive(b, RECEIVE, {}))),
    ];
    for (const run of rawFirst ? receiveCases : [...receiveCases].reverse()) await run();
    await broker.admin.deleteTopic(a);
    await broker.admin.deleteTopic(b);
  }
} finally {
  await broker.close();
  await raw.close();
  await emulator?.stop();
}

const cases = [
  ["publish", "raw publishMessage (batching 1000 / 20 ms)", runs.rawPublish, undefined],
  ["publish", "Brook publish()", runs.brookPublish, runs.rawPublish],
  ["publish", "Brook publishBatch() x1000", runs.brookPublishBatch, runs.rawPublish],
  ["receive+ack", "raw streaming pull, maxMessages 1000", runs.rawReceive, undefined],
  ["receive+ack", "Brook, ordering none, maxInFlight 1000", runs.brookReceive, runs.rawReceive],
  ["receive+ack", "Brook, defaults (ordering key, maxInFlight 256)", runs.brookReceiveKeyOrder, runs.rawReceive],
];
const results = cases.map(([op, how, all, base]) => ({
  op,
  how,
  medianMsgPerSec: median(all.map((r) => r.rate)),
  medianCpuUsPerMsg: median(all.map((r) => r.cpuUsPerMsg)),
  runsMsgPerSec: all.map((r) => r.rate),
  ...(base === undefined ? {} : { ratioToRaw: Number(median(all.map((r, i) => r.rate / base[i].rate)).toFixed(3)) }),
}));
console.log(`Pub/Sub emulator, ${SIZE}-byte messages, publish ${PUBLISH} / receive ${RECEIVE} per run, ${ROUNDS} rounds, Node ${process.version}`);
console.table(
  results.map((r) => ({
    op: r.op,
    how: r.how,
    "msg/s (median)": r.medianMsgPerSec,
    "Brook/raw (median of rounds)": r.ratioToRaw === undefined ? "" : `${Math.round(r.ratioToRaw * 100)}%`,
    "CPU µs/msg": r.medianCpuUsPerMsg,
    runs: r.runsMsgPerSec.join(" / "),
  })),
);

mkdirSync(join(root, "bench-results"), { recursive: true });
writeFileSync(
  join(root, "bench-results/pubsub.json"),
  `${JSON.stringify(
    {
      backend: "pubsub-emulator",
      date: new Date().toISOString(),
      node: process.version,
      messageBytes: SIZE,
      publishMessages: PUBLISH,
      receiveMessages: RECEIVE,
      rounds: ROUNDS,
      results,
    },
    null,
    2,
  )}\n`,
);
log("wrote bench-results/pubsub.json");
