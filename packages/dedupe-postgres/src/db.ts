import pg from "pg";
import { BrookError } from "@brook/core";
import { isConnectionLoss, toPgBrookError } from "./errors.js";

/** What the packages need of a connection: pg's Pool, Client and PoolClient all fit. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<pg.QueryResult>;
}

/**
 * A pool from a postgres:// URL (owned: ended by the caller's close) or the caller's own pool.
 * An owned pool swallows nothing: idle clients that die (a server restart) are dropped by pg
 * and the next query fails with a typed error; without this handler pg would crash the process.
 */
export function openPool(db: string | pg.Pool, what: string): { pool: pg.Pool; owned: boolean } {
  if (typeof db !== "string") {
    if (db === null || typeof (db as { connect?: unknown }).connect !== "function") {
      throw new BrookError("INVALID_ARGUMENT", `${what} db: expected a postgres:// URL or a pg.Pool`);
    }
    return { pool: db, owned: false };
  }
  if (!/^postgres(ql)?:\/\//.test(db)) throw new BrookError("INVALID_URL", `${what} db: expected a postgres:// URL, got "${db}"`);
  const pool = new pg.Pool({ connectionString: db, max: 10, connectionTimeoutMillis: 5_000, idleTimeoutMillis: 30_000 });
  pool.on("error", () => undefined);
  return { pool, owned: true };
}

const guarded = new WeakSet<pg.PoolClient>();
const ignoreClientError = (): void => undefined;

/**
 * Runs `fn` on a client checked out of `pool`, guarding it against the error event pg emits
 * when the connection dies between queries (unhandled, it would crash the process), and
 * discarding a client whose connection was lost instead of returning it to the pool.
 */
export async function withClient<R>(pool: pg.Pool, what: string, fn: (client: pg.PoolClient) => Promise<R>): Promise<R> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw toPgBrookError(err, what);
  }
  let lost: Error | undefined;
  const onError = (err: Error): void => void (lost ??= err);
  // Every client this package checks out keeps one listener for good: the server's last words
  // (57P01 after a crash) can arrive when no query is active and, with no listener, pg's 'error'
  // event would crash the process. Nothing is lost by it: the next query on that client fails
  // typed, and a lost client is discarded below.
  if (!guarded.has(client)) {
    guarded.add(client);
    client.on("error", ignoreClientError);
  }
  client.on("error", onError);
  try {
    return await fn(client);
  } catch (err) {
    if (isConnectionLoss(err)) lost ??= err instanceof Error ? err : new Error(String(err));
    throw err;
  } finally {
    client.off("error", onError);
    client.release(lost);
  }
}

/** `fn` in a transaction on a checked-out client: COMMIT when it resolves, ROLLBACK when it throws. */
export async function inTransaction<R>(pool: pg.Pool, what: string, fn: (tx: pg.PoolClient) => Promise<R>, setup: string[] = []): Promise<R> {
  return withClient(pool, what, async (client) => {
    try {
      await client.query("BEGIN");
      for (const statement of setup) await client.query(statement);
    } catch (err) {
      throw toPgBrookError(err, what);
    }
    let result: R;
    try {
      result = await fn(client);
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined); // a lost connection rolls back by itself
      throw err;
    }
    try {
      await client.query("COMMIT");
    } catch (err) {
      throw toPgBrookError(err, `${what} (COMMIT: outcome unknown if the connection was lost)`);
    }
    return result;
  });
}

/** "schema.table" or "table", each part quoted; anything else is INVALID_ARGUMENT. */
export function tableName(name: string, field: string): { sql: string; plain: string } {
  if (typeof name !== "string" || !/^([A-Za-z_][A-Za-z0-9_]{0,40}\.)?[A-Za-z_][A-Za-z0-9_]{0,40}$/.test(name)) {
    throw new BrookError("INVALID_ARGUMENT", `${field}: expected a table name (letters, digits, _; optionally schema.table), got ${JSON.stringify(name)}`);
  }
  return { sql: name.split(".").map((p) => `"${p}"`).join("."), plain: name.replace(".", "_") };
}

export function positiveInt(value: number | undefined, fallback: number, field: string, min = 1): number {
  if (value === undefined) return fallback;
  if (!(Number.isInteger(value) && value >= min)) throw new BrookError("INVALID_ARGUMENT", `${field}: expected an integer >= ${min}, got ${String(value)}`);
  return value;
}
