import type { Capabilities } from "@brook/core";
import { partitionedLogCapabilities } from "@brook/core/spi";
import { MAX_APPEND_MESSAGES } from "./limits.js";

/** The local broker keeps Kafka's model: a retained, partitioned log with groups and seek. */
export function localCapabilities(maxMessageBytes: number): Capabilities {
  return {
    ...partitionedLogCapabilities(),
    publishDedupe: "window",
    maxMessageBytes,
    maxBatchCount: MAX_APPEND_MESSAGES,
    maxBatchBytes: 16 * 1024 * 1024,
  };
}
