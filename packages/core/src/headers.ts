/** Headers Brook adds for its own transport; removed before the handler sees a message. */
export const IDEMPOTENCY_HEADER = "brook-idempotency-key";

/** Headers on a dead-lettered message: why, from where, after how many attempts. */
export const DLQ_HEADERS = {
  reason: "brook-dlq-reason",
  originalTopic: "brook-original-topic",
  originalPosition: "brook-original-position",
  attempts: "brook-attempts",
} as const;
