import type { Capabilities } from "@brook/core";
import type { BackendLimits } from "@brook/core/spi";
import { MAX_FIREHOSE_RECORD_BYTES } from "./framing.js";

/** PutRecordBatch: at most 500 records and 4 MiB per call. */
export const PUT_RECORD_BATCH_MAX_COUNT = 500;
export const PUT_RECORD_BATCH_MAX_BYTES = 4 * 1_048_576;

/**
 * What core's batcher packs by: messages counted by data, key and headers. The transport then
 * measures each record it builds (newline, JSON envelope, base64) and splits a batch into
 * PutRecordBatch calls under the limits by those real sizes.
 */
export function firehoseLimits(): BackendLimits {
  return { maxMessageBytes: MAX_FIREHOSE_RECORD_BYTES, maxBatchCount: PUT_RECORD_BATCH_MAX_COUNT, maxBatchBytes: PUT_RECORD_BATCH_MAX_BYTES };
}

/**
 * Firehose through Brook: a publish-only delivery sink. Records are delivered to S3 (or another
 * destination) in buffered objects; nothing reads them back through Brook, so `subscribe` is
 * false and so is everything that belongs to reading (groups, seek, replay, history). There
 * are no partitions and no publish dedupe (a PutRecordBatch retry after a lost response writes
 * the record again; with envelope "json" the idempotency key is in the line, for readers to
 * drop repeats). Order: Firehose promises none across calls, and a retried entry lands after
 * entries sent after it.
 */
export function firehoseCapabilities(): Capabilities {
  return {
    subscribe: false,
    ordering: "partition",
    seek: { offset: false, time: false },
    replayAfterAck: false,
    historyForNewGroups: false,
    nativeDeadLetter: false,
    publishDedupe: "none",
    consumerGroups: false,
    partitions: "none",
    ...firehoseLimits(),
  };
}
