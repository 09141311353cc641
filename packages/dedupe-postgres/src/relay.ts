import { createHash } from "node:crypto";
import type pg from "pg";
import {
  BrookError,
  connect,
  defaultLogger,
  toLogger,
  type Broker,
  type Headers,
  type Logger,
  type LoggerLike,
  type PublishBatchResult,
  type Publisher,
} from "@brook/core";
import { openPool, positiveInt, tableName, withClient } from "./db.js";
import { toPgBrookError } from "./errors.js";
import { notifyChannel } from "./schema.js";

export interface OutboxRelayOptions {
  /** the outbox: a postgres:// URL (the relay makes and ends its pool) or your pg.Pool */
  db: string | pg.Pool;
  /** where to publish: a Brook URL (memory:, local:, brook://, kafka://, pubsub://…) or a connected Broker (not closed by the relay) */
  to: string | Broker;
  /** the outbox table (default "brook_outbox") */
  table?: string;
  /** rows published per round at most (default 500) */
  batchSize?: number;
  /** keys taken per round at most (default 200): each is one advisory lock held for the round */
  maxKeysPerRound?: number;
  /** poll for rows this often when no NOTIFY arrives (default 1000 ms): the fallback when LISTEN is down or a notification is lost */
  pollIntervalMs?: number;
  /** sent rows are deleted this long after they were sent (default 10 min; 0: at the next prune) */
  retainSentMs?: number;
  /** how often sent rows are pruned (default 30 s) */
  pruneIntervalMs?: number;
  /** prefix of the idempotency key of a row without its own (default "<table>:"); the row id follows */
  idempotencyPrefix?: string;
  logger?: LoggerLike;
  /** every error the relay meets (each is retried): typed BrookErrors. Without it they are logged at warn. */
  onError?: (error: BrookError) => void;
  /**
   * Called after a round's messages were acknowledged by the backend and before their rows
   * are marked sent (a crash here republishes them, with the same idempotency keys).
   */
  onPublished?: (rows: readonly RelayedRow[]) => void;
}

/** One outbox row as the relay published it. */
export interface RelayedRow {
  id: string;
  topic: string;
  key: string | undefined;
  idempotencyKey: string;
}

export interface RelayStats {
  /** rows published and marked sent */
  published: number;
  /** of those, how many the backend recognised as repeats of an earlier publish (after a crash) */
  duplicates: number;
  /** rows marked failed: the backend refused them for good (too large, invalid) */
  failed: number;
  /** errors met (each retried) */
  errors: number;
  /** rounds run */
  rounds: number;
  /** sent rows deleted */
  pruned: number;
}

interface Row {
  id: string;
  topic: string;
  key: string | null;
  idempotency_key: string | null;
  headers: Headers;
  data: Buffer;
}

/** Backend refusals a retry cannot fix: the row is marked failed so its key moves on. */
const PERMANENT = new Set(["MESSAGE_TOO_LARGE", "INVALID_ARGUMENT"]);
/** A round with nothing left (or every key held by another relay) waits for NOTIFY or this. */
const BUSY_RETRY_MS = 100;

/**
 * Publishes the outbox. Each round, in one transaction: take the oldest pending rows' keys,
 * try a transaction-level advisory lock per key (keys another relay holds are skipped), read
 * the pending rows of the locked keys in id order — a fresh read after the locks, so rows
 * another relay marked sent are never seen as pending — publish them (publishBatch per topic),
 * mark them sent, commit (which releases the locks). One key is therefore published by one
 * relay at a time, in id order, and a row once marked sent is never published again. A relay
 * that dies mid-round loses its connection, so PostgreSQL rolls the round back and frees its
 * keys; the rows it may already have published are published again by whichever relay takes
 * the key next, with the same idempotency key (the row id), which the backend's publish
 * dedupe or the consumer's inbox recognises.
 *
 * Waking: LISTEN on the table's channel (the insert trigger NOTIFYs at commit), with polling
 * every `pollIntervalMs` as the fallback. Every error is reported (onError, typed) and retried
 * with backoff; nothing is dropped.
 */
export class OutboxRelay {
  readonly stats: RelayStats = { published: 0, duplicates: 0, failed: 0, errors: 0, rounds: 0, pruned: 0 };
  private readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  private readonly table: string;
  private readonly sql: string;
  private readonly channel: string;
  private readonly lockClass: number;
  private readonly batchSize: number;
  private readonly maxKeys: number;
  private readonly pollIntervalMs: number;
  private readonly retainSentMs: number;
  private readonly pruneIntervalMs: number;
  private readonly idempotencyPrefix: string;
  private readonly logger: Logger;
  private readonly publishers = new Map<string, Publisher<Uint8Array>>();
  private broker: Broker | undefined;
  private readonly ownsBroker: boolean;
  private readonly to: string | Broker;
  private running: Promise<void> | undefined;
  private closed = false;
  private wake: (() => void) | undefined;
  private pending = false;
  private listener: pg.PoolClient | undefined;
  private lastPrune = 0;

  constructor(private readonly options: OutboxRelayOptions) {
    this.table = options.table ?? "brook_outbox";
    this.sql = tableName(this.table, "table").sql;
    this.channel = notifyChannel(this.table);
    // Advisory locks are (class, key hash): the class is this table's, so the relay's locks
    // never meet an application's own advisory locks on other classes.
    this.lockClass = createHash("sha1").update(`brook-outbox:${this.table}`).digest().readInt32BE(0);
    this.batchSize = positiveInt(options.batchSize, 500, "batchSize");
    this.maxKeys = positiveInt(options.maxKeysPerRound, 200, "maxKeysPerRound");
    this.pollIntervalMs = positiveInt(options.pollIntervalMs, 1_000, "pollIntervalMs");
    this.retainSentMs = positiveInt(options.retainSentMs, 600_000, "retainSentMs", 0);
    this.pruneIntervalMs = positiveInt(options.pruneIntervalMs, 30_000, "pruneIntervalMs");
    this.idempotencyPrefix = options.idempotencyPrefix ?? `${this.table}:`;
    this.logger = toLogger(options.logger) ?? defaultLogger;
    if (typeof options.to !== "string" && (options.to === null || typeof (options.to as Broker).publisher !== "function")) {
      throw new BrookError("INVALID_ARGUMENT", "OutboxRelay to: expected a Brook URL or a Broker");
    }
    this.to = options.to;
    this.ownsBroker = typeof options.to === "string";
    const { pool, owned } = openPool(options.db, "OutboxRelay");
    this.pool = pool;
    this.ownsPool = owned;
  }

  /** Starts relaying in the background; resolves once connected to the backend. */
  async start(): Promise<this> {
    if (this.running !== undefined) return this;
    if (this.closed) throw new BrookError("CLOSED", "outbox relay is closed");
    this.broker = typeof this.to === "string" ? await connect(this.to) : this.to;
    this.running = this.loop();
    return this;
  }

  /** Runs rounds until none publishes anything; returns how many rows were published. For tests and one-shot jobs. */
  async drain(): Promise<number> {
    this.broker ??= typeof this.to === "string" ? await connect(this.to) : this.to;
    let total = 0;
    for (let i = 0; i < 1_000_000; i++) {
      const { published, pending } = await this.round();
      total += published;
      if (published === 0 && !pending) break;
      if (published === 0) await sleep(BUSY_RETRY_MS);
    }
    return total;
  }

  /** Stops after the current round, then closes what the relay opened. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake?.();
    await this.running;
    await this.dropListener();
    for (const pub of this.publishers.values()) await pub.close().catch(() => undefined);
    this.publishers.clear();
    if (this.ownsBroker) await this.broker?.close();
    if (this.ownsPool) await this.pool.end();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      await this.listen();
      this.pending = false;
      let outcome: { published: number; pending: boolean };
      try {
        outcome = await this.round();
        failures = 0;
        await this.maybePrune();
      } catch (err) {
        this.report(err);
        failures += 1;
        await this.sleepUnlessWoken(Math.min(100 * 2 ** Math.min(failures, 5), 3_000) * (0.75 + Math.random() / 2), false);
        continue;
      }
      if (this.closed) break;
      if (outcome.published > 0) continue; // more may be waiting
      await this.sleepUnlessWoken(outcome.pending ? BUSY_RETRY_MS : this.pollIntervalMs, true);
    }
  }

  /** One round (see the class comment). `pending`: rows exist that this round could not take. */
  private async round(): Promise<{ published: number; pending: boolean }> {
    this.stats.rounds += 1;
    const what = `outbox relay round on ${this.table}`;
    return withClient(this.pool, what, async (client) => {
      const q = async (text: string, values?: unknown[]): Promise<pg.QueryResult> => {
        try {
          return await client.query(text, values);
        } catch (err) {
          throw toPgBrookError(err, what);
        }
      };
      await q("BEGIN");
      let committed = false;
      try {
        // A key-less row is its own key: chr(1) || id never equals a message key people use.
        const keys = await q(
          `WITH candidates AS MATERIALIZED (
             SELECT k, min(id) AS first FROM (
               SELECT coalesce(key, chr(1) || id::text) AS k, id FROM ${this.sql}
               WHERE sent_at IS NULL AND failed_at IS NULL ORDER BY id LIMIT $1) s
             GROUP BY k ORDER BY first LIMIT $2)
           SELECT k FROM candidates WHERE pg_try_advisory_xact_lock($3, hashtext(k)) ORDER BY first`,
          [this.batchSize, this.maxKeys, this.lockClass],
        );
        const candidates = await q(`SELECT 1 FROM ${this.sql} WHERE sent_at IS NULL AND failed_at IS NULL LIMIT 1`);
        const locked = (keys.rows as { k: string }[]).map((r) => r.k);
        if (locked.length === 0) {
          await q("COMMIT");
          committed = true;
          return { published: 0, pending: candidates.rowCount !== 0 };
        }
        const keyed = locked.filter((k) => !k.startsWith("\u0001"));
        const keyless = locked.filter((k) => k.startsWith("\u0001")).map((k) => k.slice(1));
        // A new statement, so a new snapshot taken after the locks: it sees every row a
        // previous holder of these keys marked sent before it committed. `id` stays bigint
        // here (pg hands it over as a string): ordering by a text alias would put "111" before "88".
        const rows = (
          await q(
            `SELECT id, topic, key, idempotency_key, headers, data FROM ${this.sql}
             WHERE sent_at IS NULL AND failed_at IS NULL AND (key = ANY($1::text[]) OR (key IS NULL AND id = ANY($2::bigint[])))
             ORDER BY id LIMIT $3`,
            [keyed, keyless, this.batchSize],
          )
        ).rows as Row[];
        const { sent, failed, duplicates, retry } = await this.publish(rows);
        if (sent.length > 0) this.options.onPublished?.(sent);
        if (sent.length > 0) await q(`UPDATE ${this.sql} SET sent_at = now(), attempts = attempts + 1 WHERE id = ANY($1::bigint[])`, [sent.map((r) => r.id)]);
        for (const f of failed) {
          await q(`UPDATE ${this.sql} SET failed_at = now(), attempts = attempts + 1, last_error = $2 WHERE id = $1`, [f.id, f.error.message]);
        }
        if (retry.length > 0) await q(`UPDATE ${this.sql} SET attempts = attempts + 1 WHERE id = ANY($1::bigint[])`, [retry]);
        await q("COMMIT");
        committed = true;
        this.stats.published += sent.length;
        this.stats.duplicates += duplicates;
        this.stats.failed += failed.length;
        for (const f of failed) this.report(new BrookError(f.error.code, `outbox row ${f.id} (topic "${f.topic}") marked failed: ${f.error.message}`, { cause: f.error }));
        return { published: sent.length, pending: retry.length > 0 };
      } finally {
        if (!committed) await client.query("ROLLBACK").catch(() => undefined);
      }
    });
  }

  /**
   * Publishes rows (id order) with publishBatch per topic. Per key, rows count as sent up to the
   * first one that failed and may be retried; the rest of that key waits for the next round so
   * its order holds. A row the backend refuses for good is marked failed and its key moves on.
   */
  private async publish(rows: Row[]): Promise<{ sent: RelayedRow[]; failed: { id: string; topic: string; error: BrookError }[]; duplicates: number; retry: string[] }> {
    const byTopic = new Map<string, Row[]>();
    for (const row of rows) {
      let list = byTopic.get(row.topic);
      if (list === undefined) byTopic.set(row.topic, (list = []));
      list.push(row);
    }
    const results = new Map<string, PublishBatchResult>();
    await Promise.all(
      [...byTopic].map(async ([topic, list]) => {
        const out = await this.publisher(topic).publishBatch(
          list.map((row) => ({
            data: row.data,
            ...(row.key === null ? {} : { key: row.key }),
            idempotencyKey: row.idempotency_key ?? `${this.idempotencyPrefix}${row.id}`,
            headers: row.headers,
          })),
        );
        list.forEach((row, i) => results.set(row.id, out[i]!));
      }),
    );
    const sent: RelayedRow[] = [];
    const failed: { id: string; topic: string; error: BrookError }[] = [];
    const retry: string[] = [];
    const blocked = new Set<string>();
    let duplicates = 0;
    let firstRetriable: BrookError | undefined;
    for (const row of rows) {
      const k = row.key ?? `\u0001${row.id}`;
      const result = results.get(row.id)!;
      if (blocked.has(k)) {
        retry.push(row.id);
        continue;
      }
      if (result.ok) {
        if (result.duplicate) duplicates += 1;
        sent.push({ id: row.id, topic: row.topic, key: row.key ?? undefined, idempotencyKey: row.idempotency_key ?? `${this.idempotencyPrefix}${row.id}` });
      } else if (PERMANENT.has(result.error.code)) {
        failed.push({ id: row.id, topic: row.topic, error: result.error });
      } else {
        blocked.add(k);
        retry.push(row.id);
        firstRetriable ??= result.error;
      }
    }
    if (firstRetriable !== undefined) this.report(firstRetriable);
    return { sent, failed, duplicates, retry };
  }

  private publisher(topic: string): Publisher<Uint8Array> {
    let pub = this.publishers.get(topic);
    if (pub === undefined) {
      pub = this.broker!.publisher<Uint8Array>(topic, { codec: "bytes" });
      this.publishers.set(topic, pub);
    }
    return pub;
  }

  private async maybePrune(): Promise<void> {
    if (Date.now() - this.lastPrune < this.pruneIntervalMs) return;
    this.lastPrune = Date.now();
    await this.prune();
  }

  /** Deletes rows sent more than `retainSentMs` ago (in chunks); returns how many. */
  async prune(): Promise<number> {
    let total = 0;
    for (let i = 0; i < 100; i++) {
      let n: number;
      try {
        const r = await this.pool.query(
          `DELETE FROM ${this.sql} WHERE id IN (SELECT id FROM ${this.sql} WHERE sent_at IS NOT NULL AND sent_at <= now() - $1::float8 * interval '1 millisecond' LIMIT 5000)`,
          [this.retainSentMs],
        );
        n = r.rowCount ?? 0;
      } catch (err) {
        throw toPgBrookError(err, `prune of outbox table ${this.table}`);
      }
      total += n;
      if (n < 5000) break;
    }
    this.stats.pruned += total;
    return total;
  }

  /** Keeps one pooled connection LISTENing; when it fails, polling carries on and it is retried next round. */
  private async listen(): Promise<void> {
    if (this.listener !== undefined || this.closed) return;
    let client: pg.PoolClient | undefined;
    try {
      client = await this.pool.connect();
      const c = client;
      c.on("error", (err) => {
        this.report(toPgBrookError(err, `LISTEN connection of outbox relay on ${this.table}`));
        if (this.listener === c) {
          this.listener = undefined;
          c.removeAllListeners("notification");
          c.release(err);
        }
      });
      c.on("notification", () => {
        this.pending = true;
        this.wake?.();
      });
      await c.query(`LISTEN "${this.channel}"`);
      this.listener = c;
    } catch (err) {
      this.report(toPgBrookError(err, `LISTEN for outbox relay on ${this.table}`));
      client?.release(err instanceof Error ? err : true);
    }
  }

  private async dropListener(): Promise<void> {
    const c = this.listener;
    this.listener = undefined;
    if (c === undefined) return;
    try {
      await c.query(`UNLISTEN "${this.channel}"`);
      c.release();
    } catch (err) {
      c.release(err instanceof Error ? err : true);
    }
  }

  private sleepUnlessWoken(ms: number, wakeOnNotify: boolean): Promise<void> {
    if (this.closed || (wakeOnNotify && this.pending)) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(timer);
        if (self.wake === done) self.wake = undefined;
        resolve();
      }
      this.wake = wakeOnNotify ? done : () => (this.closed ? done() : undefined);
    });
  }

  private report(err: unknown): void {
    const error = err instanceof BrookError ? err : toPgBrookError(err, `outbox relay on ${this.table}`);
    this.stats.errors += 1;
    if (this.options.onError !== undefined) this.options.onError(error);
    else this.logger.warn(`outbox relay on ${this.table}: ${error.code}: ${error.message}`);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
