// A mirror process for kill.test.ts, run on the compiled packages (npx tsc -b first):
//   node test/mirror/kill-child.mjs <from url> <to url> <topic> <toTopic>
// Copies once; prints "P <mirrored>" as it goes and "DONE <mirrored>" at the end.
import "../../packages/local-broker/dist/index.js";
import { mirror } from "../../packages/mirror/dist/index.js";

const [from, to, topic, toTopic] = process.argv.slice(2);
const quiet = { debug() {}, info() {}, warn() {}, error: (m) => process.stderr.write(`${m}\n`) };
const result = await mirror({
  from,
  to,
  topics: [topic],
  toTopic,
  once: true,
  syncEvery: { messages: 200, ms: 100 },
  batchSize: 100,
  progressIntervalMs: 20,
  logger: quiet,
  onProgress: (p) => process.stdout.write(`P ${p.mirrored}\n`),
});
process.stdout.write(`DONE ${result.mirrored}\n`);
