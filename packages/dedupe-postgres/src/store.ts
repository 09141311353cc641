import type pg from "pg";
import { BrookError, type ClaimResult, type DedupeStore } from "@brook/core";
import { openPool, positiveInt, tableName } from "./db.js";
import { toPgBrookError } from "./errors.js";
import { dedupeSchema, installSchema } from "./schema.js";

export interface PostgresDedupeOptions {
  /** the dedupe table (default "brook_dedupe"); install() creates it */
  table?: string;
  /** keys of one consumer (e.g. its group name): consumers sharing a table never see each other's keys (default "default") */
  scope?: string;
  /** how long an abandoned claim blocks its key (default 30 s); longer than your slowest handler */
  claimTimeoutMs?: number;
}

/** The SQL of one dedupe table, shared by the store and the transactional inbox. */
export class DedupeTable {
  readonly sql: string;
  readonly scope: string;
  readonly claimTimeoutMs: number;
  readonly claimSql: string;
  readonly completeSql: string;
  readonly releaseSql: string;
  readonly claimDoneSql: string;
  readonly stateSql: string;
  readonly pruneSql: string;

  constructor(readonly table: string, options: PostgresDedupeOptions) {
    this.sql = tableName(table, "table").sql;
    this.scope = options.scope ?? "default";
    if (typeof this.scope !== "string") throw new BrookError("INVALID_ARGUMENT", "scope: expected a string");
    this.claimTimeoutMs = positiveInt(options.claimTimeoutMs, 30_000, "claimTimeoutMs");
    const t = this.sql;
    // Times are the server's clock_timestamp(): every worker agrees on when a claim expired,
    // whatever their own clocks say. An expired row (claim or completion) is taken over.
    // The outer SELECT reads the row as it was before this statement: its state says why
    // the insert did not take it ("done" or a live claim: "busy"); no row at all means a
    // concurrent claim committed meanwhile, also "busy".
    this.claimSql = `WITH taken AS (
        INSERT INTO ${t} AS d (scope, key, state, token, ttl_ms, expires_at)
        VALUES ($1, $2, 'claimed', $3, $4, clock_timestamp() + $5::float8 * interval '1 millisecond')
        ON CONFLICT (scope, key) DO UPDATE SET state = 'claimed', token = EXCLUDED.token, ttl_ms = EXCLUDED.ttl_ms, expires_at = EXCLUDED.expires_at
        WHERE d.expires_at <= clock_timestamp()
        RETURNING 1)
      SELECT (SELECT count(*) FROM taken)::int AS claimed, (SELECT state FROM ${t} WHERE scope = $1 AND key = $2) AS state`;
    this.completeSql = `UPDATE ${t} SET state = 'done',
        expires_at = CASE WHEN state = 'claimed' THEN clock_timestamp() + ttl_ms * interval '1 millisecond' ELSE expires_at END
      WHERE scope = $1 AND key = $2 AND token = $3 AND ((state = 'claimed' AND expires_at > clock_timestamp()) OR state = 'done')`;
    this.releaseSql = `DELETE FROM ${t} WHERE scope = $1 AND key = $2 AND state = 'claimed' AND token = $3`;
    // The transactional inbox writes "done" at once, inside the handler's transaction: until
    // it commits, the uncommitted row is the claim (others wait on it or see "busy").
    this.claimDoneSql = `INSERT INTO ${t} AS d (scope, key, state, token, ttl_ms, expires_at)
        VALUES ($1, $2, 'done', $3, $4::bigint, clock_timestamp() + $4::bigint * interval '1 millisecond')
        ON CONFLICT (scope, key) DO UPDATE SET state = 'done', token = EXCLUDED.token, ttl_ms = EXCLUDED.ttl_ms, expires_at = EXCLUDED.expires_at
        WHERE d.expires_at <= clock_timestamp()
        RETURNING 1`;
    this.stateSql = `SELECT state FROM ${t} WHERE scope = $1 AND key = $2 AND expires_at > clock_timestamp()`;
    this.pruneSql = `DELETE FROM ${t} WHERE ctid IN (SELECT ctid FROM ${t} WHERE expires_at < clock_timestamp() - interval '1 minute' LIMIT $1)`;
  }
}

/**
 * A durable DedupeStore on PostgreSQL: `claim → complete | release` with an expiring claim
 * owned by the caller's token (FENCED when a late complete finds it expired or taken over).
 * For a handler whose effects are in the same database, PostgresInbox is stronger: the
 * completion commits in the handler's own transaction.
 */
export class PostgresDedupeStore implements DedupeStore {
  readonly pool: pg.Pool;
  private readonly owned: boolean;
  private readonly t: DedupeTable;

  /** `db`: a postgres:// URL (the store makes and ends its pool) or your pg.Pool. */
  constructor(db: string | pg.Pool, options: PostgresDedupeOptions = {}) {
    this.t = new DedupeTable(options.table ?? "brook_dedupe", options);
    const { pool, owned } = openPool(db, "PostgresDedupeStore");
    this.pool = pool;
    this.owned = owned;
  }

  /** Creates the table if it is missing (idempotent, safe from several processes at once). */
  async install(): Promise<void> {
    await installSchema(this.pool, dedupeSchema(this.t.table), `install of dedupe table ${this.t.table}`);
  }

  async claim(key: string, ttlMs: number, token = ""): Promise<ClaimResult> {
    checkKey(key);
    if (!(ttlMs > 0)) throw new BrookError("INVALID_ARGUMENT", `claim ttlMs: expected a number > 0, got ${String(ttlMs)}`);
    const ttl = Math.max(1, Math.round(ttlMs));
    const row = (await this.query(this.t.claimSql, [this.t.scope, key, token, ttl, Math.min(this.t.claimTimeoutMs, ttl)], `claim of dedupe key "${key}"`)).rows[0] as
      | { claimed: number; state: string | null }
      | undefined;
    if (row?.claimed === 1) return "claimed";
    return row?.state === "done" ? "done" : "busy";
  }

  async complete(key: string, token = ""): Promise<void> {
    checkKey(key);
    const r = await this.query(this.t.completeSql, [this.t.scope, key, token], `complete of dedupe key "${key}"`);
    if (r.rowCount !== 1) throw new BrookError("FENCED", `dedupe key "${key}": the claim of this worker expired or was taken over; not marked done`);
  }

  async release(key: string, token = ""): Promise<void> {
    checkKey(key);
    await this.query(this.t.releaseSql, [this.t.scope, key, token], `release of dedupe key "${key}"`);
  }

  /** Deletes up to `limit` rows that expired over a minute ago; returns how many. Run it now and then. */
  async prune(limit = 10_000): Promise<number> {
    return (await this.query(this.t.pruneSql, [limit], `prune of dedupe table ${this.t.table}`)).rowCount ?? 0;
  }

  /** Ends the pool when the store made it. */
  async close(): Promise<void> {
    if (this.owned) await this.pool.end();
  }

  private async query(sql: string, values: unknown[], what: string): Promise<pg.QueryResult> {
    try {
      return await this.pool.query(sql, values);
    } catch (err) {
      throw toPgBrookError(err, what);
    }
  }
}

export function checkKey(key: string): void {
  if (typeof key !== "string" || key.length === 0) throw new BrookError("INVALID_ARGUMENT", "dedupe key: expected a non-empty string");
}
