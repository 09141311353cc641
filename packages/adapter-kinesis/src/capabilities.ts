import type { Capabilities } from "@brook/core";
import { partitionedLogCapabilities, type BackendLimits } from "@brook/core/spi";
import { MAX_RECORD_BYTES } from "./options.js";

/** PutRecords: at most 500 records and 5 MiB (data and partition keys) per call. */
export const PUT_RECORDS_MAX_COUNT = 500;
export const PUT_RECORDS_MAX_BYTES = 5 * 1_048_576;

/**
 * Room kept under a record's 1 MiB for what Brook's size count (data, key, idempotency key,
 * header names and values) leaves out: the KPL envelope's magic and MD5 (20 bytes), its
 * protobuf framing (a few bytes per tag), the key's second copy in the envelope's table, and an
 * unkeyed message's random partition key. The publisher still measures each record it builds
 * and refuses one over the limit with MESSAGE_TOO_LARGE.
 */
export const RECORD_OVERHEAD_BYTES = 1_024;

/**
 * Messages per publish batch with `aggregate: true`: they are packed into at most 500 records
 * of `aggregateMaxBytes`, so a batch may hold far more messages than records.
 */
export const AGGREGATED_BATCH_COUNT = 20_000;

export function kinesisLimits(aggregate = false): BackendLimits {
  return {
    maxMessageBytes: MAX_RECORD_BYTES - RECORD_OVERHEAD_BYTES,
    maxBatchCount: aggregate ? AGGREGATED_BATCH_COUNT : PUT_RECORDS_MAX_COUNT,
    maxBatchBytes: PUT_RECORDS_MAX_BYTES,
  };
}

/**
 * What Kinesis Data Streams gives through Brook: a partitioned log (Kafka's model) whose
 * partitions are shards, with these differences:
 * - partitions "resharding": shards split and merge (admin.setPartitions, or the service's own
 *   UpdateShardCount); a child shard is read only after its parents are finished, so per-key
 *   order holds across a reshard.
 * - publishDedupe "none": Kinesis has no idempotent producer; a PutRecords retry after a lost
 *   response writes the record again. The idempotency key travels in the record (KPL envelope
 *   tag), so consumer-side dedupe (`dedupe: { store }`) recognises the repeat.
 * - replayAfterAck / historyForNewGroups: records stay for the stream's retention (24 h by
 *   default, up to 365 days) whatever consumers did; earliest reaches back that far.
 * - nativeDeadLetter false: Kinesis has none; dead letters go to a Brook topic.
 */
export function kinesisCapabilities(): Capabilities {
  return {
    ...partitionedLogCapabilities(),
    partitions: "resharding",
    publishDedupe: "none",
    ...kinesisLimits(false),
  };
}
