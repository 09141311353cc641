import type { DedupeEntry } from "./types.js";

/** Entries popped before the queue's arrays are cut down to their live part. */
const COMPACT_AFTER = 4096;

/**
 * One topic's publish dedupe window: idempotency key → entry, plus the entries in the order they
 * were put (a FIFO queue), so expiry pops from the head instead of sweeping the whole map.
 * Entries are put with expiresAt = publish time + window, so the queue is in expiry order; one
 * out of order (a restore from the log, a clock step) only leaves its memory a little later:
 * `get` checks expiresAt itself. A key put again leaves its old queue slot behind, and popping
 * that slot removes nothing (the map points at the newer slot).
 *
 * The queue is parallel arrays (keys, partitions, offsets, expiry times) and the map holds each
 * key's slot number, not an object: a window of a few hundred thousand live keys is a few large
 * arrays the garbage collector does not walk entry by entry, instead of an object per entry.
 */
export class DedupeWindow {
  /** key → its slot's sequence number (slot index + `base`) */
  private readonly slots = new Map<string, number>();
  private keys: string[] = [];
  private partitions: number[] = [];
  private offsets: number[] = [];
  private expiries: number[] = [];
  /** sequence number of index 0 of the arrays (they are cut from the front) */
  private base = 0;
  private head = 0;

  get size(): number {
    return this.slots.size;
  }

  /** The live entry of `key` at `now`; an expired one is removed. */
  get(key: string, now: number): DedupeEntry | undefined {
    const seq = this.slots.get(key);
    if (seq === undefined) return undefined;
    const i = seq - this.base;
    const expiresAt = this.expiries[i]!;
    if (expiresAt <= now) {
      this.slots.delete(key);
      return undefined;
    }
    return { partition: this.partitions[i]!, offset: this.offsets[i]!, expiresAt };
  }

  put(key: string, entry: DedupeEntry): void {
    this.slots.set(key, this.base + this.keys.length);
    this.keys.push(key);
    this.partitions.push(entry.partition);
    this.offsets.push(entry.offset);
    this.expiries.push(entry.expiresAt);
  }

  delete(key: string): void {
    this.slots.delete(key);
  }

  /** Every key in the window with its entry (expired ones included until expire() pops them). */
  *entries(): IterableIterator<[string, DedupeEntry]> {
    for (const [key, seq] of this.slots) {
      const i = seq - this.base;
      yield [key, { partition: this.partitions[i]!, offset: this.offsets[i]!, expiresAt: this.expiries[i]! }];
    }
  }

  /** Drops the entries at the head of the queue that expired by `now`. */
  expire(now: number): void {
    const keys = this.keys;
    const expiries = this.expiries;
    let head = this.head;
    while (head < expiries.length && expiries[head]! <= now) {
      const key = keys[head]!;
      if (this.slots.get(key) === this.base + head) this.slots.delete(key);
      head++;
    }
    if (head >= COMPACT_AFTER && head * 2 >= expiries.length) {
      this.keys = keys.slice(head);
      this.partitions = this.partitions.slice(head);
      this.offsets = this.offsets.slice(head);
      this.expiries = expiries.slice(head);
      this.base += head;
      head = 0;
    }
    this.head = head;
  }
}
