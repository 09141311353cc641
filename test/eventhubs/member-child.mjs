// A consumer-group member in its own process, for crash.test.ts (run on the compiled packages):
//   node test/eventhubs/member-child.mjs <eventhubs url> <hub> <group>
// Prints "ASSIGNED <partition>" / "REVOKED <partition>" as ownership moves and
// "ACK <partition> <offset>" as each handler finishes (stdout to a pipe is synchronous on Linux,
// so a printed line was written before the message was acknowledged to core).
import { connectEventHubs } from "../../packages/adapter-eventhubs/dist/index.js";

const [url, hub, group] = process.argv.slice(2);
const quiet = { debug() {}, info() {}, warn() {}, error: (m) => process.stderr.write(`${m}\n`) };
const broker = await connectEventHubs(url, { logger: quiet });
const sub = await broker.subscribe(hub, {
  group,
  startFrom: "earliest",
  ordering: "key",
  maxInFlight: 32,
  commitIntervalMs: 100,
  handler: async (m) => {
    await new Promise((resolve) => setTimeout(resolve, 2 + Math.floor(Math.random() * 4)));
    process.stdout.write(`ACK ${m.position.partition} ${m.position.offset}\n`);
  },
});
sub.on("assigned", (ps) => ps.forEach((p) => process.stdout.write(`ASSIGNED ${p}\n`)));
sub.on("revoked", (ps) => ps.forEach((p) => process.stdout.write(`REVOKED ${p}\n`)));
for (const p of sub.assignment()) process.stdout.write(`ASSIGNED ${p}\n`);
process.stdout.write("READY\n");
