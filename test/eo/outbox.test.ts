/** The transactional outbox of @brook/dedupe-postgres on a real PostgreSQL, relayed onto the local broker. */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import pg from "pg";
import { BrookError, connect, silentLogger, type Broker, type ReceivedMessage } from "@brook/core";
import { Outbox, OutboxRelay, type RelayedRow } from "@brook/dedupe-postgres";
import "@brook/local-broker";
import { uniqueTopic, waitFor } from "@brook/contract-tests";
import { ownServer, startPostgresServer, uniqueName, usePostgres } from "./servers";

const pgUrl = usePostgres();
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});
let pool: pg.Pool;
beforeAll(() => {
  pool = new pg.Pool({ connectionString: pgUrl(), max: 12 });
  pool.on("error", () => undefined); // the shared server may stop before this pool ends (afterAll order)
});
afterAll(async () => pool.end());

async function setup(db: pg.Pool = pool): Promise<{ outbox: Outbox<unknown>; table: string; broker: Broker; topic: string }> {
  const table = uniqueName("outbox");
  const outbox = new Outbox({ table });
  await outbox.install(db);
  const broker = await connect("memory:", { logger: silentLogger });
  cleanups.push(() => broker.close());
  const topic = uniqueTopic("outbox");
  await broker.admin.createTopic(topic, { partitions: 3 });
  return { outbox, table, broker, topic };
}

async function inTx<R>(db: pg.Pool, fn: (tx: pg.PoolClient) => Promise<R>): Promise<R> {
  const tx = await db.connect();
  try {
    await tx.query("BEGIN");
    const r = await fn(tx);
    await tx.query("COMMIT");
    return r;
  } catch (err) {
    await tx.query("ROLLBACK");
    throw err;
  } finally {
    tx.release();
  }
}

/** Everything on the topic so far, read by a fresh group from the start. */
async function readAll(broker: Broker, topic: string, expected: number): Promise<ReceivedMessage<unknown>[]> {
  const got: ReceivedMessage<unknown>[] = [];
  const sub = await broker.subscribe(topic, { group: uniqueName("reader"), startFrom: "earliest", handler: async (m) => void got.push(m) });
  try {
    await waitFor(() => got.length >= expected, 20_000, `${expected} messages on ${topic}`);
  } finally {
    await sub.close();
  }
  return got;
}

describe("Outbox + OutboxRelay", () => {
  test("a message exists exactly when the app's transaction commits; the relay publishes it with key, headers, content-type and the row id as idempotency key, marks it sent, prunes it", async () => {
    const { outbox, table, broker, topic } = await setup();
    await expect(
      inTx(pool, async (tx) => {
        await outbox.enqueue(tx, topic, { key: "cust-1", data: { order: "rolled-back" } });
        throw new Error("the business write failed");
      }),
    ).rejects.toThrow("the business write failed");
    const id = await inTx(pool, (tx) => outbox.enqueue(tx, topic, { key: "cust-1", data: { order: 1 }, headers: { source: "web" } }));
    const own = await inTx(pool, (tx) => outbox.enqueue(tx, topic, { data: "text", idempotencyKey: "order-2" }));
    expect(BigInt(own)).toBeGreaterThan(BigInt(id));

    const relay = new OutboxRelay({ db: pool, to: broker, table, retainSentMs: 0 });
    cleanups.push(() => relay.close());
    expect(await relay.drain()).toBe(2);
    expect(await relay.drain()).toBe(0);
    const got = await readAll(broker, topic, 2);
    const byIdem = new Map(got.map((m) => [m.idempotencyKey, m]));
    expect([...byIdem.keys()].sort()).toEqual([`${table}:${id}`, "order-2"].sort());
    expect(byIdem.get(`${table}:${id}`)).toMatchObject({ key: "cust-1", data: { order: 1 }, headers: expect.objectContaining({ source: "web" }) });
    expect(byIdem.get("order-2")!.data).toBe("text");
    expect(got).toHaveLength(2); // the rolled-back message never appeared
    const rows = await pool.query(`SELECT count(*)::int AS n FROM ${table} WHERE sent_at IS NOT NULL`);
    expect(rows.rows[0].n).toBe(2);
    expect(await relay.prune()).toBe(2);
    expect((await pool.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n).toBe(0);
  });

  test("LISTEN/NOTIFY wakes a running relay at commit: delivered long before its 60 s poll", async () => {
    const { outbox, table, broker, topic } = await setup();
    const relay = new OutboxRelay({ db: pool, to: broker, table, pollIntervalMs: 60_000 });
    cleanups.push(() => relay.close());
    await relay.start();
    await waitFor(() => relay.stats.rounds >= 1, 10_000, "the relay's first round");
    const got: unknown[] = [];
    const sub = await broker.subscribe(topic, { group: "g", startFrom: "earliest", handler: async (m) => void got.push(m.data) });
    cleanups.push(() => sub.close());
    for (let n = 0; n < 3; n++) {
      const t0 = Date.now();
      await inTx(pool, (tx) => outbox.enqueue(tx, topic, { key: "k", data: n }));
      await waitFor(() => got.length === n + 1, 10_000, `message ${n}`);
      expect(Date.now() - t0).toBeLessThan(10_000);
    }
    expect(got).toEqual([0, 1, 2]);
  });

  test("two relays and two consumers racing: the relays share the work, no row is published twice, every key arrives in order", async () => {
    const { outbox, table, broker, topic } = await setup();
    const keys = 24;
    const perKey = 60;
    const published: RelayedRow[] = [];
    const errors: BrookError[] = [];
    const relays = [0, 1].map(
      () =>
        new OutboxRelay({
          db: pool, to: broker, table, batchSize: 40, maxKeysPerRound: 6, pollIntervalMs: 50,
          onPublished: (rows) => void published.push(...rows),
          onError: (e) => void errors.push(e),
        }),
    );
    for (const r of relays) cleanups.push(() => r.close());
    const seen = new Map<string, number[]>();
    const handler = async (m: ReceivedMessage<{ key: string; seq: number }>): Promise<void> => {
      const list = seen.get(m.data.key) ?? [];
      list.push(m.data.seq);
      seen.set(m.data.key, list);
    };
    const subs = await Promise.all([0, 1].map(() => broker.subscribe(topic, { group: "consumers", startFrom: "earliest", ordering: "key", handler })));
    for (const s of subs) cleanups.push(() => s.close());
    await Promise.all(relays.map((r) => r.start()));
    // Four writers, each owning six keys, commit one row per transaction while the relays run.
    await Promise.all(
      [0, 1, 2, 3].map(async (w) => {
        for (let seq = 0; seq < perKey; seq++) {
          await inTx(pool, async (tx) => {
            for (let k = w; k < keys; k += 4) await outbox.enqueue(tx, topic, { key: `key-${k}`, data: { key: `key-${k}`, seq } });
          });
        }
      }),
    );
    const total = keys * perKey;
    await waitFor(() => [...seen.values()].reduce((n, l) => n + l.length, 0) >= total, 60_000, `${total} deliveries`);
    // A round counts its rows after its COMMIT, which may follow the consumers' deliveries.
    await waitFor(() => relays[0]!.stats.published + relays[1]!.stats.published >= total, 10_000, "the relays' last commits");
    expect(errors).toEqual([]);
    expect(published).toHaveLength(total);
    expect(new Set(published.map((r) => r.id)).size).toBe(total);
    expect(relays[0]!.stats.published).toBeGreaterThan(0);
    expect(relays[1]!.stats.published).toBeGreaterThan(0);
    expect(relays[0]!.stats.published + relays[1]!.stats.published).toBe(total);
    expect(relays[0]!.stats.duplicates + relays[1]!.stats.duplicates).toBe(0);
    for (let k = 0; k < keys; k++) expect(seen.get(`key-${k}`)).toEqual(Array.from({ length: perKey }, (_, i) => i));
    expect(subs[0]!.stats().acked).toBeGreaterThan(0);
    expect(subs[1]!.stats().acked).toBeGreaterThan(0);
    const pending = await pool.query(`SELECT count(*)::int AS n FROM ${table} WHERE sent_at IS NULL`);
    expect(pending.rows[0].n).toBe(0);
  }, 120_000);

  test("bad input is typed and names the field", async () => {
    const { outbox, table, broker } = await setup();
    const tx = await pool.connect();
    try {
      await expect(outbox.enqueue(tx, "", { data: 1 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/topic/) });
      await expect(outbox.enqueue(tx, "t", { key: "", data: 1 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/key/) });
      await expect(outbox.enqueue(tx, "t", { data: 1, headers: { h: 2 as unknown as string } })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/headers\.h/) });
      await expect(new Outbox({ table: uniqueName("missing") }).enqueue(tx, "t", { data: 1 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/install\(\)/) });
    } finally {
      tx.release();
    }
    expect(() => new Outbox({ table: "a b" })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    expect(() => new OutboxRelay({ db: pool, to: broker, table, batchSize: 0 })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/batchSize/) }));
    expect(() => new OutboxRelay({ db: "mysql://x", to: broker })).toThrow(expect.objectContaining({ code: "INVALID_URL" }));
  });

  describe("with a PostgreSQL this test crashes and restarts", () => {
    let server: Awaited<ReturnType<typeof ownServer>> | undefined;
    afterAll(async () => server?.stop(), 60_000);

    test("the outbox survives a crash of PostgreSQL mid-run: the relay reports typed, retriable errors, carries on after the restart, and every committed row arrives once", async () => {
      server = await ownServer(startPostgresServer);
      const db = new pg.Pool({ connectionString: server.url, max: 6, connectionTimeoutMillis: 2_000 });
      db.on("error", () => undefined); // idle clients die with the server; the next query fails typed
      cleanups.push(() => db.end());
      const { outbox, table, broker, topic } = await setup(db);
      const errors: BrookError[] = [];
      const relay = new OutboxRelay({ db, to: broker, table, pollIntervalMs: 100, onError: (e) => void errors.push(e) });
      cleanups.push(() => relay.close());
      const got: string[] = [];
      const sub = await broker.subscribe(topic, { group: "g", startFrom: "earliest", handler: async (m) => void got.push(m.idempotencyKey!) });
      cleanups.push(() => sub.close());
      const committed: string[] = [];
      const enqueue = async (n: number): Promise<void> => {
        const ids = await inTx(db, (tx) => outbox.enqueueBatch(tx, topic, Array.from({ length: n }, (_, i) => ({ key: `k${i % 4}`, data: i }))));
        committed.push(...ids.map((id) => `${table}:${id}`));
      };
      await enqueue(50);
      await relay.start();
      await waitFor(() => got.length >= 50, 20_000, "the first 50");
      await enqueue(50); // committed; the crash may come before or during their relay
      await server.down(true);
      await waitFor(() => errors.length > 0, 20_000, "the relay to report the outage");
      await server.up();
      await waitFor(async () => enqueue(50).then(() => true, () => false), 30_000, "a write after the restart");
      await waitFor(() => new Set(got).size >= committed.length, 30_000, `${committed.length} messages after the restart`);
      expect(new Set(got)).toEqual(new Set(committed));
      expect(got).toHaveLength(committed.length); // the broker's publish dedupe caught any republish
      for (const e of errors) {
        expect(e).toBeInstanceOf(BrookError);
        expect(e.retriable).toBe(true);
      }
      expect(errors.some((e) => e.code === "UNAVAILABLE")).toBe(true);
    }, 120_000);
  });
});
