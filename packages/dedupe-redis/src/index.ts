/** `@brook/dedupe-redis`: a durable consumer dedupe store (the inbox) on Redis. */
export { RedisDedupeStore } from "./store.js";
export type { RedisDedupeStoreOptions } from "./store.js";
export { toRedisBrookError } from "./errors.js";
