// Child process of file-store.crash.test.ts ("dedupe window across a crash"), run from the
// TypeScript sources:
//   node --import <repo>/scripts/ts-register.mjs file-store.dedupe-crash-child.mjs <dir> <rounds>
// Publishes `rounds` idempotent batches through the engine with fsync "always", one after the
// other, prints each batch's positions as one JSON line once it resolved, and SIGKILLs itself in
// the same turn as the last one resolved — after the records were fsynced and acknowledged, and
// before anything else could run.
import { LogEngine } from "../engine.js";
import { openFileStore } from "./file-store.js";

const dir = process.argv[2];
const rounds = Number(process.argv[3]);
const store = await openFileStore(dir, { fsync: "always" });
const engine = await LogEngine.open(store);
await engine.createTopic("dedupe", { partitions: 2 }, true);
for (let round = 0; round < rounds; round++) {
  const messages = [];
  for (let i = 0; i < 5; i++) {
    const n = round * 5 + i;
    messages.push({ key: n % 2 === 0 ? undefined : `k${n}`, idempotencyKey: `idem-${n}`, headers: {}, value: Buffer.from(`v${n}`) });
  }
  const results = await engine.append("dedupe", messages);
  process.stdout.write(`${JSON.stringify(results.map((r) => (r.ok ? { ...r.position, duplicate: r.duplicate } : { error: r.error.message })))}\n`);
}
process.kill(process.pid, "SIGKILL");
