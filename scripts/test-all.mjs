// The README's test command: builds, starts every real backend the suites need (on 127.0.0.1,
// free ports), runs every jest suite once, stops the backends by pid, and ends with the plain
// line "N passed, M failed[, K skipped]". In CI (CI=true) a backend that cannot start fails
// the run; locally it fails too unless BROOK_SKIP_BACKENDS names it (e.g. "pubsub,kafka").
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const log = (msg) => console.log(`[test-all] ${msg}`);
const skipped = new Set((process.env.BROOK_SKIP_BACKENDS ?? "").split(",").filter(Boolean));
if (process.env.CI === "true" && skipped.size > 0) {
  console.error("[test-all] BROOK_SKIP_BACKENDS is not allowed in CI");
  process.exit(2);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", ...opts });
  return r.status ?? 1;
}

log("type-check and build (tsc -b)");
if (run("npx", ["tsc", "-b"]) !== 0) {
  console.log("0 passed, 1 failed");
  process.exit(1);
}

const backends = [];
const env = { ...process.env, METADATA_SERVER_DETECTION: "none" };
let exitCode = 1;
let summary = "0 passed, 1 failed";
try {
  if (!skipped.has("kafka") && existsSync(join(root, "scripts/backends/kafka.mjs"))) {
    const { fetchKafka, startKafka } = await import("./backends/kafka.mjs");
    await fetchKafka({ log });
    const kafka = await startKafka({ log });
    backends.push(kafka);
    env.BROOK_TEST_KAFKA_BROKERS = kafka.brokers;
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
  env.BROOK_SKIP_BACKENDS = [...skipped].join(",");

  const out = join(root, ".tmp");
  mkdirSync(out, { recursive: true });
  const report = join(out, "jest-results.json");
  rmSync(report, { force: true });
  const jestArgs = ["jest", "--json", `--outputFile=${report}`, "--maxWorkers=2", ...process.argv.slice(2)];
  log(`npx ${jestArgs.join(" ")}`);
  const status = await new Promise((resolve) => {
    const child = spawn("npx", jestArgs, { cwd: root, env, stdio: "inherit" });
    child.on("exit", (code) => resolve(code ?? 1));
  });
  let passed = 0;
  let failed = 0;
  let pending = 0;
  if (existsSync(report)) {
    const results = JSON.parse(readFileSync(report, "utf8"));
    passed = results.numPassedTests;
    failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    pending = results.numPendingTests + results.numTodoTests;
    for (const suite of results.testResults) {
      if (suite.status === "failed" && suite.assertionResults.every((a) => a.status !== "failed")) {
        log(`suite failed to run: ${suite.name}`);
      }
    }
  } else {
    failed = 1;
  }
  if (status !== 0 && failed === 0) failed = 1;
  exitCode = failed === 0 && status === 0 ? 0 : 1;
  summary = `${passed} passed, ${failed} failed${pending > 0 ? `, ${pending} skipped` : ""}`;
} catch (err) {
  console.error(`[test-all] ${err instanceof Error ? err.stack : err}`);
  exitCode = 1;
} finally {
  for (const backend of backends.reverse()) {
    await backend.stop().catch((err) => console.error(`[test-all] stopping pid ${backend.pid}: ${err}`));
  }
}
// The summary is the run's last line, after the backends' own shutdown output.
console.log(summary);
process.exit(exitCode);
