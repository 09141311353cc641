/**
 * Consumer-side idempotency. A worker claims a key before handling it; the claim expires if the
 * worker dies, so another worker may take it over. Success completes the key (later deliveries
 * are recognised as duplicates); failure releases it so a retry can claim it again.
 */
export type ClaimResult = "claimed" | "done" | "busy";

export interface DedupeStore {
  /** "claimed": handle it now; "done": already handled, skip; "busy": someone holds a live claim. */
  claim(key: string, ttlMs: number): Promise<ClaimResult>;
  /** Marks the key handled; it stays "done" for the ttl given at claim time. */
  complete(key: string): Promise<void>;
  /** Gives the claim back without completing: the next claim succeeds at once. */
  release(key: string): Promise<void>;
}

interface Entry {
  state: "claimed" | "done";
  expiresAt: number;
  ttlMs: number;
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

  constructor(options: { claimTimeoutMs?: number; now?: () => number } = {}) {
    this.claimTimeoutMs = options.claimTimeoutMs ?? 30_000;
    this.now = options.now ?? Date.now;
  }

  async claim(key: string, ttlMs: number): Promise<ClaimResult> {
    const now = this.now();
    this.sweep(now);
    const entry = this.entries.get(key);
    if (entry !== undefined && entry.expiresAt > now) return entry.state === "done" ? "done" : "busy";
    this.entries.set(key, { state: "claimed", expiresAt: now + Math.min(this.claimTimeoutMs, ttlMs), ttlMs });
    return "claimed";
  }

  async complete(key: string): Promise<void> {
    const entry = this.entries.get(key);
    const ttlMs = entry?.ttlMs ?? this.claimTimeoutMs;
    this.entries.set(key, { state: "done", expiresAt: this.now() + ttlMs, ttlMs });
  }

  async release(key: string): Promise<void> {
    const entry = this.entries.get(key);
    if (entry?.state === "claimed") this.entries.delete(key);
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
