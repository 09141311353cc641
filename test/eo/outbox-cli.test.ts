/** `brook outbox relay` (the built CLI) publishing a PostgreSQL outbox to a brook:// server. */
import { execFile, execFileSync } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import pg from "pg";
import { connect, silentLogger, type Broker } from "@brook/core";
import { Outbox } from "@brook/dedupe-postgres";
import { startServer, type BrookServer } from "@brook/local-broker";
import { LogEngine, MemoryStore } from "@brook/local-broker/engine";
import { uniqueTopic, waitFor } from "@brook/contract-tests";
import { uniqueName, usePostgres } from "./servers";

const ROOT = path.resolve(__dirname, "..", "..");
const CLI = path.join(ROOT, "packages/cli/dist/main.js");
const pgUrl = usePostgres();
let engine: LogEngine;
let server: BrookServer;
let broker: Broker;
let pool: pg.Pool;

beforeAll(async () => {
  execFileSync(process.execPath, [path.join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-b"], { cwd: ROOT, stdio: "inherit" });
  engine = await LogEngine.open(new MemoryStore());
  server = await startServer({ engine, port: 0, logger: silentLogger });
  broker = await connect(server.url, { logger: silentLogger });
  pool = new pg.Pool({ connectionString: pgUrl(), max: 2 });
  pool.on("error", () => undefined); // the shared server may stop before this pool ends (afterAll order)
}, 180_000);
afterAll(async () => {
  await broker?.close();
  await server?.close();
  await engine?.close();
  await pool?.end();
});

function brook(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stdout, stderr });
    });
  });
}

test("brook outbox relay --once publishes the pending rows in order per key; a bad --db is a typed error", async () => {
  const table = uniqueName("outbox");
  const topic = uniqueTopic("cli-outbox");
  await broker.admin.createTopic(topic, { partitions: 2 });
  const outbox = new Outbox({ table });
  await outbox.install(pool);
  const tx = await pool.connect();
  try {
    await tx.query("BEGIN");
    for (let n = 0; n < 6; n++) await outbox.enqueue(tx, topic, { key: `k${n % 2}`, data: { n } });
    await tx.query("COMMIT");
  } finally {
    tx.release();
  }
  const r = await brook(["outbox", "relay", "--db", pgUrl(), "--to", server.url, "--table", table, "--once"]);
  expect(r).toMatchObject({ code: 0, stdout: "6 published\n" });
  const got: Array<[string | undefined, number]> = [];
  const sub = await broker.subscribe<{ n: number }>(topic, { group: "g", startFrom: "earliest", handler: async (m) => void got.push([m.key, m.data.n]) });
  try {
    await waitFor(() => got.length >= 6, 10_000, "6 messages");
  } finally {
    await sub.close();
  }
  expect(got.filter(([k]) => k === "k0").map(([, n]) => n)).toEqual([0, 2, 4]);
  expect(got.filter(([k]) => k === "k1").map(([, n]) => n)).toEqual([1, 3, 5]);
  expect(await brook(["outbox", "relay", "--db", pgUrl(), "--to", server.url, "--table", table, "--once"])).toMatchObject({ code: 0, stdout: "0 published\n" });

  const bad = await brook(["outbox", "relay", "--db", "mysql://x", "--to", server.url, "--once"]);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/^error INVALID_URL: .*db/);
}, 120_000);
