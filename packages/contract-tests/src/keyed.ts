import type { OutgoingMessage } from "@brook/core";

/** The payload of key-order cases: which key, and the message's place in that key's sequence. */
export interface Keyed {
  k: string;
  i: number;
}

/** Messages `from` … `to - 1` of every key, interleaved across keys as a busy producer would send them. */
export function keyedMessages(keys: number, from: number, to: number): OutgoingMessage<Keyed>[] {
  const out: OutgoingMessage<Keyed>[] = [];
  for (let i = from; i < to; i++) for (let k = 0; k < keys; k++) out.push({ key: `key-${k}`, data: { k: `key-${k}`, i } });
  return out;
}

/** Records, per key, the order in which messages were handled. */
export class KeySequences {
  private readonly seen = new Map<string, number[]>();
  count = 0;

  record(m: Keyed): void {
    const list = this.seen.get(m.k) ?? [];
    list.push(m.i);
    this.seen.set(m.k, list);
    this.count += 1;
  }

  of(key: string): number[] {
    return this.seen.get(key) ?? [];
  }

  /** Every key as `{ key: sequence }`, so a failed expectation shows all of them at once. */
  all(keys: number): Record<string, number[]> {
    const out: Record<string, number[]> = {};
    for (let k = 0; k < keys; k++) out[`key-${k}`] = this.of(`key-${k}`);
    return out;
  }
}

/** What `KeySequences.all` holds when every key's messages 0 … perKey - 1 were handled once, in order. */
export function inOrderOnce(keys: number, perKey: number): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (let k = 0; k < keys; k++) out[`key-${k}`] = Array.from({ length: perKey }, (_, i) => i);
  return out;
}
