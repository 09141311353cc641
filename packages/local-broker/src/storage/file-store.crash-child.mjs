// Child process of file-store.crash.test.ts, run from the TypeScript sources:
//   node --import <repo>/scripts/ts-register.mjs file-store.crash-child.mjs <dir>
// Appends with fsync "always" from several concurrent publishers until killed. The record at
// offset o always has value `v<o>` (the sequence continues from the recovered end), so the
// parent can check every record. Prints "ready <endOffset>" once open, then per resolved
// append "ack <firstOffset> <count>", per resolved commit "commit <nextOffset>".
import { openFileStore } from "./file-store.js";

const dir = process.argv[2];
const store = await openFileStore(dir, { fsync: "always", segmentBytes: 16 * 1024, indexIntervalBytes: 512 });
if (!store.metadata.topics().has("crash")) {
  await store.metadata.putTopic("crash", { partitions: 1, retentionMs: Infinity, retentionBytes: undefined, createdAt: Date.now() });
}
const log = await store.openPartition("crash", 0);
let next = log.endOffset;
let committed = 0;
const out = (line) => process.stdout.write(`${line}\n`);
out(`ready ${next}`);

function recordFor(offset) {
  return {
    timestamp: Date.now(),
    key: offset % 3 === 0 ? undefined : Buffer.from(`key-${offset % 7}`),
    idempotencyKey: offset % 5 === 0 ? `idem-${offset}` : undefined,
    headers: offset % 2 === 0 ? { n: String(offset) } : {},
    value: Buffer.from(`v${offset}`.padEnd(20 + (offset % 50), ".")),
  };
}

async function publisher() {
  for (;;) {
    const count = 1 + Math.floor(Math.random() * 20);
    const first = next;
    next += count;
    const records = [];
    for (let o = first; o < first + count; o++) records.push(recordFor(o));
    const base = await log.append(records);
    if (base !== first) throw new Error(`append resolved at ${base}, expected ${first}`);
    out(`ack ${base} ${count}`);
    if (Math.random() < 0.1 && base + count > committed) {
      const upTo = base + count;
      committed = upTo; // commits are issued in increasing order
      await store.metadata.commit("g", "crash", 0, upTo);
      out(`commit ${upTo}`);
    }
  }
}

await Promise.all(Array.from({ length: 8 }, publisher));
