// A consumer-group worker process for crash.test.ts, run on the compiled packages (tsc -b first):
//   node test/kinesis/worker-child.mjs <kinesis url> <topic> <group> <name> [<subscribe options as JSON>]
// Prints "ACK <name> <shard> <offset> <key> <i>" as each handler finishes (stdout to a pipe is
// synchronous on Linux, so the line is written before core settles the message), "OWN <name>
// <json shards>" whenever its assignment changes, "READY <name>" once subscribed, and on
// SIGTERM closes gracefully (drain, checkpoint, release) and prints "CLOSED <name>".
import { connectKinesis } from "../../packages/adapter-kinesis/dist/index.js";

const [url, topic, group, name, extra] = process.argv.slice(2);
const quiet = { debug() {}, info() {}, warn() {}, error: (m) => process.stderr.write(`${name}: ${m}\n`) };
const broker = await connectKinesis(url, { logger: quiet });
const sub = await broker.subscribe(topic, {
  group,
  startFrom: "earliest",
  ordering: "key",
  maxInFlight: 32,
  commitIntervalMs: 200,
  ...(extra === undefined ? {} : JSON.parse(extra)),
  handler: async (m) => {
    await new Promise((resolve) => setTimeout(resolve, 2 + Math.floor(Math.random() * 5)));
    process.stdout.write(`ACK ${name} ${m.position.partition} ${m.position.offset} ${m.data.k} ${m.data.i}\n`);
  },
});
process.stdout.write(`READY ${name}\n`);
let last = "";
const watch = setInterval(() => {
  const own = JSON.stringify(sub.assignment().sort());
  if (own !== last) process.stdout.write(`OWN ${name} ${(last = own)}\n`);
}, 50);
process.once("SIGTERM", async () => {
  clearInterval(watch);
  await sub.close({ drain: true, timeoutMs: 10_000 });
  await broker.close();
  process.stdout.write(`CLOSED ${name}\n`);
  process.exit(0);
});
