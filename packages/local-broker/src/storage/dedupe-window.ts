import type { DedupeEntry } from "./types.js";

/** Entries popped before the queue's arrays are cut down to their live part. */
const COMPACT_AFTER = 4096;

/**
 * One topic's publish dedupe window: idempotency key → entry, plus the entries in the order they
 * were put (a FIFO queue), so expiry pops from the head instead of sweeping the whole map.
 * Entries are put with expiresAt = publish time + window, so the queue is in expiry order; one
 * out of order (a restore from the log, a clock step) only leaves its memory a little later:
 * `get` checks expiresAt itself. A key put again leaves its old queue slot behind, and popping
 * that slot removes nothing (the map holds the newer entry).
 */
export class DedupeWindow {
  readonly byKey = new Map<string, DedupeEntry>();
  private keys: string[] = [];
  private entries: DedupeEntry[] = [];
  private head = 0;

  get size(): number {
    return this.byKey.size;
  }

  /** The live entry of `key` at `now`; an expired one is removed. */
  get(key: string, now: number): DedupeEntry | undefined {
    const entry = this.byKey.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now) {
      this.byKey.delete(key);
      return undefined;
    }
    return entry;
  }

  put(key: string, entry: DedupeEntry): void {
    this.byKey.set(key, entry);
    this.keys.push(key);
    this.entries.push(entry);
  }

  delete(key: string): void {
    this.byKey.delete(key);
  }

  /** Drops the entries at the head of the queue that expired by `now`. */
  expire(now: number): void {
    const keys = this.keys;
    const entries = this.entries;
    let head = this.head;
    while (head < entries.length && entries[head]!.expiresAt <= now) {
      const key = keys[head]!;
      if (this.byKey.get(key) === entries[head]) this.byKey.delete(key);
      head++;
    }
    if (head >= COMPACT_AFTER && head * 2 >= entries.length) {
      this.keys = keys.slice(head);
      this.entries = entries.slice(head);
      head = 0;
    }
    this.head = head;
  }
}
