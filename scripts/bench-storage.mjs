// Benchmark of the local broker's durable file store alone (no engine, no publisher):
//   node --import ./scripts/ts-register.mjs scripts/bench-storage.mjs [--messages N] [--recovery-mib M]
// Prints a table and writes bench-results/storage.json. Compares against a raw baseline that
// writes the same bytes with plain fs.writeSync. Numbers depend on the machine; not a test.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { openFileStore } from "../packages/local-broker/src/storage/file-store.js";

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const MESSAGES = arg("messages", 2_000_000);
const RECOVERY_MIB = arg("recovery-mib", 1024);
const VALUE_BYTES = 100;
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "brook-bench-storage-"));
const rows = [];
const now = () => performance.now();

function makeRecords(n, withKeys = false) {
  const value = Buffer.alloc(VALUE_BYTES, 97);
  const ts = Date.now();
  return Array.from({ length: n }, (_, i) => ({
    timestamp: ts,
    key: withKeys ? Buffer.from(`key-${i % 64}`) : undefined,
    idempotencyKey: undefined,
    headers: {},
    value,
  }));
}

function report(name, messages, ms, extra = {}) {
  const row = { name, messages, ms: Math.round(ms), msgPerSec: Math.round((messages / ms) * 1000), ...extra };
  rows.push(row);
  const rate = row.msgPerSec.toLocaleString("en-US").padStart(12);
  const more = Object.entries(extra).map(([k, v]) => `${k}=${v}`).join(" ");
  console.log(`${name.padEnd(52)} ${rate} msg/s  ${String(row.ms).padStart(6)} ms  ${more}`);
}

/** `publishers` loops, each awaiting append(batch) until `total` messages are in. */
async function appendLoad(log, total, batchSize, publishers, withKeys = false) {
  const batch = makeRecords(batchSize, withKeys);
  let sent = 0;
  const start = now();
  await Promise.all(
    Array.from({ length: publishers }, async () => {
      while (sent < total) {
        sent += batchSize;
        await log.append(batch);
      }
    }),
  );
  return { ms: now() - start, sent };
}

async function withStore(name, options, fn) {
  const dir = path.join(work, name);
  const store = await openFileStore(dir, { logger: { warn: () => undefined }, ...options });
  try {
    return await fn(store, dir);
  } finally {
    await store.close();
  }
}

function dirBytes(dir) {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    total += e.isDirectory() ? dirBytes(p) : fs.statSync(p).size;
  }
  return total;
}

try {
  console.log(`node ${process.version}, ${os.cpus().length} cpus (${os.cpus()[0]?.model ?? "?"}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, tmp ${work}`);
  console.log(`${MESSAGES.toLocaleString("en-US")} messages of ${VALUE_BYTES} bytes\n`);

  // 0. warm-up (JIT), not reported
  await withStore("warmup", { fsync: "never" }, async (store) => {
    const log = await store.openPartition("bench", 0);
    await appendLoad(log, 300_000, 1000, 4, true);
    for (let offset = 0; offset < log.endOffset; ) offset = (await log.read(offset, 5000)).pop().offset + 1;
  });

  // 1. store append, fsync "never" / "interval", batched (1000 per call), 4 publishers
  let logBytes = 0;
  for (const fsync of ["never", "interval"]) {
    await withStore(`append-${fsync}`, { fsync }, async (store, dir) => {
      const log = await store.openPartition("bench", 0);
      const { ms, sent } = await appendLoad(log, MESSAGES, 1000, 4);
      logBytes = dirBytes(path.join(dir, "topics"));
      report(`append fsync=${fsync}, 1000/call, 4 publishers`, sent, ms, { MiBps: Math.round(logBytes / 2 ** 20 / (ms / 1000)), fsyncs: store.stats().fsyncs });
    });
  }

  // 2. the same bytes with plain fs.writeSync (same chunking: one write per 1000 messages)
  {
    const file = path.join(work, "raw.log");
    const fd = fs.openSync(file, "w");
    const chunk = Buffer.alloc(Math.round(logBytes / (MESSAGES / 1000)), 1);
    const start = now();
    let written = 0;
    for (let i = 0; i < MESSAGES / 1000; i++) written += fs.writeSync(fd, chunk);
    const ms = now() - start;
    fs.closeSync(fd);
    fs.rmSync(file);
    report("raw fs.writeSync baseline, same bytes & chunks", MESSAGES, ms, { MiBps: Math.round(written / 2 ** 20 / (ms / 1000)) });
  }

  // 3. many small appends: 1 message per call, 64 publishers, fsync "never"
  await withStore("append-small", { fsync: "never" }, async (store) => {
    const log = await store.openPartition("bench", 0);
    const total = Math.min(MESSAGES, 500_000);
    const { ms, sent } = await appendLoad(log, total, 1, 64);
    report("append fsync=never, 1/call, 64 publishers", sent, ms, { writes: store.stats().writes });
  });

  // 4. group commit: fsync "always", many concurrent publishers
  for (const [batchSize, publishers] of [
    [100, 64],
    [1000, 16],
  ]) {
    await withStore(`append-always-${batchSize}`, { fsync: "always" }, async (store) => {
      const log = await store.openPartition("bench", 0);
      const { ms, sent } = await appendLoad(log, MESSAGES, batchSize, publishers);
      const s = store.stats();
      report(`append fsync=always, ${batchSize}/call, ${publishers} publishers`, sent, ms, { fsyncs: s.fsyncs, appendsPerFsync: Math.round(sent / batchSize / s.fsyncs) });
    });
  }

  // 5. reads in batches, then seeks
  await withStore("read", { fsync: "never" }, async (store) => {
    const log = await store.openPartition("bench", 0);
    await appendLoad(log, MESSAGES, 1000, 4, true);
    for (const maxRecords of [1000, 10_000]) {
      let offset = 0;
      let count = 0;
      const start = now();
      while (offset < log.endOffset) {
        const records = await log.read(offset, maxRecords, 4 * 1024 * 1024);
        count += records.length;
        offset = records[records.length - 1].offset + 1;
      }
      report(`read ${maxRecords}/call (page cache warm)`, count, now() - start);
    }
    const seeks = 20_000;
    let start = now();
    for (let i = 0; i < seeks; i++) await log.read(Math.floor(Math.random() * MESSAGES), 1);
    let ms = now() - start;
    report("random read(offset, 1)", seeks, ms, { usPerOp: ((ms * 1000) / seeks).toFixed(1) });
    start = now();
    for (let i = 0; i < 2000; i++) await log.offsetForTime(Date.now() - 1000 * Math.random());
    ms = now() - start;
    report("offsetForTime", 2000, ms, { usPerOp: ((ms * 1000) / 2000).toFixed(1) });
  });

  // 6. recovery: one active segment of RECOVERY_MIB scanned with CRC after an unclean stop
  {
    const dir = path.join(work, "recovery");
    const segmentBytes = Math.min(1024 * 1024 * 1024, RECOVERY_MIB * 1024 * 1024 + 1024 * 1024);
    let store = await openFileStore(dir, { fsync: "never", segmentBytes });
    let log = await store.openPartition("bench", 0);
    const batch = makeRecords(1000);
    while (log.sizeBytes() < RECOVERY_MIB * 1024 * 1024 - 200_000) await log.append(batch);
    const records = log.endOffset;
    await store.close();
    fs.rmSync(path.join(dir, "topics", "bench", "0", "CLEAN")); // as after a crash: the whole active segment is verified
    const bytes = dirBytes(path.join(dir, "topics"));
    store = await openFileStore(dir, { fsync: "never", segmentBytes });
    let start = now();
    log = await store.openPartition("bench", 0);
    const ms = now() - start;
    if (log.endOffset !== records) throw new Error(`recovery lost records: ${log.endOffset} != ${records}`);
    report(`recovery scan of ${Math.round(bytes / 2 ** 20)} MiB (CRC every batch)`, records, ms, { secPerGiB: (ms / 1000 / (bytes / 2 ** 30)).toFixed(2) });
    await store.close();
    store = await openFileStore(dir, { fsync: "never", segmentBytes });
    start = now();
    log = await store.openPartition("bench", 0);
    report("open after a clean close (index trusted)", records, now() - start);
    await store.close();
  }

  fs.mkdirSync(path.join(root, "bench-results"), { recursive: true });
  const out = path.join(root, "bench-results", "storage.json");
  fs.writeFileSync(out, `${JSON.stringify({ node: process.version, cpus: os.cpus().length, when: new Date().toISOString(), rows }, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(root, out)}`);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
