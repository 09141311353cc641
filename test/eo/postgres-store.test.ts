/** @brook/dedupe-postgres on a real PostgreSQL: the dedupe store and the transactional inbox. */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import pg from "pg";
import { BrookError, connect, silentLogger, type ReceivedMessage } from "@brook/core";
import { PostgresDedupeStore, PostgresInbox } from "@brook/dedupe-postgres";
import "@brook/local-broker";
import { runDedupeStoreSuite, sleep, uniqueTopic, waitFor } from "@brook/contract-tests";
import { ownServer, startPostgresServer, uniqueName, usePostgres } from "./servers";

const pgUrl = usePostgres();
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});
let pool: pg.Pool;
beforeAll(() => {
  pool = new pg.Pool({ connectionString: pgUrl(), max: 8 });
  pool.on("error", () => undefined); // the shared server may stop before this pool ends (afterAll order)
});
afterAll(async () => pool.end());

async function store(options: ConstructorParameters<typeof PostgresDedupeStore>[1] = {}, db: string | pg.Pool = pool): Promise<PostgresDedupeStore> {
  const s = new PostgresDedupeStore(db, { table: uniqueName("dd"), ...options });
  await s.install();
  cleanups.push(() => s.close());
  return s;
}

/** A received message as a subscription hands it over (only what the inbox reads matters). */
function message(idempotencyKey: string | undefined, offset = "0"): ReceivedMessage<unknown> {
  return {
    id: offset, topic: "orders", data: null, headers: {}, publishTime: new Date(), deliveryAttempt: 1,
    position: { partition: "0", offset }, ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
  };
}

runDedupeStoreSuite("PostgresDedupeStore", ({ claimTimeoutMs }) => store({ claimTimeoutMs }));

describe("PostgresDedupeStore", () => {
  test("scopes sharing a table never see each other's keys; a done key expires after its ttl", async () => {
    const table = uniqueName("dd");
    const billing = await store({ table, scope: "billing" });
    const shipping = await store({ table, scope: "shipping" });
    expect(await billing.claim("order-1", 200, "w")).toBe("claimed");
    expect(await shipping.claim("order-1", 200, "w")).toBe("claimed");
    await billing.complete("order-1", "w");
    expect(await billing.claim("order-1", 200, "v")).toBe("done");
    await waitFor(async () => (await billing.claim("order-1", 200, "v")) === "claimed", 5_000, "the done key to expire");
  });

  test("bad arguments are typed: a bad table name, a bad URL, a missing table names install()", async () => {
    expect(() => new PostgresDedupeStore(pool, { table: "x; drop table y" })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    expect(() => new PostgresDedupeStore("mysql://x")).toThrow(expect.objectContaining({ code: "INVALID_URL" }));
    const s = new PostgresDedupeStore(pool, { table: uniqueName("missing") });
    await expect(s.claim("k", 1000, "w")).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/install\(\)/) });
  });
});

describe("PostgresInbox", () => {
  async function inbox(options: ConstructorParameters<typeof PostgresInbox>[1] = {}): Promise<{ inbox: PostgresInbox; effects: string }> {
    const i = new PostgresInbox(pool, { table: uniqueName("inbox"), ...options });
    await i.install();
    const effects = uniqueName("effects");
    await pool.query(`CREATE TABLE ${effects} (msg text NOT NULL)`); // no unique key: a repeat would show
    return { inbox: i, effects };
  }
  const count = async (effects: string): Promise<Record<string, number>> => {
    const r = await pool.query(`SELECT msg, count(*)::int AS n FROM ${effects} GROUP BY msg`);
    return Object.fromEntries((r.rows as { msg: string; n: number }[]).map((x) => [x.msg, x.n]));
  };

  test("the handler's write and the dedupe mark commit together; a redelivery is skipped without calling the work", async () => {
    const { inbox: i, effects } = await inbox();
    let calls = 0;
    const work = async (tx: pg.PoolClient): Promise<string> => {
      calls += 1;
      await tx.query(`INSERT INTO ${effects} VALUES ('m1')`);
      return "ok";
    };
    expect(await i.handle(message("order-1"), work)).toEqual({ duplicate: false, value: "ok" });
    expect(await i.handle(message("order-1"), work)).toEqual({ duplicate: true });
    expect(calls).toBe(1);
    expect(await count(effects)).toEqual({ m1: 1 });
    expect(await i.isDone("order-1")).toBe(true);
  });

  test("a handler that throws rolls back its writes and the mark: the retry runs and its effect is the only one", async () => {
    const { inbox: i, effects } = await inbox();
    const boom = new Error("boom");
    await expect(
      i.handle(message(undefined, "7"), async (tx) => {
        await tx.query(`INSERT INTO ${effects} VALUES ('m7')`);
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await count(effects)).toEqual({});
    expect(await i.isDone("orders@0:7")).toBe(false); // no idempotency key: topic + position
    await i.handle(message(undefined, "7"), async (tx) => void (await tx.query(`INSERT INTO ${effects} VALUES ('m7')`)));
    expect(await count(effects)).toEqual({ m7: 1 });
  });

  test("two workers handling the same key at once: the second waits for the first and sees it done; one effect", async () => {
    const { inbox: i, effects } = await inbox();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const inFirst = new Promise<void>((r) => (started = r));
    const first = i.handle(message("same"), async (tx) => {
      await tx.query(`INSERT INTO ${effects} VALUES ('same')`);
      started();
      await gate;
    });
    await inFirst;
    const second = i.handle(message("same"), async (tx) => void (await tx.query(`INSERT INTO ${effects} VALUES ('same')`)));
    await sleep(200);
    release();
    expect(await first).toEqual({ duplicate: false, value: undefined });
    expect(await second).toEqual({ duplicate: true });
    expect(await count(effects)).toEqual({ same: 1 });
  });

  test("inbox.handler() in a subscription: every message's effect once, redeliveries of handled messages skipped", async () => {
    const { inbox: i, effects } = await inbox();
    const broker = await connect("memory:", { logger: silentLogger });
    cleanups.push(() => broker.close());
    const topic = uniqueTopic("inbox");
    await broker.admin.createTopic(topic, { partitions: 2 });
    let failOnce = true;
    const sub = await broker.subscribe<number>(topic, {
      group: "g",
      startFrom: "earliest",
      retry: { minDelayMs: 10, maxDelayMs: 50 },
      handler: i.handler<number>(async (m, tx) => {
        await tx.query(`INSERT INTO ${effects} VALUES ($1)`, [String(m.data)]);
        if (m.data === 5 && failOnce) {
          failOnce = false;
          throw new Error("fails after its write: rolled back");
        }
      }),
    });
    cleanups.push(() => sub.close());
    const pub = broker.publisher<number>(topic);
    for (let n = 0; n < 20; n++) await pub.publish({ key: `k${n % 3}`, data: n });
    await waitFor(async () => Object.keys(await count(effects)).length === 20, 20_000, "20 effects");
    await waitFor(() => sub.stats().acked === 20, 20_000, "20 acks");
    const counts = await count(effects);
    expect(Object.values(counts).every((n) => n === 1)).toBe(true);
  });

  describe("with a PostgreSQL this test restarts", () => {
    let server: Awaited<ReturnType<typeof ownServer>> | undefined;
    afterAll(async () => server?.stop(), 60_000);

    test("claims and completions survive a crash (SIGKILL) of PostgreSQL; while it is down calls fail UNAVAILABLE", async () => {
      server = await ownServer(startPostgresServer);
      const s = await store({ claimTimeoutMs: 600_000 }, server.url);
      expect(await s.claim("live", 600_000, "w1")).toBe("claimed");
      expect(await s.claim("finished", 600_000, "w1")).toBe("claimed");
      await s.complete("finished", "w1");
      await server.down(true);
      const err = await s.claim("other", 60_000, "w2").then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(BrookError);
      expect(err).toMatchObject({ code: "UNAVAILABLE", retriable: true });
      await server.up();
      await waitFor(async () => s.claim("probe", 1000, "p").then(() => true, () => false), 30_000, "the store to reconnect");
      expect(await s.claim("live", 600_000, "w2")).toBe("busy");
      expect(await s.claim("finished", 600_000, "w2")).toBe("done");
      await s.complete("live", "w1");
    }, 90_000);

    test("an inbox subscription keeps going through a crash and restart of PostgreSQL: every message one effect, the outage surfaced to the retry as UNAVAILABLE", async () => {
      server ??= await ownServer(startPostgresServer);
      const db = new pg.Pool({ connectionString: server.url, max: 6, connectionTimeoutMillis: 2_000 });
      db.on("error", () => undefined);
      cleanups.push(() => db.end());
      const i = new PostgresInbox(db, { table: uniqueName("inbox") });
      await i.install();
      const effects = uniqueName("effects");
      await db.query(`CREATE TABLE ${effects} (msg text NOT NULL)`);
      const broker = await connect("memory:", { logger: silentLogger });
      cleanups.push(() => broker.close());
      const topic = uniqueTopic("inbox-restart");
      await broker.admin.createTopic(topic, { partitions: 2 });
      const errors: unknown[] = [];
      const work = i.handler<number>(async (m, tx) => void (await tx.query(`INSERT INTO ${effects} VALUES ($1)`, [String(m.data)])));
      const sub = await broker.subscribe<number>(topic, {
        group: "g",
        startFrom: "earliest",
        retry: { maxAttempts: 10_000, minDelayMs: 20, maxDelayMs: 300 },
        handler: async (m) => {
          try {
            await work(m);
          } catch (err) {
            errors.push(err);
            throw err;
          }
        },
      });
      cleanups.push(() => sub.close());
      const pub = broker.publisher<number>(topic);
      const total = 120;
      for (let n = 0; n < total; n++) {
        if (n === 50) await server.down(true);
        if (n === 80) await server.up();
        await pub.publish({ key: `k${n % 5}`, idempotencyKey: `m-${n}`, data: n });
        if (n === 50) await sleep(300); // deliveries meet the dead server
      }
      await waitFor(() => sub.stats().acked === total, 60_000, `${total} acks`);
      const r = await db.query(`SELECT msg, count(*)::int AS n FROM ${effects} GROUP BY msg`);
      expect(r.rows).toHaveLength(total);
      expect((r.rows as { n: number }[]).every((x) => x.n === 1)).toBe(true);
      expect(errors.length).toBeGreaterThan(0);
      for (const e of errors) expect(e).toMatchObject({ code: "UNAVAILABLE", retriable: true });
    }, 120_000);
  });
});
