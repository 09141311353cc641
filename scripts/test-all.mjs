// The README's test command: builds once, starts every real backend the suites need once (on
// 127.0.0.1, free ports), runs the whole jest suite on each Node runtime we support — the
// machine's Node (20) and then Node 24 — against the same backends, stops the backends by pid,
// and ends with ONE plain line summing every runtime: "N passed, M failed[, K skipped]".
//
// Each runtime's run writes its own report (.tmp/jest-results-node<major>.json) and gets its own
// line "[test-all] node v24.…: X passed, …". During a run, jest, its workers and every child a
// test spawns run on that runtime: jest is started with the runtime's binary (workers inherit
// it as process.execPath), and a folder holding only a `node` symlink to it is first on PATH, so
// `npx tsc` and anything spawned as plain "node" use it too (test/runtime.test.ts checks this).
// Native modules (@swc/core, @node-rs/crc32, jest's unrs-resolver) are N-API, so one
// node_modules serves both runtimes.
//
// Node 24 comes from scripts/runtimes/node24.mjs (PyPI wheel into .cache/node24), installed here
// when missing so the command works on a fresh machine. In CI (CI=true) a backend that cannot
// start, or a runtime that cannot be installed, fails the run; locally they fail it too unless
// BROOK_SKIP_BACKENDS names the backend (e.g. "pubsub,kafka,eventhubs"; "moto" is Firehose + S3;
// "kafka-wire" is the second pass of the Kafka tests against `brook serve --kafka-port`) or BROOK_SKIP_RUNTIMES names the
// runtime (e.g. "node24"; "node20" skips the machine's own run).
// Arguments are passed to every jest run (e.g. a test path pattern).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const log = (msg) => console.log(`[test-all] ${msg}`);
const listEnv = (name) => new Set((process.env[name] ?? "").split(",").map((s) => s.trim()).filter(Boolean));
const skipped = listEnv("BROOK_SKIP_BACKENDS");
const skippedRuntimes = listEnv("BROOK_SKIP_RUNTIMES");
for (const [name, set] of [["BROOK_SKIP_BACKENDS", skipped], ["BROOK_SKIP_RUNTIMES", skippedRuntimes]]) {
  if (process.env.CI === "true" && set.size > 0) {
    console.error(`[test-all] ${name} is not allowed in CI`);
    process.exit(2);
  }
}
// One jest run takes ~70 s on 2 cores; a run still going after this is hung and is stopped.
const RUN_TIMEOUT_MS = Number(process.env.BROOK_TEST_RUN_TIMEOUT_MS ?? 20 * 60_000);
const out = join(root, ".tmp");

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", ...opts });
  return r.status ?? 1;
}

const formatCounts = ({ passed, failed, pending }) =>
  `${passed} passed, ${failed} failed${pending > 0 ? `, ${pending} skipped` : ""}`;

/** A folder holding only a `node` symlink to `binary`, to put first on PATH. */
function nodeOnlyDir(name, binary) {
  const dir = join(out, "runtimes", name);
  mkdirSync(dir, { recursive: true });
  rmSync(join(dir, "node"), { force: true });
  symlinkSync(binary, join(dir, "node"));
  return dir;
}

/** Runs the whole jest suite on one runtime; returns its counts. */
async function runJest(runtime, env, args = process.argv.slice(2)) {
  const label = runtime.label ?? `node ${runtime.version}`;
  const report = join(out, `jest-results-${runtime.name}.json`);
  rmSync(report, { force: true });
  const jestBin = createRequire(join(root, "package.json")).resolve("jest/bin/jest");
  const jestArgs = [jestBin, "--json", `--outputFile=${report}`, "--maxWorkers=2", ...args];
  const runEnv = {
    ...env,
    PATH: `${runtime.pathDir}${delimiter}${env.PATH ?? ""}`,
    BROOK_TEST_NODE_VERSION: runtime.version,
    ...runtime.env,
  };
  log(`${label}: jest ${jestArgs.slice(1).join(" ")}`);
  const started = Date.now();
  const status = await new Promise((resolve) => {
    // Own process group, so a hung run can be stopped with its workers (by this pid's group).
    const child = spawn(runtime.node, jestArgs, { cwd: root, env: runEnv, stdio: "inherit", detached: true });
    // Ctrl-C reaches only the terminal's group: pass it on, then stop the backends as usual.
    const forward = (sig) => { try { process.kill(-child.pid, sig); } catch {} };
    process.on("SIGINT", forward);
    process.on("SIGTERM", forward);
    let killTimer;
    const timer = setTimeout(() => {
      log(`${label}: jest still running after ${RUN_TIMEOUT_MS} ms, stopping pid ${child.pid}`);
      try { process.kill(-child.pid, "SIGTERM"); } catch {}
      killTimer = setTimeout(() => { try { process.kill(-child.pid, "SIGKILL"); } catch {} }, 10_000);
    }, RUN_TIMEOUT_MS);
    child.on("error", (err) => {
      log(`${label}: cannot start jest: ${err.message}`);
      process.off("SIGINT", forward);
      process.off("SIGTERM", forward);
      clearTimeout(timer);
      resolve(1);
    });
    child.on("exit", (code) => {
      process.off("SIGINT", forward);
      process.off("SIGTERM", forward);
      clearTimeout(timer);
      clearTimeout(killTimer);
      resolve(code ?? 1);
    });
  });
  const counts = { passed: 0, failed: 0, pending: 0 };
  if (existsSync(report)) {
    const results = JSON.parse(readFileSync(report, "utf8"));
    counts.passed = results.numPassedTests;
    counts.failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    counts.pending = results.numPendingTests + results.numTodoTests;
    for (const suite of results.testResults) {
      if (suite.status === "failed" && suite.assertionResults.every((a) => a.status !== "failed")) {
        log(`${label}: suite failed to run: ${suite.name}`);
      }
    }
  } else {
    counts.failed = 1;
  }
  if (status !== 0 && counts.failed === 0) counts.failed = 1;
  log(`${label}: ${formatCounts(counts)} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  return counts;
}

log("type-check and build (tsc -b), then the type-level tests (tsc -p test/types)");
if (run("npx", ["tsc", "-b"]) !== 0 || run("npx", ["tsc", "-p", "test/types"]) !== 0) {
  console.log("0 passed, 1 failed");
  process.exit(1);
}
mkdirSync(out, { recursive: true });

// The runtimes, in the order they run. A runtime that cannot be installed counts as one failure.
const total = { passed: 0, failed: 0, pending: 0 };
const runtimes = [];
const lines = []; // one per runtime, repeated together before the closing line
const machineName = `node${process.versions.node.split(".")[0]}`;
if (skippedRuntimes.has(machineName)) {
  log(`${machineName} (the machine's ${process.version}) skipped: BROOK_SKIP_RUNTIMES`);
} else {
  runtimes.push({ name: machineName, version: process.version, node: process.execPath, pathDir: nodeOnlyDir(machineName, process.execPath) });
}
if (skippedRuntimes.has("node24")) {
  log("node24 skipped: BROOK_SKIP_RUNTIMES");
} else {
  try {
    const { installNode24 } = await import("./runtimes/node24.mjs");
    const rt = await installNode24({ log });
    // The Kafka tests (test/kafka, the Kafka contract run) take their driver from
    // BROOK_TEST_KAFKA_DRIVER: KafkaJS on the machine's Node 20, @platformatic/kafka (needs
    // Node >= 22.22) on Node 24, so every Kafka test runs on both drivers without a third pass
    // (README, "Tests"). A BROOK_TEST_KAFKA_DRIVER set by the caller wins.
    const kafkaDriver = process.env.BROOK_TEST_KAFKA_DRIVER ?? "platformatic";
    runtimes.push({ name: "node24", version: rt.version, node: rt.node, pathDir: rt.pathDir, env: { BROOK_TEST_KAFKA_DRIVER: kafkaDriver }, label: `node ${rt.version} (kafka driver ${kafkaDriver})` });
  } catch (err) {
    log(`node24: cannot be installed, counted as 1 failed${process.env.CI === "true" ? "" : " (BROOK_SKIP_RUNTIMES=node24 skips it locally)"}:`);
    console.error(`[test-all] ${err instanceof Error ? err.message : err}`);
    total.failed += 1;
    lines.push("node24: not installed, 1 failed");
  }
}

const backends = [];
const env = { ...process.env, METADATA_SERVER_DETECTION: "none" };
try {
  if (!skipped.has("kafka") && existsSync(join(root, "scripts/backends/kafka.mjs"))) {
    const { fetchKafka, startKafka } = await import("./backends/kafka.mjs");
    await fetchKafka({ log });
    // PROXIED listener for test/faults; SASL_SSL listener (throwaway certificate) for test/kafka/sasl-ssl.test.ts.
    const kafka = await startKafka({ log, proxied: true, saslSsl: true });
    backends.push(kafka);
    env.BROOK_TEST_KAFKA_BROKERS = kafka.brokers;
    // test/faults puts its fault proxy on advertisedPort, in front of the PROXIED listener.
    env.BROOK_TEST_KAFKA_PROXIED = `${kafka.proxied.port}:${kafka.proxied.advertisedPort}`;
    env.BROOK_TEST_KAFKA_SASL_SSL = JSON.stringify(kafka.saslSsl);
    log(`kafka on ${kafka.brokers} (pid ${kafka.pid})`);
  }
  if (!skipped.has("pubsub") && existsSync(join(root, "scripts/backends/pubsub.mjs"))) {
    const { startPubSubEmulator } = await import("./backends/pubsub.mjs");
    const pubsub = await startPubSubEmulator({ log });
    backends.push(pubsub);
    env.PUBSUB_EMULATOR_HOST = pubsub.host;
    env.BROOK_TEST_PUBSUB_HOST = pubsub.host;
    log(`pubsub emulator on ${pubsub.host} (pid ${pubsub.pid})`);
  }
  if (!skipped.has("kinesis") && existsSync(join(root, "scripts/backends/kinesis.mjs"))) {
    const { startKinesis } = await import("./backends/kinesis.mjs");
    const kinesis = await startKinesis({ log });
    backends.push(kinesis);
    env.BROOK_TEST_KINESIS_ENDPOINT = kinesis.kinesisEndpoint;
    env.BROOK_TEST_DYNAMO_ENDPOINT = kinesis.dynamoEndpoint;
    // The AWS SDK warns once per process on Node 20 that its 2027 releases need Node 22, and
    // would look for credentials on a cloud metadata service; neither helps a test run.
    env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
    env.AWS_EC2_METADATA_DISABLED = "true";
    log(`kinesis-local on ${kinesis.kinesisEndpoint}, dynalite on ${kinesis.dynamoEndpoint} (pids ${kinesis.pids.join(", ")})`);
  }
  if (!skipped.has("moto") && existsSync(join(root, "scripts/backends/moto.mjs"))) {
    // moto serves Firehose and S3 for test/firehose and the Firehose contract suite.
    const { startMoto } = await import("./backends/moto.mjs");
    const moto = await startMoto({ log });
    backends.push(moto);
    env.BROOK_TEST_MOTO_ENDPOINT = moto.endpoint;
    env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
    env.AWS_EC2_METADATA_DISABLED = "true";
    log(`moto (Firehose, S3) on ${moto.endpoint} (pid ${moto.pid})`);
  }
  // The inbox/outbox packages' databases (@brook/dedupe-redis, @brook/dedupe-postgres).
  if (!skipped.has("redis")) {
    const { startRedis } = await import("./backends/redis.mjs");
    const redis = await startRedis({ log });
    backends.push(redis);
    env.BROOK_TEST_REDIS_URL = redis.url;
  }
  if (!skipped.has("postgres")) {
    const { startPostgres } = await import("./backends/postgres.mjs");
    const postgres = await startPostgres({ log });
    backends.push(postgres);
    env.BROOK_TEST_POSTGRES_URL = postgres.url;
  }
  if (!skipped.has("eventhubs") && existsSync(join(root, "scripts/backends/eventhubs.mjs"))) {
    // The project's AMQP test server + Azurite (checkpoints); see scripts/backends/eventhubs.mjs.
    const { startEventHubs } = await import("./backends/eventhubs.mjs");
    const eventhubs = await startEventHubs({ log });
    backends.push(eventhubs);
    env.BROOK_TEST_EVENTHUBS_CONNECTION_STRING = eventhubs.connectionString;
    env.BROOK_TEST_EVENTHUBS_CONTROL_URL = eventhubs.controlUrl;
    env.BROOK_TEST_EVENTHUBS_BLOB = eventhubs.blobConnectionString;
  }
  env.BROOK_SKIP_BACKENDS = [...skipped].join(",");

  for (const runtime of runtimes) {
    const counts = await runJest(runtime, env);
    for (const k of Object.keys(total)) total[k] += counts[k];
    lines.push(`${runtime.label ?? `node ${runtime.version}`}: ${formatCounts(counts)}`);
  }
  // The Kafka tests once more, unchanged, against `brook serve --kafka-port` (first runtime only;
  // own report and result line). BROOK_SKIP_BACKENDS=kafka-wire skips this pass.
  if (!skipped.has("kafka-wire") && runtimes.length > 0) {
    const { runKafkaWirePass } = await import("./kafka-wire-pass.mjs");
    const pass = await runKafkaWirePass({ root, runtime: runtimes[0], env, args: process.argv.slice(2), log, runJest });
    if (pass !== undefined) {
      for (const k of Object.keys(total)) total[k] += pass.counts[k];
      lines.push(`${pass.label}: ${formatCounts(pass.counts)}`);
    }
  }
  if (runtimes.length === 0) {
    lines.push("no runtime tested (BROOK_SKIP_RUNTIMES)");
    total.failed += 1;
  }
  // Repeated together so both runtimes' results stand side by side after the long jest output.
  for (const line of lines) log(line);
} catch (err) {
  console.error(`[test-all] ${err instanceof Error ? err.stack : err}`);
  total.failed += 1;
} finally {
  for (const backend of backends.reverse()) {
    await backend.stop().catch((err) => console.error(`[test-all] stopping pid ${backend.pid}: ${err}`));
  }
}
// The summary is the run's last line, after the backends' own shutdown output.
console.log(formatCounts(total));
process.exit(total.failed === 0 ? 0 : 1);
