import { BrookError, connect, isBrookError, type Broker, type Logger } from "@brook/core";
import { invalidArgument, validateTopicName } from "@brook/core/spi";

/** A broker the caller opened (left open), or a URL the mirror connects to (and closes). */
export type BrokerRef = Broker | string;

/** How often the position map is written: whichever comes first. */
export interface SyncEvery {
  messages?: number;
  ms?: number;
}

export const DEFAULT_SYNC_EVERY = { messages: 1_000, ms: 1_000 } as const;
/** A message the target refuses for a transient reason is retried for this long, then the mirror fails. */
export const DEFAULT_RETRY_FOR_MS = 60_000;
/** Source messages per batch handed to the target's publishBatch. */
export const DEFAULT_BATCH_SIZE = 500;
/** `once` on a source without offsets (Pub/Sub): done when no message arrived for this long. */
export const DEFAULT_IDLE_MS = 3_000;
/** The map is read by translate; checkpoints older than this are gone (translation then starts earlier, never later). */
export const MAP_RETENTION_MS = 7 * 24 * 3600_000;

/** Headers the mirror adds to every copy on the target. */
export const MIRROR_HEADERS = {
  /** the source message's publish time, ISO 8601 */
  publishTime: "brook-mirror-publish-time",
  /** `<source topic>/<partition>/<offset>` of the source message */
  source: "brook-mirror-source",
} as const;

/** The idempotency key of a copy whose source message had none: stable across mirror restarts. */
export function derivedIdempotencyKey(topic: string, partition: string, offset: string): string {
  return `${DERIVED_KEY_PREFIX}${topic}/${partition}/${offset}`;
}

export const DERIVED_KEY_PREFIX = "brook-mirror:";

/** The position map's topic on the target, beside the copy (see README: why on the target). */
export function mapTopicFor(toTopic: string): string {
  return `brook-mirror-map.${toTopic}`;
}

/** The source group a mirror of `toTopic` commits under unless one is given. */
export function defaultMirrorGroup(toTopic: string): string {
  return `brook-mirror.${toTopic}`;
}

export function checkSyncEvery(value: SyncEvery | number | undefined): { messages: number; ms: number } {
  if (value === undefined) return { ...DEFAULT_SYNC_EVERY };
  if (typeof value === "number") value = { messages: value };
  if (typeof value !== "object" || value === null) throw invalidArgument("syncEvery", "a message count or { messages, ms }", value);
  const messages = value.messages ?? DEFAULT_SYNC_EVERY.messages;
  const ms = value.ms ?? DEFAULT_SYNC_EVERY.ms;
  if (!Number.isSafeInteger(messages) || messages < 1) throw invalidArgument("syncEvery.messages", "a whole number ≥ 1", messages);
  if (!Number.isFinite(ms) || ms < 1) throw invalidArgument("syncEvery.ms", "a number of milliseconds ≥ 1", ms);
  return { messages, ms };
}

export function checkTopic(topic: unknown, field: string): string {
  return validateTopicName(topic, field);
}

export function checkPositiveInt(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) throw invalidArgument(field, "a whole number ≥ 1", value);
  return value;
}

/** Opens what the caller gave as a URL; `owned` brokers are closed by whoever opened them here. */
export async function openBroker(ref: BrokerRef, field: string, logger: Logger | undefined): Promise<{ broker: Broker; owned: boolean }> {
  if (typeof ref === "string") {
    if (ref.length === 0) throw invalidArgument(field, "a broker URL or a Broker", ref);
    return { broker: await connect(ref, logger === undefined ? {} : { logger }), owned: true };
  }
  if (typeof ref !== "object" || ref === null || typeof (ref as Broker).subscribe !== "function") {
    throw invalidArgument(field, "a broker URL or a Broker", ref);
  }
  return { broker: ref, owned: false };
}

export async function requireTopic(broker: Broker, topic: string, side: "from" | "to"): Promise<void> {
  if (!(await broker.admin.topicExists(topic))) {
    throw new BrookError("TOPIC_NOT_FOUND", `${side}: topic "${topic}" does not exist on ${redact(broker.url)}`);
  }
}

/** A URL as it may be printed: credentials and query parameters (tokens, keys) removed. */
export function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//").replace(/\?.*$/, "");
}

/**
 * An offset as the mirror compares it: a number, or Kinesis's `<sequence>:<sub-record>` inside
 * an aggregated record (ordered after the record's own sequence, before the next one's).
 */
export interface Offset {
  value: bigint;
  text: string;
}

const SUB_RECORDS = 1n << 32n;

export function parseOffset(text: string): Offset {
  const colon = text.indexOf(":");
  if (colon < 0) return { value: BigInt(text) * SUB_RECORDS, text };
  return { value: BigInt(text.slice(0, colon)) * SUB_RECORDS + BigInt(text.slice(colon + 1)), text };
}

export function compareOffsets(a: Offset, b: Offset): number {
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

/** The partition ends, or undefined where the backend's offsets have gaps (UNSUPPORTED: Kinesis). */
export async function offsetsOf(broker: Broker, topic: string): Promise<Array<{ partition: string; start: string; end: string }> | undefined> {
  try {
    return await broker.admin.partitionOffsets(topic);
  } catch (err) {
    if (isBrookError(err, "UNSUPPORTED")) return undefined;
    throw err;
  }
}
