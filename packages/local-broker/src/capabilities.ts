import type { Capabilities } from "@brook/core";

/** The local broker keeps Kafka's model: a retained, partitioned log with groups and seek. */
export function localCapabilities(maxMessageBytes: number): Capabilities {
  return {
    ordering: "key",
    seek: { offset: true, time: true },
    replayAfterAck: true,
    historyForNewGroups: true,
    nativeDeadLetter: false,
    publishDedupe: "window",
    consumerGroups: true,
    partitions: "fixed",
    maxMessageBytes,
    maxBatchCount: 10_000,
    maxBatchBytes: 16 * 1024 * 1024,
  };
}
