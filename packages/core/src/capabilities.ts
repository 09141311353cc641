import type { Capabilities } from "./contract.js";

/**
 * What a partitioned log retained after acknowledgement, with consumer groups, gives
 * (Kafka's model: Kafka, the local broker, and the shape Kinesis and Event Hubs start from).
 * An adapter spreads it and adds its publish dedupe and limits, overriding what differs.
 */
export function partitionedLogCapabilities(): Omit<Capabilities, "publishDedupe" | "maxMessageBytes" | "maxBatchCount" | "maxBatchBytes"> {
  return {
    subscribe: true,
    ordering: "key",
    seek: { offset: true, time: true },
    replayAfterAck: true,
    historyForNewGroups: true,
    nativeDeadLetter: false,
    consumerGroups: true,
    partitions: "fixed",
  };
}
