/**
 * The PostgreSQL outbox relayed onto the real Kafka broker, unchanged: per-key order, the row id
 * as the idempotency key, and two relays sharing the work without publishing a row twice.
 * Kafka has no publish dedupe, so this also shows what the inbox is for: the count of
 * messages on the topic equals the count of rows only because no relay died mid-round here.
 */
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import pg from "pg";
import { connect, silentLogger, type Broker, type BrookError } from "@brook/core";
import "@brook/adapter-kafka";
import { Outbox, OutboxRelay } from "@brook/dedupe-postgres";
import { uniqueTopic, waitFor } from "@brook/contract-tests";
import { useKafkaBroker } from "./broker.js";
import { uniqueName, usePostgres } from "../eo/servers";

const kafka = useKafkaBroker();
const pgUrl = usePostgres();
let broker: Broker;
let pool: pg.Pool;

beforeAll(async () => {
  broker = await connect(kafka.url("clientId=outbox-relay-test"), { logger: silentLogger });
  pool = new pg.Pool({ connectionString: pgUrl(), max: 8 });
  pool.on("error", () => undefined); // the shared server may stop before this pool ends (afterAll order)
});
afterAll(async () => {
  await broker?.close();
  await pool?.end();
});
afterAll(() => kafka.stop(), 30_000);

test("two relays onto Kafka: every row once, in order per key, with <table>:<id> as idempotency key", async () => {
  const table = uniqueName("outbox");
  const topic = uniqueTopic("outbox-kafka");
  await broker.admin.createTopic(topic, { partitions: 3 });
  const outbox = new Outbox({ table });
  await outbox.install(pool);
  const keys = 8;
  const perKey = 40;
  const ids: string[] = [];
  for (let seq = 0; seq < perKey; seq++) {
    const tx = await pool.connect();
    try {
      await tx.query("BEGIN");
      ids.push(...(await outbox.enqueueBatch(tx, topic, Array.from({ length: keys }, (_, k) => ({ key: `key-${k}`, data: { k, seq } })))));
      await tx.query("COMMIT");
    } finally {
      tx.release();
    }
  }
  const errors: BrookError[] = [];
  const relays = [0, 1].map(() => new OutboxRelay({ db: pool, to: broker, table, batchSize: 30, maxKeysPerRound: 3, pollIntervalMs: 50, onError: (e) => void errors.push(e) }));
  const seen = new Map<number, number[]>();
  const idem: string[] = [];
  const sub = await broker.subscribe<{ k: number; seq: number }>(topic, {
    group: uniqueName("g"),
    startFrom: "earliest",
    ordering: "key",
    handler: async (m) => {
      seen.set(m.data.k, [...(seen.get(m.data.k) ?? []), m.data.seq]);
      idem.push(m.idempotencyKey!);
    },
  });
  try {
    await Promise.all(relays.map((r) => r.start()));
    await waitFor(() => idem.length >= keys * perKey, 60_000, `${keys * perKey} messages`);
    await waitFor(() => relays[0]!.stats.published + relays[1]!.stats.published >= keys * perKey, 10_000, "the relays' last commits");
  } finally {
    await sub.close();
    for (const r of relays) await r.close();
  }
  expect(errors).toEqual([]);
  expect(relays[0]!.stats.published + relays[1]!.stats.published).toBe(keys * perKey);
  expect([...idem].sort()).toEqual(ids.map((id) => `${table}:${id}`).sort());
  for (let k = 0; k < keys; k++) expect(seen.get(k)).toEqual(Array.from({ length: perKey }, (_, i) => i));
}, 120_000);
