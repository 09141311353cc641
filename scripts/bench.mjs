// `pnpm bench`: runs every benchmark, each in its own process, prints each one's table and
// writes bench-results/<name>.json plus bench-results/summary.json. Not tests: nothing asserts.
// BENCH_ONLY=local,server limits which run (mirror: local: target; node scripts/bench-mirror.mjs --kafka host:port adds Kafka). Kafka, kafka-wire (brook serve --kafka-port vs Kafka), Pub/Sub, Kinesis, Firehose (moto) and Event Hubs start their own backends.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";

const all = [
  ["local", ["scripts/bench-local.mjs"]],
  ["storage", ["--import", "./scripts/ts-register.mjs", "scripts/bench-storage.mjs"]],
  ["server", ["scripts/bench-server.mjs"]],
  ["kafka", ["scripts/bench-kafka.mjs"]],
  ["kafka-wire", ["scripts/bench-kafka-wire.mjs"]],
  ["serve-startup", ["scripts/bench-serve-startup.mjs"]],
  ["pubsub", ["scripts/bench-pubsub.mjs"]],
  ["kinesis", ["scripts/bench-kinesis.mjs"]],
  ["firehose", ["scripts/bench-firehose.mjs"]],
  ["eo", ["scripts/bench-eo.mjs"]],
  ["eventhubs", ["scripts/bench-eventhubs.mjs"]],
  ["mirror", ["scripts/bench-mirror.mjs"]],
];
const only = (process.env.BENCH_ONLY ?? "").split(",").filter(Boolean);
const summary = {};
mkdirSync("bench-results", { recursive: true });
for (const [name, args] of all) {
  if (only.length > 0 && !only.includes(name)) continue;
  console.log(`\n=== ${name} ===`);
  const r = spawnSync(process.execPath, args, { stdio: "inherit", env: process.env });
  const file = `bench-results/${name}.json`;
  summary[name] = { exitCode: r.status, results: existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : null };
}
writeFileSync("bench-results/summary.json", JSON.stringify(summary, null, 2));
console.log("\nwrote bench-results/summary.json");
