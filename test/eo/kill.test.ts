/**
 * Exactly one effect per business row while the application is SIGKILLed over and over: a
 * producer process (business row + outbox row in one transaction, an in-process relay) dies
 * before its COMMIT, between the COMMIT and the publish, and between the publish and marking
 * the rows sent; a consumer process (PostgresInbox) dies between its handler's write and the
 * commit, and between the commit and the ack. The broker (brook:// server in this process,
 * memory engine) and PostgreSQL stay up. After the kills, one clean relay and one clean consumer
 * finish the work; then every order has exactly one effect row, and none is missing.
 */
import { execFileSync, spawn } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import pg from "pg";
import { connect, silentLogger, type Broker } from "@brook/core";
import { OutboxRelay, Outbox, PostgresInbox } from "@brook/dedupe-postgres";
import { startServer, type BrookServer } from "@brook/local-broker";
import { LogEngine, MemoryStore } from "@brook/local-broker/engine";
import { uniqueTopic, waitFor } from "@brook/contract-tests";
import { uniqueName, usePostgres } from "./servers";

const ROOT = path.resolve(__dirname, "..", "..");
const KILLS_PER_SIDE = Number(process.env.BROOK_EO_KILLS ?? 26); // 52 in all: the issue asks for >= 50
const pgUrl = usePostgres();
let engine: LogEngine;
let server: BrookServer;
let pool: pg.Pool;
let broker: Broker;

beforeAll(() => {
  // The children run the compiled packages.
  execFileSync(process.execPath, [path.join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-b"], { cwd: ROOT, stdio: "inherit" });
}, 180_000);
beforeAll(async () => {
  engine = await LogEngine.open(new MemoryStore());
  // A short session: a killed consumer's partitions move on quickly (its socket closes at once anyway).
  server = await startServer({ engine, port: 0, sessionTimeoutMs: 1_500, logger: silentLogger });
  broker = await connect(server.url, { logger: silentLogger });
  pool = new pg.Pool({ connectionString: pgUrl(), max: 6 });
  pool.on("error", () => undefined); // the shared server may stop before this pool ends (afterAll order)
});
afterAll(async () => {
  await broker?.close();
  await server?.close();
  await engine?.close();
  await pool?.end();
});

interface Life {
  signal: NodeJS.Signals | null;
  lines: string[];
  stderr: string;
}

/** Runs one child until it exits; kills it after `maxMs` if it has not died by itself by then. */
function life(args: Record<string, unknown>, maxMs: number): Promise<Life> {
  const t0 = Date.now();
  const child = spawn(process.execPath, [path.join(__dirname, "eo-child.mjs"), JSON.stringify(args)], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), maxMs);
  return new Promise((resolve) => {
    // "close": the process exited and its output pipes are drained.
    child.on("close", (_code, signal) => {
      clearTimeout(timer);
      if (process.env.BROOK_EO_TRACE) process.stderr.write(`${String(args.mode)} ${String(args.killAt)}/${String(args.killAfter)}: ${signal ?? "exit"} after ${Date.now() - t0} ms\n`);
      resolve({ signal, lines: stdout.split("\n").filter(Boolean), stderr });
    });
  });
}

const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)]!;
const between = (lo: number, hi: number): number => lo + Math.floor(Math.random() * (hi - lo + 1));

test(`${2 * KILLS_PER_SIDE} SIGKILLs between commit and publish and between write and ack: every order has exactly one effect`, async () => {
  const topic = uniqueTopic("eo-kill");
  await broker.admin.createTopic(topic, { partitions: 3 });
  const ordersTable = uniqueName("orders");
  const effects = uniqueName("effects");
  const outboxTable = uniqueName("outbox");
  const inboxTable = uniqueName("inbox");
  const group = "billing";
  await pool.query(`CREATE TABLE ${ordersTable} (id bigserial PRIMARY KEY, customer text NOT NULL)`);
  await pool.query(`CREATE TABLE ${effects} (order_id bigint NOT NULL)`); // no unique key: a repeated effect would show
  await new Outbox({ table: outboxTable }).install(pool);
  const inbox = new PostgresInbox(pool, { table: inboxTable, scope: group });
  await inbox.install();
  const base = { pg: pgUrl(), brook: server.url, topic, ordersTable, effects, outbox: outboxTable, inbox: inboxTable, group };

  // Producers: each life writes up to 12 orders and dies at a random point.
  const kills: Record<string, number> = {};
  const pubIds: string[] = [];
  let producerKills = 0;
  for (let i = 0; producerKills < KILLS_PER_SIDE && i < KILLS_PER_SIDE * 3; i++) {
    const killAt = pick(["mid-tx", "after-commit", "after-publish"]);
    const l = await life({ ...base, mode: "producer", orders: 12, killAt, killAfter: between(1, killAt === "after-publish" ? 2 : 10) }, 15_000);
    expect(l.stderr).toBe("");
    pubIds.push(...l.lines.filter((x) => x.startsWith("PUB ")).map((x) => x.slice(4)));
    if (l.signal === "SIGKILL") {
      producerKills += 1;
      kills[`producer ${killAt}`] = (kills[`producer ${killAt}`] ?? 0) + 1;
    }
  }
  expect(producerKills).toBe(KILLS_PER_SIDE);

  // Consumers: each life handles a few messages and dies at a random point.
  let duplicates = 0;
  let consumerKills = 0;
  for (let i = 0; consumerKills < KILLS_PER_SIDE && i < KILLS_PER_SIDE * 3; i++) {
    const killAt = pick(["in-tx", "before-ack"]);
    const l = await life({ ...base, mode: "consumer", killAt, killAfter: between(1, 4) }, 5_000);
    expect(l.stderr).toBe("");
    duplicates += l.lines.filter((x) => x.startsWith("DUP ")).length;
    if (l.signal === "SIGKILL") {
      consumerKills += 1;
      kills[`consumer ${killAt}`] = (kills[`consumer ${killAt}`] ?? 0) + 1;
    }
  }
  expect(consumerKills).toBe(KILLS_PER_SIDE);

  // A clean relay and a clean consumer finish what the dead ones left.
  const relay = new OutboxRelay({ db: pool, to: broker, table: outboxTable, onPublished: (rows) => void pubIds.push(...rows.map((r) => r.id)) });
  try {
    await relay.drain();
  } finally {
    await relay.close();
  }
  const orders = ((await pool.query(`SELECT id FROM ${ordersTable}`)).rows as { id: string }[]).map((r) => r.id);
  const effectCount = async (): Promise<number> => (await pool.query(`SELECT count(*)::int AS n FROM ${effects}`)).rows[0].n as number;
  const sub = await broker.subscribe<{ order: string }>(topic, {
    group, startFrom: "earliest", ordering: "key",
    handler: inbox.handler(async (m, tx) => void (await tx.query(`INSERT INTO ${effects} (order_id) VALUES ($1)`, [m.data.order]))),
  });
  try {
    await waitFor(async () => (await effectCount()) >= orders.length, 60_000, `${orders.length} effects`);
  } finally {
    await sub.close();
  }

  const perOrder = (await pool.query(`SELECT order_id::text AS id, count(*)::int AS n FROM ${effects} GROUP BY order_id`)).rows as { id: string; n: number }[];
  expect(perOrder.filter((r) => r.n !== 1)).toEqual([]); // no order has two effects
  expect(perOrder.map((r) => r.id).sort()).toEqual([...orders].sort()); // no order lost, none invented
  expect((await pool.query(`SELECT count(*)::int AS n FROM ${outboxTable} WHERE sent_at IS NULL`)).rows[0].n).toBe(0);
  // The kills really hit the windows: rows were published again after a relay died before marking
  // them sent, and messages were delivered again after a consumer died before its ack.
  expect(orders.length).toBeGreaterThan(KILLS_PER_SIDE);
  const republished = pubIds.length - new Set(pubIds).size;
  if ((kills["producer after-publish"] ?? 0) > 0) expect(republished).toBeGreaterThan(0);
  if ((kills["consumer before-ack"] ?? 0) > 0) expect(duplicates).toBeGreaterThan(0);
  process.stdout.write(`eo kill test: ${orders.length} orders, kills ${JSON.stringify(kills)}, relay publishes ${pubIds.length} (${republished} repeats), inbox duplicates skipped ${duplicates}\n`);
}, 300_000);
