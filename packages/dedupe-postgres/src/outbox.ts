import type pg from "pg";
import { BrookError, autoCodec, resolveCodec, type Codec, type CodecName, type OutgoingMessage } from "@brook/core";
import { openPool, tableName, type Queryable } from "./db.js";
import { toPgBrookError } from "./errors.js";
import { installSchema, outboxSchema } from "./schema.js";

export interface OutboxOptions<T> {
  /** the outbox table (default "brook_outbox"); install() creates it */
  table?: string;
  /** how `data` becomes bytes (default "auto": bytes stay bytes, strings text, objects JSON) */
  codec?: CodecName | Codec<T>;
}

/**
 * The transactional outbox: `enqueue(tx, topic, message)` writes the message into the outbox
 * table with the application's own transaction, so the message exists exactly when the
 * business change commits. OutboxRelay publishes it afterwards.
 */
export class Outbox<T = unknown> {
  readonly table: string;
  private readonly sql: string;
  private readonly codec: Codec<T>;

  constructor(options: OutboxOptions<T> = {}) {
    this.table = options.table ?? "brook_outbox";
    this.sql = tableName(this.table, "table").sql;
    this.codec = options.codec === undefined ? (autoCodec() as Codec<T>) : resolveCodec<T>(options.codec);
  }

  /** Creates the table, its indexes and its NOTIFY trigger if missing (`db`: a URL or pg.Pool). */
  async install(db: string | pg.Pool): Promise<void> {
    const { pool, owned } = openPool(db, "Outbox");
    try {
      await installSchema(pool, outboxSchema(this.table), `install of outbox table ${this.table}`);
    } finally {
      if (owned) await pool.end();
    }
  }

  /**
   * Writes `message` for `topic` in the caller's transaction `tx` (a pg client inside BEGIN).
   * Returns the row id: the message's idempotency key is "<table>:<id>" unless it has its own.
   */
  async enqueue(tx: Queryable, topic: string, message: OutgoingMessage<T>): Promise<string> {
    return (await this.enqueueBatch(tx, topic, [message]))[0]!;
  }

  /** Writes several messages in one statement, in order (ids ascending). */
  async enqueueBatch(tx: Queryable, topic: string, messages: readonly OutgoingMessage<T>[]): Promise<string[]> {
    if (typeof topic !== "string" || topic.length === 0) throw new BrookError("INVALID_ARGUMENT", "topic: expected a non-empty string");
    if (!Array.isArray(messages)) throw new BrookError("INVALID_ARGUMENT", "messages: expected an array");
    if (messages.length === 0) return [];
    const keys: (string | null)[] = [];
    const idem: (string | null)[] = [];
    const headers: string[] = [];
    const data: Buffer[] = [];
    messages.forEach((m, i) => {
      const field = `messages[${i}]`;
      if (typeof m !== "object" || m === null) throw new BrookError("INVALID_ARGUMENT", `${field}: expected an object with data`);
      if (m.key !== undefined && (typeof m.key !== "string" || m.key.length === 0)) throw new BrookError("INVALID_ARGUMENT", `${field}.key: expected a non-empty string`);
      if (m.idempotencyKey !== undefined && (typeof m.idempotencyKey !== "string" || m.idempotencyKey.length === 0)) {
        throw new BrookError("INVALID_ARGUMENT", `${field}.idempotencyKey: expected a non-empty string`);
      }
      const h: Record<string, string> = { ...(m.headers ?? {}) };
      for (const [name, value] of Object.entries(h)) {
        if (typeof value !== "string") throw new BrookError("INVALID_ARGUMENT", `${field}.headers.${name}: expected a string`);
      }
      const type = this.codec.contentType?.(m.data);
      if (type !== undefined && h["content-type"] === undefined) h["content-type"] = type;
      const bytes = this.codec.encode(m.data);
      keys.push(m.key ?? null);
      idem.push(m.idempotencyKey ?? null);
      headers.push(JSON.stringify(h));
      data.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    });
    try {
      const r = await tx.query(
        `INSERT INTO ${this.sql} (topic, key, idempotency_key, headers, data)
         SELECT $1, k, i, h::jsonb, d FROM unnest($2::text[], $3::text[], $4::text[], $5::bytea[]) WITH ORDINALITY AS m(k, i, h, d, n)
         ORDER BY n RETURNING id`,
        [topic, keys, idem, headers, data],
      );
      return (r.rows as { id: string }[]).map((row) => String(row.id)).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
    } catch (err) {
      throw toPgBrookError(err, `enqueue into outbox table ${this.table}`);
    }
  }
}
