// A consumer process for crash.test.ts, run on the compiled packages (npx tsc -b first):
//   node test/kafka/crash-child.mjs <kafka url> <topic> <group>
// Prints "ACK <partition> <offset>" as each handler finishes (stdout to a pipe is synchronous
// on Linux, so a printed line was written before the message was acknowledged to core).
import { connectKafka } from "../../packages/adapter-kafka/dist/index.js";

const [url, topic, group] = process.argv.slice(2);
const quiet = { debug() {}, info() {}, warn() {}, error: (m) => process.stderr.write(`${m}\n`) };
const broker = await connectKafka(url, { logger: quiet });
await broker.subscribe(topic, {
  group,
  startFrom: "earliest",
  ordering: "key",
  maxInFlight: 32,
  commitIntervalMs: 100,
  handler: async (m) => {
    await new Promise((resolve) => setTimeout(resolve, 2 + Math.floor(Math.random() * 5)));
    process.stdout.write(`ACK ${m.position.partition} ${m.position.offset}\n`);
  },
});
process.stdout.write("READY\n");
