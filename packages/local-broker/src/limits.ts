/**
 * What one request to the local broker may ask for, checked by the engine (embedded) and by
 * `brook serve` before the engine (README "Limits", PROTOCOL.md §3). Each refusal is a
 * BrookError naming the field: INVALID_ARGUMENT, or MESSAGE_TOO_LARGE for one message.
 */
import { BrookError } from "@brook/core/base";
import type { WireMessage } from "@brook/core/spi";
import { invalidArgument, wireSize } from "@brook/core/base";

/**
 * Partitions of one topic. Each partition is a directory, a segment file and its indexes, and
 * (while the topic exists) a log object; 1000 keeps a createTopic under a second on a laptop's
 * disk, and more than that on one local broker is a sign of a mistake (10,000 took 5 s of
 * blocked event loop and one file descriptor each before the descriptor pool).
 */
export const MAX_PARTITIONS_PER_TOPIC = 1000;

/** Group names and member ids: 1 to this many characters, like topic names (core's rule). */
export const MAX_NAME_LENGTH = 249;

/** Messages in one append (the publisher's maxBatchCount; localCapabilities declares it). */
export const MAX_APPEND_MESSAGES = 10_000;

export function validatePartitionCount(partitions: unknown): number {
  if (typeof partitions !== "number" || !Number.isInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS_PER_TOPIC) {
    throw invalidArgument("partitions", `an integer from 1 to ${MAX_PARTITIONS_PER_TOPIC}`, partitions);
  }
  return partitions;
}

/** A group name or member id: any text of 1 to MAX_NAME_LENGTH characters. */
export function validateName(value: unknown, field: string): string {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_NAME_LENGTH) {
    throw invalidArgument(field, `1 to ${MAX_NAME_LENGTH} characters`, value);
  }
  return value;
}

export function validateAppendCount(count: number): void {
  if (count > MAX_APPEND_MESSAGES) {
    throw new BrookError("INVALID_ARGUMENT", `messages: expected at most ${MAX_APPEND_MESSAGES} messages in one APPEND, got ${count}; send smaller batches`);
  }
}

/** MESSAGE_TOO_LARGE when data, key, idempotency key and headers together exceed the limit (core's wireSize). */
export function messageSizeError(message: WireMessage, maxMessageBytes: number): BrookError | undefined {
  // A UTF-16 unit is at most 3 UTF-8 bytes: under the limit at that bound, no string is measured.
  let bound = message.value.byteLength;
  if (message.key !== undefined) bound += 3 * message.key.length;
  if (message.idempotencyKey !== undefined) bound += 3 * message.idempotencyKey.length;
  const headers = message.headers;
  for (const name in headers) bound += 3 * (name.length + headers[name]!.length);
  if (bound <= maxMessageBytes) return undefined;
  const size = wireSize(message);
  if (size <= maxMessageBytes) return undefined;
  return new BrookError("MESSAGE_TOO_LARGE", `message of ${size} bytes (data, key and headers) exceeds the broker limit of ${maxMessageBytes} bytes`);
}
