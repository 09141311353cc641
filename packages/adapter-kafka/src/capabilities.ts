import { partitionedLogCapabilities } from "@brook/core/spi";
import type { Capabilities } from "@brook/core";
import type { BackendLimits } from "@brook/core/spi";

/** Kafka's default `message.max.bytes` (1 MiB + 12 bytes of log overhead). */
export const DEFAULT_MESSAGE_MAX_BYTES = 1_048_588;

/**
 * Room kept under `message.max.bytes` for what Brook's size count (data, key, header names and
 * values) leaves out: the record batch header (61 bytes), per-record varints and attributes,
 * and the `brook-idempotency-key` header name.
 */
export const RECORD_OVERHEAD_BYTES = 512;

export function kafkaLimits(messageMaxBytes: number): BackendLimits {
  return {
    maxMessageBytes: Math.max(1, messageMaxBytes - RECORD_OVERHEAD_BYTES),
    // One publish batch becomes one Produce request; the transport splits it further so that
    // no partition's record batch passes message.max.bytes. 1,000: KafkaJS groups a send's
    // records by partition in time quadratic in records per partition, so 5,000-record sends
    // were ~25% slower than 1,000 on 4 partitions (scripts/bench-kafka.mjs), and 500 slower again.
    maxBatchCount: 1_000,
    maxBatchBytes: messageMaxBytes,
  };
}

/**
 * What Kafka gives through Brook. publishDedupe is "none": the idempotent producer drops
 * the duplicates of its own retries within one producer session, not repeats of an
 * application's idempotency key (use consumer-side dedupe for that).
 */
export function kafkaCapabilities(messageMaxBytes: number): Capabilities {
  return { ...partitionedLogCapabilities(), publishDedupe: "none", ...kafkaLimits(messageMaxBytes) };
}
