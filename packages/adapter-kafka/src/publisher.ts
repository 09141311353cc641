import { type PublishBatchResult } from "@brook/core";
import {
  IDEMPOTENCY_HEADER,
  partitionForKey,
  type BackendLimits,
  type PublishTransport,
  type WireMessage,
} from "@brook/core/spi";
import type { KafkaAdmin } from "./admin.js";
import { notFound } from "./admin.js";
import type { DriverOutgoing, DriverProducer } from "./driver.js";
import { toKafkaBrookError } from "./errors.js";

/** Record batch header of the v2 message format. */
const BATCH_HEADER_BYTES = 61;
/** Upper bound of a record's framing: length, attributes, timestamp and offset deltas, key/value lengths, header count. */
const RECORD_FRAMING_BYTES = 24;
/** Upper bound of a header's framing: name and value lengths. */
const HEADER_FRAMING_BYTES = 8;

/**
 * Kafka's default partitioner, as the Java client has it: murmur2 of the key bytes for keyed
 * records (core's partitionForKey, so a key lands on the same partition number as on the local
 * broker), round-robin for records without a key.
 */
export function javaCompatiblePartitioner(): (key: Buffer | null, partitionCount: number) => number {
  let next = Math.floor(Math.random() * 1_000);
  return (key, partitionCount) => {
    if (key !== null) return partitionForKey(key, partitionCount);
    next = (next + 1) % 1_000_000;
    return next % partitionCount;
  };
}

/**
 * Sends encoded batches with one producer of its own: a KafkaJS producer that ever sent to a
 * deleted topic keeps failing metadata refreshes, so producers are never shared across Brook
 * publishers. Results carry each record's real partition and offset.
 */
export class KafkaPublishTransport implements PublishTransport {
  readonly system = "kafka";
  private topicChecked = false;

  constructor(
    readonly topic: string,
    private readonly producer: DriverProducer,
    private readonly admin: KafkaAdmin,
    readonly limits: BackendLimits,
    /** largest record batch the broker takes (message.max.bytes) */
    private readonly recordBatchBytes: number,
  ) {}

  async send(messages: WireMessage[]): Promise<PublishBatchResult[]> {
    if (!this.topicChecked) {
      // A producer asked for a missing topic retries for up to 30 s; check once, up front.
      if (!(await this.admin.topicExists(this.topic))) {
        const error = notFound(this.topic);
        return messages.map(() => ({ ok: false as const, error }));
      }
      this.topicChecked = true;
    }
    const results: PublishBatchResult[] = [];
    const chunks = this.chunk(messages.map(toOutgoing));
    for (let c = 0; c < chunks.length; c++) {
      const chunk = chunks[c]!;
      try {
        const positions = await this.producer.send(this.topic, chunk);
        for (const position of positions) results.push({ ok: true, position, duplicate: false });
      } catch (err) {
        const error = toKafkaBrookError(err, `publish to topic "${this.topic}"`);
        // Later chunks are not sent: core retries the failed entries in order, so per-key
        // order survives.
        for (let rest = c; rest < chunks.length; rest++) for (let i = 0; i < chunks[rest]!.length; i++) results.push({ ok: false, error });
        break;
      }
    }
    return results;
  }

  async close(): Promise<void> {
    await this.producer.close();
  }

  /**
   * Splits a batch so that no request carries more than one record batch's worth of bytes: all
   * of a chunk may land on one partition, and Kafka refuses a record batch over message.max.bytes.
   */
  private chunk(messages: DriverOutgoing[]): DriverOutgoing[][] {
    const budget = this.recordBatchBytes - BATCH_HEADER_BYTES;
    const chunks: DriverOutgoing[][] = [];
    let current: DriverOutgoing[] = [];
    let bytes = 0;
    for (const m of messages) {
      const size = recordSize(m);
      if (current.length > 0 && bytes + size > budget) {
        chunks.push(current);
        current = [];
        bytes = 0;
      }
      current.push(m);
      bytes += size;
    }
    if (current.length > 0) chunks.push(current);
    return chunks;
  }
}

function toOutgoing(m: WireMessage): DriverOutgoing {
  const headers = m.idempotencyKey === undefined ? m.headers : { ...m.headers, [IDEMPOTENCY_HEADER]: m.idempotencyKey };
  const value = m.value;
  return {
    key: m.key === undefined ? null : Buffer.from(m.key, "utf8"),
    value: Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength),
    headers,
  };
}

function recordSize(m: DriverOutgoing): number {
  let size = RECORD_FRAMING_BYTES + m.value.byteLength + (m.key?.byteLength ?? 0);
  for (const name in m.headers) size += HEADER_FRAMING_BYTES + Buffer.byteLength(name) + Buffer.byteLength(m.headers[name]!);
  return size;
}
