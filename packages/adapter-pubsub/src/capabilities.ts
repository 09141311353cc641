import type { Capabilities } from "@brook/core";
import type { BackendLimits } from "@brook/core/spi";

/**
 * Pub/Sub's published quotas (cloud.google.com/pubsub/quotas). The emulator enforces none of
 * them, so the adapter checks every one before sending.
 */
export const PUBSUB_LIMITS = {
  /** data + attributes + ordering key of one message */
  maxMessageBytes: 10_000_000,
  /** messages in one Publish request */
  maxBatchCount: 1_000,
  /**
   * Bytes Brook packs into one Publish request. The service's cap is 10 MB for the whole
   * request; ~1 MB is left for protobuf framing (a few bytes per field and per attribute).
   * The emulator never answers a request above 11,000,000 bytes (the client waits for its
   * deadline), so the transport also measures each request and splits one that would pass
   * MAX_REQUEST_BYTES.
   */
  maxBatchBytes: 9_000_000,
  maxRequestBytes: 9_800_000,
  maxAttributes: 100,
  maxAttributeKeyBytes: 256,
  maxAttributeValueBytes: 1_024,
  maxOrderingKeyBytes: 1_024,
} as const;

/**
 * Pub/Sub has no partitions: a topic is one stream and a message's place in it is its message
 * id. Brook reports that stream as the one partition "*" everywhere a partition is named:
 * positions ({ partition: "*", offset: <message id> }), assignment(), health() and the
 * brook-original-position dead-letter header. Order is per ordering key (message.key).
 */
export const PUBSUB_PARTITION = "*";

export const pubsubLimits: BackendLimits = {
  maxMessageBytes: PUBSUB_LIMITS.maxMessageBytes,
  maxBatchCount: PUBSUB_LIMITS.maxBatchCount,
  maxBatchBytes: PUBSUB_LIMITS.maxBatchBytes,
  // The client's ordered queues keep call order per ordering key across concurrent Publish
  // calls, and a failed key is paused by the adapter, so batches may overlap.
  maxInFlightBatches: 4,
};

/**
 * Pub/Sub: order per ordering key, no partitions, one subscription per group. Acknowledged
 * messages stay retained on subscriptions Brook creates, so a seek to a time replays them.
 *
 * On the emulator `seek.time` is false unless messageOrdering=false: the emulator answers
 * UNIMPLEMENTED to a seek to a time on a subscription with message ordering (what Brook
 * creates by default), and it rounds seek times down to whole seconds. Seek to a snapshot
 * works on every subscription there.
 *
 * `historyForNewGroups`: on the service, topics Brook creates keep their messages (topic
 * retention, 7 days by default) and a new subscription is sought back to them. Measured on
 * emulator jar 0.8.20: with messageOrdering=false, topic retention + seek to a time places a new
 * subscription exactly (to the second) — true there. With message ordering there is no route:
 * seek to a time is UNIMPLEMENTED, and seeking an ordered subscription to a snapshot of an
 * unordered one (which could be sought) is refused with FAILED_PRECONDITION ("may cause
 * out-of-order redelivery"); ordering cannot be changed after creation (INVALID_ARGUMENT, not
 * mutable). The emulator does hand every new subscription all the topic retains, so "earliest"
 * happens to reach history there, but { time } cannot and "latest" cannot exclude it — false.
 */
export function pubsubCapabilities(connection: { emulator: boolean; messageOrdering: boolean } = { emulator: false, messageOrdering: true }): Capabilities {
  return {
    subscribe: true,
    ordering: "key",
    seek: { offset: false, time: !connection.emulator || !connection.messageOrdering },
    replayAfterAck: true,
    historyForNewGroups: !connection.emulator || !connection.messageOrdering,
    nativeDeadLetter: true,
    publishDedupe: "none",
    consumerGroups: true,
    partitions: "none",
    ...pubsubLimits,
  };
}
