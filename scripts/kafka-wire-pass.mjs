// The second pass of Brook's Kafka tests (scripts/test-all.mjs): the same test files, unchanged,
// against `brook serve --kafka-port` (the local broker speaking Kafka's wire protocol) instead of
// the real Kafka broker. Only the environment differs: BROOK_TEST_KAFKA_BROKERS names the
// kafka-wire listener, and the real broker's extra listeners (PROXIED, SASL_SSL) are not given.
// It runs on the first runtime only, with its own report (.tmp/jest-results-<runtime>-kafka-wire.json)
// and its own result line, so its counts stand apart from the real-Kafka run's.
//
// A file that needs what kafka-wire does not serve is not run; it is named with its reason and
// counted as skipped (never dropped silently). test/faults/kafka.test.ts is not one of the pass's
// files: it needs the real broker's PROXIED listener (a second listener advertising a proxy port).
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

/** The Kafka tests of the pass: test/kafka/*.test.ts and the Kafka adapter's contract suite. */
export function kafkaWireTestFiles(root) {
  const files = readdirSync(join(root, "test/kafka"))
    .filter((f) => f.endsWith(".test.ts"))
    .sort()
    .map((f) => `test/kafka/${f}`);
  return [...files, "test/contract/kafka.test.ts"].filter((f) => existsSync(join(root, f)));
}

/** Files not run against kafka-wire, each with the reason (what the wire server lacks). */
export const KAFKA_WIRE_SKIPS = {
  "test/kafka/sasl-ssl.test.ts": "needs a SASL_SSL (TLS) listener; kafka-wire serves plaintext with optional SASL PLAIN",
};

/**
 * The pass's files among those a jest path pattern selects: no pattern (arguments not starting
 * with "-") selects all, as jest does; a pattern is a regular expression matched against the
 * file's absolute path, as jest does.
 */
export function selectFiles(root, args) {
  const patterns = args.filter((a) => !a.startsWith("-")).map((p) => new RegExp(p));
  return kafkaWireTestFiles(root).filter((f) => patterns.length === 0 || patterns.some((re) => re.test(join(root, f))));
}

/**
 * Starts `brook serve --kafka-port`, runs the selected files with runJest, stops the server.
 * Resolves with the counts and the result line, or undefined when the pattern selects none.
 */
export async function runKafkaWirePass({ root, runtime, env, args, log, runJest }) {
  const selected = selectFiles(root, args);
  if (selected.length === 0) return undefined;
  const label = `node ${runtime.version} kafka-wire`;
  const skippedFiles = selected.filter((f) => KAFKA_WIRE_SKIPS[f] !== undefined);
  const files = selected.filter((f) => KAFKA_WIRE_SKIPS[f] === undefined);
  for (const f of skippedFiles) log(`${label}: ${f} skipped: ${KAFKA_WIRE_SKIPS[f]}`);
  const counts = { passed: 0, failed: 0, pending: skippedFiles.length };
  if (files.length > 0) {
    const { startKafkaWireServe } = await import("./backends/kafka-wire.mjs");
    const wire = await startKafkaWireServe({ log, node: runtime.node });
    try {
      const passEnv = { ...env, BROOK_TEST_KAFKA_BROKERS: wire.brokers, BROOK_TEST_KAFKA_FLAVOR: "kafka-wire" };
      delete passEnv.BROOK_TEST_KAFKA_PROXIED;
      delete passEnv.BROOK_TEST_KAFKA_SASL_SSL;
      // jest's own flags of the run (e.g. --testNamePattern) still apply; the files replace the patterns.
      const flags = args.filter((a) => a.startsWith("-"));
      const got = await runJest({ ...runtime, name: `${runtime.name}-kafka-wire`, label }, passEnv, [...flags, "--runTestsByPath", ...files]);
      for (const k of Object.keys(counts)) counts[k] += got[k];
    } finally {
      await wire.stop();
    }
  }
  return { counts, label };
}
