/**
 * Idempotent producers (KIP-98 without transactions): InitProducerId hands out ids; each
 * (producer id, topic, partition) keeps the next expected sequence and the answers of its last
 * five batches, so a retried batch gets its first answer instead of a second append, and a gap
 * gets OUT_OF_ORDER_SEQUENCE_NUMBER. Kept in memory: after a restart a producer's first batch
 * starts a new sequence, whatever its number.
 */
import { KafkaError } from "./errors.js";
import type { DecodedBatch } from "./records.js";

const MAX_SEQUENCES = 100_000;

interface Appended {
  baseOffset: number;
  appendTime: number;
}

interface Sequence {
  epoch: number;
  next: number;
  recent: Array<{ baseSequence: number; appended: Appended }>;
}

export class ProducerState {
  private nextId = Date.now() % 1_000_000_000;
  private readonly sequences = new Map<string, Sequence>();

  newId(): number {
    return this.nextId++;
  }

  /** A Kafka error code, or `{ duplicate }` (undefined when the batch is new and must be appended). */
  check(batch: DecodedBatch, topic: string, partition: number): number | { duplicate: Appended | undefined } {
    if (batch.producerId < 0 || batch.baseSequence < 0) return { duplicate: undefined };
    const s = this.sequences.get(`${batch.producerId}/${topic}/${partition}`);
    if (s === undefined) return { duplicate: undefined };
    if (batch.producerEpoch < s.epoch) return KafkaError.INVALID_PRODUCER_EPOCH;
    if (batch.producerEpoch > s.epoch) return batch.baseSequence === 0 ? { duplicate: undefined } : KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER;
    if (batch.baseSequence === s.next) return { duplicate: undefined };
    const seen = s.recent.find((r) => r.baseSequence === batch.baseSequence);
    if (seen !== undefined) return { duplicate: seen.appended };
    return KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER;
  }

  record(batch: DecodedBatch, topic: string, partition: number, appended: Appended): void {
    if (batch.producerId < 0 || batch.baseSequence < 0) return;
    const key = `${batch.producerId}/${topic}/${partition}`;
    let s = this.sequences.get(key);
    if (s === undefined || s.epoch !== batch.producerEpoch) {
      this.sequences.delete(key);
      this.sequences.set(key, (s = { epoch: batch.producerEpoch, next: 0, recent: [] }));
      // bounded: the producers seen longest ago are forgotten first
      if (this.sequences.size > MAX_SEQUENCES) this.sequences.delete(this.sequences.keys().next().value!);
    }
    s.next = (batch.baseSequence + batch.records.length) % 2 ** 31;
    s.recent.push({ baseSequence: batch.baseSequence, appended });
    if (s.recent.length > 5) s.recent.shift();
  }
}
