// Benchmark of the inbox/outbox packages, over the compiled dist (npx tsc -b first):
//   node scripts/bench-eo.mjs [--rows N] [--claims N] [--concurrency C]
// Starts its own PostgreSQL and Redis (scripts/backends/*.mjs, 127.0.0.1, free ports), then
// measures, each beside a raw client loop doing the same round trips in the same run:
//   - outbox relay throughput: N committed outbox rows drained by OutboxRelay to memory:, to
//     a brook:// server (in this process) and to a real Kafka broker (scripts/backends/kafka.mjs), vs a raw loop (SELECT … FOR UPDATE SKIP LOCKED,
//     publishBatch, UPDATE sent) on the same pool and broker;
//   - dedupe claim+complete per key at concurrency C: PostgresDedupeStore vs the same two SQL
//     statements on pg; RedisDedupeStore vs the same two Lua scripts through ioredis EVAL.
// Prints a table and writes bench-results/eo.json. Not a test: nothing asserts.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { Redis } from "ioredis";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = (p) => path.join(root, "packages", p, "dist", "index.js");
const { connect, silentLogger } = await import(dist("core"));
const { startServer } = await import(dist("local-broker"));
const { LogEngine, MemoryStore } = await import(path.join(root, "packages/local-broker/dist/engine-entry.js"));
const { Outbox, OutboxRelay, PostgresDedupeStore } = await import(dist("dedupe-postgres"));
const { RedisDedupeStore } = await import(dist("dedupe-redis"));
const { CLAIM, COMPLETE } = await import(path.join(root, "packages/dedupe-redis/dist/scripts.js"));
const { startPostgres } = await import("./backends/postgres.mjs");
const { startRedis } = await import("./backends/redis.mjs");
const { startKafka } = await import("./backends/kafka.mjs");
await import(dist("adapter-kafka")); // registers kafka://

const args = process.argv.slice(2);
const arg = (name, fallback) => (args.includes(`--${name}`) ? Number(args[args.indexOf(`--${name}`) + 1]) : fallback);
const ROWS = arg("rows", 20_000);
const CLAIMS = arg("claims", 5_000);
const CONCURRENCY = arg("concurrency", 32);
const rows = [];
function report(name, count, ms, unit) {
  const row = { name, count, ms: Math.round(ms), perSec: Math.round((count / ms) * 1000), unit };
  rows.push(row);
  console.log(`${name.padEnd(58)} ${row.perSec.toLocaleString("en-US").padStart(9)} ${unit}/s ${String(row.ms).padStart(7)} ms`);
}
let n = 0;
const unique = (p) => `${p}_${Date.now().toString(36)}_${n++}`;

const postgres = await startPostgres();
const redisServer = await startRedis({ appendfsync: "everysec" });
const pool = new pg.Pool({ connectionString: postgres.url, max: CONCURRENCY + 4 });
const engine = await LogEngine.open(new MemoryStore());
const server = await startServer({ engine, port: 0, logger: silentLogger });
// BENCH_EO_KAFKA=0 leaves Kafka out (it takes a few seconds to start).
const kafka = process.env.BENCH_EO_KAFKA === "0" ? undefined : await startKafka({});
try {
  async function fill(table, topic) {
    const outbox = new Outbox({ table });
    await outbox.install(pool);
    const payload = Buffer.alloc(100, 1);
    for (let i = 0; i < ROWS; i += 1_000) {
      const c = await pool.connect();
      await c.query("BEGIN");
      await outbox.enqueueBatch(c, topic, Array.from({ length: Math.min(1_000, ROWS - i) }, (_, j) => ({ key: `k${(i + j) % 100}`, data: payload })));
      await c.query("COMMIT");
      c.release();
    }
  }
  const targets = [["memory:", "memory:"], ["brook:// server", server.url]];
  if (kafka !== undefined) targets.push(["kafka", `kafka://${kafka.brokers}?clientId=bench-eo`]);
  for (const [label, url] of targets) {
    const broker = await connect(url, { logger: silentLogger });
    const topic = unique("bench_outbox");
    await broker.admin.createTopic(topic, { partitions: 4 });
    let table = unique("outbox");
    await fill(table, topic);
    const relay = new OutboxRelay({ db: pool, to: broker, table, batchSize: 1_000, maxKeysPerRound: 100, logger: silentLogger });
    let t0 = performance.now();
    const published = await relay.drain();
    report(`outbox relay -> ${label} (batch 1000)`, published, performance.now() - t0, "rows");
    await relay.close();
    // Raw: the same reads, publishes and marks, without per-key locks.
    table = unique("outbox");
    await fill(table, topic);
    const pub = broker.publisher(topic, { codec: "bytes" });
    t0 = performance.now();
    let raw = 0;
    for (;;) {
      const c = await pool.connect();
      await c.query("BEGIN");
      const r = await c.query(`SELECT id, key, data FROM "${table}" WHERE sent_at IS NULL ORDER BY id LIMIT 1000 FOR UPDATE SKIP LOCKED`);
      if (r.rows.length === 0) {
        await c.query("COMMIT");
        c.release();
        break;
      }
      const out = await pub.publishBatch(r.rows.map((x) => ({ key: x.key, data: x.data, idempotencyKey: `${table}:${x.id}` })));
      if (out.some((o) => !o.ok)) throw new Error("raw publish failed");
      await c.query(`UPDATE "${table}" SET sent_at = now() WHERE id = ANY($1::bigint[])`, [r.rows.map((x) => x.id)]);
      await c.query("COMMIT");
      c.release();
      raw += r.rows.length;
    }
    report(`raw loop: SKIP LOCKED + publishBatch + UPDATE -> ${label}`, raw, performance.now() - t0, "rows");
    await pub.close();
    await broker.close();
  }

  /** `count` calls of fn(i) by CONCURRENCY workers, after an unmeasured warm-up of 300 (own keys). */
  async function concurrently(count, fn) {
    let warm = count;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (warm < count + 300) await fn(warm++);
    }));
    let next = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) await fn(next++);
    }));
    return performance.now() - t0;
  }
  const store = new PostgresDedupeStore(pool, { table: unique("dedupe") });
  await store.install();
  let ms = await concurrently(CLAIMS, async (i) => {
    if ((await store.claim(`key-${i}`, 600_000, `t${i}`)) !== "claimed") throw new Error("not claimed");
    await store.complete(`key-${i}`, `t${i}`);
  });
  report(`PostgresDedupeStore claim+complete (concurrency ${CONCURRENCY})`, CLAIMS, ms, "keys");
  const rawTable = unique("dedupe_raw");
  await pool.query(`CREATE TABLE "${rawTable}" (key text PRIMARY KEY, state text NOT NULL, token text NOT NULL, expires_at timestamptz NOT NULL)`);
  ms = await concurrently(CLAIMS, async (i) => {
    const r = await pool.query(
      `INSERT INTO "${rawTable}" VALUES ($1, 'claimed', $2, now() + interval '30 seconds') ON CONFLICT (key) DO UPDATE SET state = 'claimed', token = EXCLUDED.token WHERE "${rawTable}".expires_at <= now() RETURNING 1`,
      [`key-${i}`, `t${i}`],
    );
    if (r.rowCount !== 1) throw new Error("not claimed");
    await pool.query(`UPDATE "${rawTable}" SET state = 'done', expires_at = now() + interval '10 minutes' WHERE key = $1 AND token = $2`, [`key-${i}`, `t${i}`]);
  });
  report(`raw pg loop: INSERT ON CONFLICT + UPDATE (concurrency ${CONCURRENCY})`, CLAIMS, ms, "keys");

  const redisStore = new RedisDedupeStore(redisServer.url, { prefix: unique("bench") });
  ms = await concurrently(CLAIMS, async (i) => {
    if ((await redisStore.claim(`key-${i}`, 600_000, `t${i}`)) !== "claimed") throw new Error("not claimed");
    await redisStore.complete(`key-${i}`, `t${i}`);
  });
  report(`RedisDedupeStore claim+complete (concurrency ${CONCURRENCY})`, CLAIMS, ms, "keys");
  await redisStore.close();
  const redis = new Redis(redisServer.url);
  const prefix = unique("raw");
  ms = await concurrently(CLAIMS, async (i) => {
    if ((await redis.eval(CLAIM, 1, `${prefix}:key-${i}`, `t${i}`, 30_000, 600_000)) !== "claimed") throw new Error("not claimed");
    await redis.eval(COMPLETE, 1, `${prefix}:key-${i}`, `t${i}`);
  });
  report(`raw ioredis loop: EVAL claim + EVAL complete (concurrency ${CONCURRENCY})`, CLAIMS, ms, "keys");
  redis.disconnect();
} finally {
  await pool.end();
  await server.close();
  await engine.close();
  await redisServer.stop();
  await kafka?.stop();
  await postgres.stop();
}
fs.mkdirSync(path.join(root, "bench-results"), { recursive: true });
fs.writeFileSync(path.join(root, "bench-results/eo.json"), JSON.stringify({ rows: ROWS, claims: CLAIMS, concurrency: CONCURRENCY, results: rows }, null, 2));
console.log("wrote bench-results/eo.json");
