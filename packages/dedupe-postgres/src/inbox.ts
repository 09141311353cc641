import { randomUUID } from "node:crypto";
import type pg from "pg";
import { BrookError, type MessageHandler, type ReceivedMessage } from "@brook/core";
import { inTransaction, openPool, positiveInt } from "./db.js";
import { isConnectionLoss, toPgBrookError } from "./errors.js";
import { dedupeSchema, installSchema } from "./schema.js";
import { DedupeTable, checkKey, type PostgresDedupeOptions } from "./store.js";

export interface PostgresInboxOptions extends PostgresDedupeOptions {
  /** how long a completed key is remembered (default 7 days); redeliveries later than this run again */
  ttlMs?: number;
  /** how long handle() waits for another worker that holds the same key before giving up with UNAVAILABLE (default 30 s) */
  busyTimeoutMs?: number;
  /** the dedupe key of a message (default: its idempotency key, else topic + position) */
  keyOf?: (message: ReceivedMessage<unknown>) => string;
}

export type InboxResult<R> = { duplicate: false; value: R } | { duplicate: true };

/**
 * The transactional inbox: a handler's writes and the mark "this message was handled" commit
 * in one PostgreSQL transaction. A crash before the commit rolls both back (the redelivery runs
 * the handler again); a crash after it, before the ack, leaves the mark (the redelivery is
 * skipped). Either way the effect happens exactly once. While one worker's transaction holds a
 * key, another worker handling the same key waits for it and then sees it done.
 */
export class PostgresInbox {
  readonly pool: pg.Pool;
  private readonly owned: boolean;
  private readonly t: DedupeTable;
  private readonly ttlMs: number;
  private readonly busyTimeoutMs: number;
  private readonly keyOf: (message: ReceivedMessage<unknown>) => string;

  /** `db`: a postgres:// URL (the inbox makes and ends its pool) or your pg.Pool. */
  constructor(db: string | pg.Pool, options: PostgresInboxOptions = {}) {
    this.t = new DedupeTable(options.table ?? "brook_dedupe", options);
    this.ttlMs = positiveInt(options.ttlMs, 7 * 24 * 3600_000, "ttlMs");
    this.busyTimeoutMs = positiveInt(options.busyTimeoutMs, 30_000, "busyTimeoutMs");
    this.keyOf = options.keyOf ?? defaultKeyOf;
    const { pool, owned } = openPool(db, "PostgresInbox");
    this.pool = pool;
    this.owned = owned;
  }

  /** Creates the dedupe table if it is missing. */
  async install(): Promise<void> {
    await installSchema(this.pool, dedupeSchema(this.t.table), `install of dedupe table ${this.t.table}`);
  }

  /**
   * Runs `work(tx)` in a transaction that also marks the message handled, unless it already
   * was: then `work` is not called and the result is `{ duplicate: true }`. A throw from
   * `work` rolls back everything (the message is not marked) and is rethrown as it is, except
   * a pg error of a lost connection, which becomes BrookError UNAVAILABLE (cause kept).
   */
  async handle<R>(message: ReceivedMessage<unknown> | { key: string }, work: (tx: pg.PoolClient) => Promise<R>): Promise<InboxResult<R>> {
    const key = "position" in message ? this.keyOf(message) : message.key;
    checkKey(key);
    const deadline = Date.now() + this.busyTimeoutMs;
    for (let wait = 20; ; wait = Math.min(wait * 2, 500)) {
      const outcome = await this.attempt(key, work, Math.max(100, Math.min(5_000, deadline - Date.now())));
      if (outcome !== "busy") return outcome;
      if (Date.now() >= deadline) {
        throw new BrookError("UNAVAILABLE", `inbox key "${key}": another worker has held it for over ${this.busyTimeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  /** A MessageHandler for subscribe(): `inbox.handler(async (msg, tx) => { … })`. */
  handler<T>(work: (message: ReceivedMessage<T>, tx: pg.PoolClient) => Promise<void>): MessageHandler<T> {
    return async (message) => {
      await this.handle(message as ReceivedMessage<unknown>, (tx) => work(message, tx));
    };
  }

  /** Whether the key is marked handled (committed). */
  async isDone(key: string): Promise<boolean> {
    try {
      const r = await this.pool.query(this.t.stateSql, [this.t.scope, key]);
      return (r.rows[0] as { state?: string } | undefined)?.state === "done";
    } catch (err) {
      throw toPgBrookError(err, `state of inbox key "${key}"`);
    }
  }

  /** Ends the pool when the inbox made it. */
  async close(): Promise<void> {
    if (this.owned) await this.pool.end();
  }

  private async attempt<R>(key: string, work: (tx: pg.PoolClient) => Promise<R>, lockWaitMs: number): Promise<InboxResult<R> | "busy"> {
    const what = `inbox key "${key}"`;
    const settings = [
      // Wait at most this long for a worker holding the same key, then retry (bounded by busyTimeoutMs).
      `SET LOCAL lock_timeout = ${Math.round(lockWaitMs)}`,
      // A worker that stalls inside its transaction loses it (and so its hold on the key).
      `SET LOCAL idle_in_transaction_session_timeout = ${this.t.claimTimeoutMs}`,
    ];
    try {
      return await inTransaction(
        this.pool,
        what,
        async (tx) => {
          let taken: pg.QueryResult;
          try {
            taken = await tx.query(this.t.claimDoneSql, [this.t.scope, key, randomUUID(), this.ttlMs]);
          } catch (err) {
            const e = toPgBrookError(err, what);
            if (e.code === "TIMEOUT") throw BUSY;
            throw e;
          }
          if (taken.rowCount === 1) return { duplicate: false as const, value: await work(tx) };
          const state = await tx.query(this.t.stateSql, [this.t.scope, key]).catch((err: unknown) => {
            throw toPgBrookError(err, what);
          });
          if ((state.rows[0] as { state?: string } | undefined)?.state === "done") throw DUPLICATE;
          throw BUSY; // a live claim from PostgresDedupeStore on the same table
        },
        settings,
      );
    } catch (err) {
      if (err === DUPLICATE) return { duplicate: true };
      if (err === BUSY) return "busy";
      // The work's own queries on `tx` throw pg's errors; a lost connection (server down or
      // restarting) is reported typed and retriable, like every other call of this package.
      if (!(err instanceof BrookError) && isConnectionLoss(err)) throw toPgBrookError(err, `${what}: the transaction lost its connection`);
      throw err;
    }
  }
}

const DUPLICATE = Symbol("duplicate");
const BUSY = Symbol("busy");

function defaultKeyOf(message: ReceivedMessage<unknown>): string {
  return message.idempotencyKey ?? `${message.topic}@${message.position.partition}:${message.position.offset}`;
}
