import { BrookError } from "./errors.js";

/**
 * Consumer-side idempotency. A worker claims a key before handling it; the claim expires if the
 * worker dies, so another worker may take it over. Success completes the key (later deliveries
 * are recognised as duplicates); failure releases it so a retry can claim it again.
 *
 * Ownership: a caller passes the same `token` (any unique string, one per claim) to claim,
 * complete and release. A store that keeps tokens refuses a `complete` whose claim expired or
 * was taken over with BrookError `FENCED`, so a worker that came back late cannot mark done
 * what another worker now holds. Without a token a store behaves as before (no ownership check).
 */
export type ClaimResult = "claimed" | "done" | "busy";

export interface DedupeStore {
  /** "claimed": handle it now; "done": already handled, skip; "busy": someone holds a live claim. */
  claim(key: string, ttlMs: number, token?: string): Promise<ClaimResult>;
  /** Marks the key handled; it stays "done" for the ttl given at claim time. FENCED when `token`
   * no longer holds a live claim (a repeat by the completing token is accepted). */
  complete(key: string, token?: string): Promise<void>;
  /** Gives the claim back without completing: the next claim succeeds at once. A release by a
   * token that no longer holds the claim changes nothing. */
  release(key: string, token?: string): Promise<void>;
}

interface Entry {
  state: "claimed" | "done";
  expiresAt: number;
  ttlMs: number;
  token: string | undefined;
}

export interface MemoryDedupeStoreOptions {
  /** how long an abandoned claim blocks its key (default 30 s) */
  claimTimeoutMs?: number;
  /** at most this many keys are remembered (default 100,000); past it the oldest are forgotten */
  maxEntries?: number;
  /** a completed key is remembered at most this long, whatever ttl claim() asks (default 24 h) */
  maxTtlMs?: number;
  now?: () => number;
}

/**
 * In-process store, bounded: it remembers at most `maxEntries` keys, each for at most
 * `maxTtlMs`. Expired entries are swept lazily; when the store is full the least recently
 * written key is forgotten first (counted in `evictions`), and a forgotten key can be handled
 * again. Nothing survives the process: for dedupe across restarts or processes use a durable
 * store (@brook/dedupe-redis, @brook/dedupe-postgres).
 */
export class MemoryDedupeStore implements DedupeStore {
  private readonly entries = new Map<string, Entry>();
  private readonly claimTimeoutMs: number;
  private readonly maxEntries: number;
  private readonly maxTtlMs: number;
  private readonly now: () => number;
  private lastSweep = 0;
  private evicted = 0;

  constructor(options: MemoryDedupeStoreOptions = {}) {
    this.claimTimeoutMs = positive(options.claimTimeoutMs, 30_000, "claimTimeoutMs");
    this.maxEntries = positive(options.maxEntries, 100_000, "maxEntries");
    this.maxTtlMs = positive(options.maxTtlMs, 24 * 3600_000, "maxTtlMs");
    this.now = options.now ?? Date.now;
  }

  async claim(key: string, ttlMs: number, token?: string): Promise<ClaimResult> {
    const now = this.now();
    this.sweep(now, false);
    const entry = this.entries.get(key);
    if (entry !== undefined && entry.expiresAt > now) return entry.state === "done" ? "done" : "busy";
    const ttl = Math.min(ttlMs, this.maxTtlMs);
    this.write(key, { state: "claimed", expiresAt: now + Math.min(this.claimTimeoutMs, ttl), ttlMs: ttl, token }, now);
    return "claimed";
  }

  async complete(key: string, token?: string): Promise<void> {
    const now = this.now();
    const entry = this.entries.get(key);
    if (token !== undefined) {
      if (entry?.state === "done" && entry.token === token && entry.expiresAt > now) return;
      if (entry?.state !== "claimed" || entry.token !== token || entry.expiresAt <= now) {
        throw new BrookError("FENCED", `dedupe key "${key}": the claim of this worker expired or was taken over; not marked done`);
      }
    }
    const ttlMs = entry?.ttlMs ?? this.claimTimeoutMs;
    this.write(key, { state: "done", expiresAt: now + ttlMs, ttlMs, token }, now);
  }

  async release(key: string, token?: string): Promise<void> {
    const entry = this.entries.get(key);
    if (entry?.state === "claimed" && (token === undefined || entry.token === token)) this.entries.delete(key);
  }

  /** Number of remembered keys (claims and completions); never above maxEntries. */
  get size(): number {
    return this.entries.size;
  }

  /** Keys forgotten before their ttl because the store was full. */
  get evictions(): number {
    return this.evicted;
  }

  /** Writes at the end of the map's order (oldest first), making room when full. */
  private write(key: string, entry: Entry, now: number): void {
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) {
      this.sweep(now, true);
      for (const oldest of this.entries.keys()) {
        if (this.entries.size < this.maxEntries) break;
        this.entries.delete(oldest);
        this.evicted += 1;
      }
    }
    this.entries.set(key, entry);
  }

  private sweep(now: number, force: boolean): void {
    if (!force && now - this.lastSweep < 1_000) return;
    this.lastSweep = now;
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }
}

function positive(value: number | undefined, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  if (!(typeof value === "number" && value > 0)) throw new BrookError("INVALID_ARGUMENT", `MemoryDedupeStore ${field}: expected a number > 0, got ${String(value)}`);
  return value;
}
