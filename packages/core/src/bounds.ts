/**
 * Every bound on waiting that core applies, in one place. Each is the longest Brook waits
 * before it gives up on the thing and moves on, leaving the work uncommitted (so it is
 * redelivered later, never lost).
 */
export const BOUNDS = {
  /** sub.close({ drain: true }) without timeoutMs: in-flight handlers get this long to finish */
  closeDrainMs: 10_000,
  /** a revoked partition's in-flight handlers get this long before its watermark is committed */
  revokeDrainMs: 10_000,
  /** broker.close() drains each open subscription this long */
  brokerCloseDrainMs: 5_000,
  /** subscribe() waits this long for the member's first partitions before resolving anyway */
  firstAssignmentMs: 30_000,
} as const;

/** Defaults of subscribe() options (SubscribeOptions documents each). */
export const SUBSCRIBE_DEFAULTS = {
  maxInFlight: 256,
  maxBatchSize: 1_000,
  /** with a batchHandler, maxInFlight defaults to this many batches' worth of messages */
  batchesInFlight: 4,
  stallTimeoutMs: 60_000,
  commitIntervalMs: 1_000,
  dedupeTtlMs: 24 * 3600_000,
} as const;
