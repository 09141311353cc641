/** Headers Brook adds for its own transport; removed before the handler sees a message. */
export const IDEMPOTENCY_HEADER = "brook-idempotency-key";

/** Headers on a dead-lettered message: why, from where, after how many attempts. */
export const DLQ_HEADERS = {
  reason: "brook-dlq-reason",
  originalTopic: "brook-original-topic",
  originalPosition: "brook-original-position",
  attempts: "brook-attempts",
} as const;

/**
 * Sets a header on a plain object. `headers[name] = value` would drop a header named
 * `__proto__` (the assignment goes to Object.prototype's setter, which ignores a string): that
 * one becomes an own property, so it is kept like any other. Every place that builds headers
 * from names it does not control uses this.
 */
export function setHeader(headers: Record<string, string>, name: string, value: string): void {
  if (name === "__proto__") Object.defineProperty(headers, name, { value, enumerable: true, writable: true, configurable: true });
  else headers[name] = value;
}
