/**
 * `@brook/dedupe-postgres`: the inbox and the outbox on PostgreSQL. PostgresDedupeStore is a
 * durable DedupeStore; PostgresInbox commits a handler's writes and its dedupe mark together;
 * Outbox + OutboxRelay publish messages written in the application's own transactions.
 */
export { PostgresDedupeStore } from "./store.js";
export type { PostgresDedupeOptions } from "./store.js";
export { PostgresInbox } from "./inbox.js";
export type { InboxResult, PostgresInboxOptions } from "./inbox.js";
export { Outbox } from "./outbox.js";
export type { OutboxOptions } from "./outbox.js";
export { OutboxRelay } from "./relay.js";
export type { OutboxRelayOptions, RelayStats, RelayedRow } from "./relay.js";
export { toPgBrookError } from "./errors.js";
export type { Queryable } from "./db.js";
