import type { Capabilities } from "@brook/core";
import { partitionedLogCapabilities, type BackendLimits } from "@brook/core/spi";

/**
 * Room kept under the service's message size for what Brook's size count (data, key, header
 * names and values) leaves out: the AMQP framing of one event inside a batch (header, message
 * annotations with the partition key, properties with the message id, the application
 * properties' map encoding) and the `brook-idempotency-key` property.
 */
export const EVENT_OVERHEAD_BYTES = 1_024;

export function eventHubsLimits(maxMessageBytes: number): BackendLimits {
  return {
    maxMessageBytes: Math.max(1, maxMessageBytes - EVENT_OVERHEAD_BYTES),
    // One publish batch is split by partition and packed into EventDataBatches with tryAdd
    // under the size the service announces for the link; the count only bounds one call.
    maxBatchCount: 1_000,
    maxBatchBytes: maxMessageBytes,
  };
}

/**
 * What Event Hubs gives through Brook: a retained, partitioned log with consumer groups, seek by
 * sequence number and by enqueued time. publishDedupe is "none": the service keeps no record of
 * message ids (the idempotency key travels as the event's messageId and a property; use
 * `dedupe: { store }` on the subscriber). Partitions are fixed at creation (Standard tier).
 */
export function eventHubsCapabilities(maxMessageBytes = 1_048_576): Capabilities {
  return { ...partitionedLogCapabilities(), publishDedupe: "none", ...eventHubsLimits(maxMessageBytes) };
}
