import { createHash } from "node:crypto";
import { BrookError, type ClaimResult, type DedupeStore } from "@brook/core";
import { Redis, type RedisOptions } from "ioredis";
import { toRedisBrookError } from "./errors.js";
import { CLAIM, COMPLETE, RELEASE } from "./scripts.js";

export interface RedisDedupeStoreOptions {
  /** prefix of every key the store writes (default "brook:dedupe:"); one per consumer group sharing a Redis */
  prefix?: string;
  /** how long an abandoned claim blocks its key (default 30 s); longer than your slowest handler */
  claimTimeoutMs?: number;
  /** options for the client the store makes from a URL (ignored when you pass a client) */
  redis?: RedisOptions;
}

/**
 * Client settings for a store made from a URL: a command waits through at most two reconnect
 * attempts, then fails (UNAVAILABLE) instead of queueing forever; reconnects back off to 1 s.
 */
const DEFAULT_CLIENT: RedisOptions = {
  maxRetriesPerRequest: 2,
  commandTimeout: 10_000,
  connectTimeout: 5_000,
  retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 5), 1_000),
};

/**
 * A durable DedupeStore on Redis: `claim → complete | release` with an expiring claim owned by
 * the caller's token. Each operation is one Lua script (atomic); expiry is Redis's own (PX), so
 * a worker that dies loses its claim after `claimTimeoutMs`, and its late complete is FENCED.
 * Survives a Redis restart as far as Redis persists writes (appendonly yes, appendfsync always).
 */
export class RedisDedupeStore implements DedupeStore {
  readonly client: Redis;
  private readonly ownsClient: boolean;
  private readonly prefix: string;
  private readonly claimTimeoutMs: number;
  private readonly shas = new Map<string, string>();

  /** `redis`: a redis:// URL (the store makes and closes its client) or your ioredis client. */
  constructor(redis: string | Redis, options: RedisDedupeStoreOptions = {}) {
    this.prefix = options.prefix ?? "brook:dedupe:";
    if (typeof this.prefix !== "string") throw new BrookError("INVALID_ARGUMENT", "RedisDedupeStore prefix: expected a string");
    this.claimTimeoutMs = options.claimTimeoutMs ?? 30_000;
    if (!(Number.isInteger(this.claimTimeoutMs) && this.claimTimeoutMs > 0)) {
      throw new BrookError("INVALID_ARGUMENT", `RedisDedupeStore claimTimeoutMs: expected an integer > 0, got ${String(options.claimTimeoutMs)}`);
    }
    if (typeof redis === "string") {
      if (!/^rediss?:\/\//.test(redis)) throw new BrookError("INVALID_URL", `RedisDedupeStore: expected a redis:// or rediss:// URL, got "${redis}"`);
      this.client = new Redis(redis, { ...DEFAULT_CLIENT, ...options.redis } as RedisOptions & { replyMapping?: never });
      // Connection errors surface on the commands that fail (typed); the client's own
      // "error" events would otherwise be printed by ioredis as unhandled.
      this.client.on("error", () => undefined);
      this.ownsClient = true;
    } else {
      this.client = redis;
      this.ownsClient = false;
    }
  }

  async claim(key: string, ttlMs: number, token = ""): Promise<ClaimResult> {
    checkKey(key);
    if (!(ttlMs > 0)) throw new BrookError("INVALID_ARGUMENT", `claim ttlMs: expected a number > 0, got ${String(ttlMs)}`);
    const claimMs = Math.max(1, Math.round(Math.min(this.claimTimeoutMs, ttlMs)));
    const result = await this.run(CLAIM, key, [token, String(claimMs), String(Math.max(1, Math.round(ttlMs)))], `claim of dedupe key "${key}"`);
    return result as ClaimResult;
  }

  async complete(key: string, token = ""): Promise<void> {
    checkKey(key);
    const result = await this.run(COMPLETE, key, [token], `complete of dedupe key "${key}"`);
    if (result !== "ok") throw new BrookError("FENCED", `dedupe key "${key}": the claim of this worker expired or was taken over; not marked done`);
  }

  async release(key: string, token = ""): Promise<void> {
    checkKey(key);
    await this.run(RELEASE, key, [token], `release of dedupe key "${key}"`);
  }

  /** Closes the client when the store made it. */
  async close(): Promise<void> {
    if (!this.ownsClient) return;
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  /** EVALSHA, loading the script again after NOSCRIPT (a restarted server has an empty script cache). */
  private async run(script: string, key: string, args: string[], what: string): Promise<unknown> {
    let sha = this.shas.get(script);
    if (sha === undefined) {
      sha = createHash("sha1").update(script).digest("hex");
      this.shas.set(script, sha);
    }
    const fullKey = this.prefix + key;
    try {
      try {
        return await this.client.evalsha(sha, 1, fullKey, ...args);
      } catch (err) {
        if (!String((err as Error)?.message).startsWith("NOSCRIPT")) throw err;
        return await this.client.eval(script, 1, fullKey, ...args);
      }
    } catch (err) {
      throw toRedisBrookError(err, what);
    }
  }
}

function checkKey(key: string): void {
  if (typeof key !== "string" || key.length === 0) throw new BrookError("INVALID_ARGUMENT", "dedupe key: expected a non-empty string");
}
