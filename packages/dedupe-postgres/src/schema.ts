import type pg from "pg";
import { inTransaction, tableName } from "./db.js";
import { toPgBrookError } from "./errors.js";

/**
 * The dedupe table (the inbox): one row per (scope, key). A row is a live claim (state
 * 'claimed', owned by `token`, until `expires_at`) or a completion (state 'done', remembered
 * until `expires_at`). An expired row is as good as absent: the next claim takes it over.
 */
export function dedupeSchema(table: string): string[] {
  const t = tableName(table, "table");
  return [
    `CREATE TABLE IF NOT EXISTS ${t.sql} (
      scope text NOT NULL,
      key text NOT NULL,
      state text NOT NULL CHECK (state IN ('claimed', 'done')),
      token text NOT NULL,
      ttl_ms bigint NOT NULL,
      expires_at timestamptz NOT NULL,
      PRIMARY KEY (scope, key))`,
    `CREATE INDEX IF NOT EXISTS "${t.plain}_expires" ON ${t.sql} (expires_at)`,
  ];
}

/**
 * The outbox table: one row per message, written in the application's transaction. The relay
 * publishes unsent rows in id order per key, marks them sent (or failed, for a message the
 * backend refuses for good) and prunes sent rows later. A statement trigger NOTIFYs the relay
 * when rows are inserted (delivered at commit).
 */
export function outboxSchema(table: string): string[] {
  const t = tableName(table, "table");
  return [
    `CREATE TABLE IF NOT EXISTS ${t.sql} (
      id bigserial PRIMARY KEY,
      topic text NOT NULL,
      key text,
      idempotency_key text,
      headers jsonb NOT NULL DEFAULT '{}'::jsonb,
      data bytea NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      attempts integer NOT NULL DEFAULT 0,
      sent_at timestamptz,
      failed_at timestamptz,
      last_error text)`,
    `CREATE INDEX IF NOT EXISTS "${t.plain}_pending" ON ${t.sql} (id) WHERE sent_at IS NULL AND failed_at IS NULL`,
    `CREATE INDEX IF NOT EXISTS "${t.plain}_pending_key" ON ${t.sql} (key, id) WHERE sent_at IS NULL AND failed_at IS NULL`,
    `CREATE INDEX IF NOT EXISTS "${t.plain}_sent" ON ${t.sql} (sent_at) WHERE sent_at IS NOT NULL`,
    `CREATE OR REPLACE FUNCTION "${t.plain}_notify"() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_notify('${notifyChannel(table)}', ''); RETURN NULL; END $$`,
    `CREATE OR REPLACE TRIGGER "${t.plain}_notify" AFTER INSERT ON ${t.sql} FOR EACH STATEMENT EXECUTE FUNCTION "${t.plain}_notify"()`,
  ];
}

/** The LISTEN/NOTIFY channel of an outbox table. */
export function notifyChannel(table: string): string {
  return `brook_outbox_${tableName(table, "table").plain}`.slice(0, 63);
}

/**
 * Creates tables idempotently. Serialized by a transaction-level advisory lock, since two
 * processes running CREATE TABLE IF NOT EXISTS at once can still collide in the catalog.
 */
export async function installSchema(pool: pg.Pool, statements: string[], what: string): Promise<void> {
  await inTransaction(pool, what, async (tx) => {
    try {
      await tx.query("SELECT pg_advisory_xact_lock(hashtext('brook:install'))");
      for (const statement of statements) await tx.query(statement);
    } catch (err) {
      throw toPgBrookError(err, what);
    }
  });
}
