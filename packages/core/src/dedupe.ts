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
  now?: () => number;
}

/**
 * In-process store. `claimTimeoutMs` bounds how long an abandoned claim blocks the key; the
 * ttl given to claim() is how long a completed key is remembered. Expired entries are swept
 * lazily, so memory stays bounded by what was seen within the ttl.
 */
export class MemoryDedupeStore implements DedupeStore {
  private readonly entries = new Map<string, Entry>();
  private readonly claimTimeoutMs: number;
  private readonly now: () => number;
  private lastSweep = 0;

  constructor(options: MemoryDedupeStoreOptions = {}) {
    this.claimTimeoutMs = positive(options.claimTimeoutMs, 30_000, "claimTimeoutMs");
    this.now = options.now ?? Date.now;
  }

  async claim(key: string, ttlMs: number, token?: string): Promise<ClaimResult> {
    const now = this.now();
    this.sweep(now);
    const entry = this.entries.get(key);
    if (entry !== undefined && entry.expiresAt > now) return entry.state === "done" ? "done" : "busy";
    this.entries.set(key, { state: "claimed", expiresAt: now + Math.min(this.claimTimeoutMs, ttlMs), ttlMs, token });
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
    this.entries.set(key, { state: "done", expiresAt: now + ttlMs, ttlMs, token });
  }

  async release(key: string, token?: string): Promise<void> {
    const entry = this.entries.get(key);
    if (entry?.state === "claimed" && (token === undefined || entry.token === token)) this.entries.delete(key);
  }

  /** Number of remembered keys (claims and completions). */
  get size(): number {
    return this.entries.size;
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < 1_000) return;
    this.lastSweep = now;
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }
}

function positive(value: number | undefined, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  if (!(typeof value === "number" && value > 0)) throw new BrookError("INVALID_ARGUMENT", `MemoryDedupeStore ${field}: expected a number > 0, got ${String(value)}`);
  return value;
}
