import { BrookError } from "@brook/core";
import { invalidArgument } from "@brook/core/spi";

/**
 * Options of `pubsub://<project-id>?…`. Every field except `projectId` is also a URL query
 * parameter of the same name; typed options passed to connect() override the URL's.
 */
export interface PubSubBrokerOptions {
  /** the Google Cloud project (the URL's host part). Credentials: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud, metadata server). */
  projectId: string;
  /** "host:port" of the Pub/Sub emulator; plain-text gRPC, no credentials */
  emulatorHost?: string;
  /** a non-default service endpoint, e.g. "europe-west1-pubsub.googleapis.com" (ordering keys stay regional) */
  apiEndpoint?: string;
  /** name of a group's subscription: "{topic}" and "{group}" are replaced (default "{topic}.{group}") */
  subscriptionName?: string;
  /** dead-letter topic for deadLetter "native": "{topic}", "{group}", "{subscription}" are replaced (default "{subscription}.dlq") */
  deadLetterTopic?: string;
  /** create subscriptions with exactly-once delivery; acks then wait for the service's confirmation (default false) */
  exactlyOnceDelivery?: boolean;
  /**
   * create subscriptions with message ordering (default true). false: Pub/Sub delivers without
   * per-key order (lower latency), so subscribe() then requires ordering "none".
   */
  messageOrdering?: boolean;
  /**
   * with deadLetter "native", give new subscriptions a retryPolicy built from retry.minDelayMs /
   * maxDelayMs, so a failed message comes back after an exponential backoff (default true).
   * false: it comes back at once. (The emulator stops forwarding to the dead-letter topic
   * when a subscription has a retryPolicy, so tests there pass false.)
   */
  retryPolicy?: boolean;
  /** streaming-pull connections per subscriber (default 5; never more than maxInFlight) */
  maxStreams?: number;
  /** messages a subscriber leases ahead of its handlers (client flow control; default max(1000, maxInFlight)) */
  maxBufferedMessages?: number;
  /** deadline of each publish and admin request (default 60000) */
  requestTimeoutMs?: number;
  /** how long subscriptions Brook creates keep acknowledged messages for seek (600000..604800000, default 7 days) */
  subscriptionRetentionMs?: number;
  /**
   * message retention of the topics Brook creates (admin.createTopic, createIfMissing, the
   * native dead-letter topic) unless createTopic names its own retentionMs: 600000..2678400000
   * (10 min..31 days), default 7 days; 0 creates topics without retention. Retention is what
   * lets a new group start before it existed (startFrom "earliest" or { time }): without it a
   * new subscription starts at its creation. Retained messages are billed as storage.
   */
  topicRetentionMs?: number;
}

type OptionName = Exclude<keyof PubSubBrokerOptions, "projectId">;
const STRINGS = ["emulatorHost", "apiEndpoint", "subscriptionName", "deadLetterTopic"] as const;
const NUMBERS = ["maxStreams", "maxBufferedMessages", "requestTimeoutMs", "subscriptionRetentionMs", "topicRetentionMs"] as const;
/** Numbers where 0 means "none" rather than being out of range. */
const ZERO_ALLOWED: readonly string[] = ["topicRetentionMs"];
const BOOLEANS = ["exactlyOnceDelivery", "messageOrdering", "retryPolicy"] as const;
const KNOWN: readonly OptionName[] = [...STRINGS, ...NUMBERS, ...BOOLEANS];

export const DEFAULT_SUBSCRIPTION_NAME = "{topic}.{group}";
export const DEFAULT_DEAD_LETTER_TOPIC = "{subscription}.dlq";
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
export const DEFAULT_SUBSCRIPTION_RETENTION_MS = 7 * 24 * 3600_000;
/**
 * Seven days, like the local broker's default retention and the longest a subscription keeps
 * acknowledged messages: a service that replays a week is the common case, and the storage
 * this costs is bounded by it.
 */
export const DEFAULT_TOPIC_RETENTION_MS = 7 * 24 * 3600_000;
/** Pub/Sub's bounds for a subscription's messageRetentionDuration. */
const RETENTION_MIN_MS = 600_000;
const RETENTION_MAX_MS = 7 * 24 * 3600_000;
/** Pub/Sub's bounds for a topic's messageRetentionDuration (the emulator enforces the same). */
export const TOPIC_RETENTION_MIN_MS = 10 * 60_000;
export const TOPIC_RETENTION_MAX_MS = 31 * 24 * 3600_000;

/** Parses `pubsub://my-project?emulatorHost=127.0.0.1:8085&exactlyOnceDelivery=true`. */
export function parsePubSubUrl(url: string): PubSubBrokerOptions {
  const match = /^pubsub:\/\/([^/?#]*)\/?(?:\?([^#]*))?$/i.exec(url);
  if (match === null) {
    throw new BrookError("INVALID_URL", `url "${url}": expected pubsub://<project-id>[?emulatorHost=host:port&…]`);
  }
  const projectId = decodeURIComponent(match[1] ?? "");
  if (!/^[A-Za-z0-9][A-Za-z0-9.:_-]*$/.test(projectId)) {
    throw new BrookError("INVALID_URL", `url "${url}": expected a project id after pubsub://, e.g. pubsub://my-project`);
  }
  const options: PubSubBrokerOptions = { projectId };
  for (const [name, value] of new URLSearchParams(match[2] ?? "")) {
    try {
      setOption(options, name, value, true);
    } catch (err) {
      const reason = err instanceof BrookError ? err.message : String(err);
      throw new BrookError("INVALID_URL", `url "${url}": ${reason}`);
    }
  }
  try {
    return validate(options);
  } catch (err) {
    throw new BrookError("INVALID_URL", `url "${url}": ${(err as Error).message}`);
  }
}

/** Merges typed options (from connect()) over the URL's, checking each type. */
export function mergeOptions(fromUrl: PubSubBrokerOptions, given: Record<string, unknown>): PubSubBrokerOptions {
  const out: PubSubBrokerOptions = { ...fromUrl };
  for (const name of KNOWN) {
    if (given[name] !== undefined) setOption(out, name, given[name], false);
  }
  return validate(out);
}

/** The URL that gives these options back. */
export function formatPubSubUrl(options: PubSubBrokerOptions): string {
  const params = new URLSearchParams();
  for (const name of KNOWN) {
    const value = options[name];
    if (value !== undefined) params.set(name, String(value));
  }
  const query = params.toString();
  return `pubsub://${encodeURIComponent(options.projectId)}${query.length > 0 ? `?${query}` : ""}`;
}

function setOption(out: PubSubBrokerOptions, name: string, value: unknown, fromUrl: boolean): void {
  if ((STRINGS as readonly string[]).includes(name)) {
    if (typeof value !== "string" || value.length === 0) throw invalidArgument(name, "a non-empty string", value);
    out[name as (typeof STRINGS)[number]] = value;
  } else if ((NUMBERS as readonly string[]).includes(name)) {
    const n = fromUrl ? Number(value) : value;
    const zeroAllowed = ZERO_ALLOWED.includes(name);
    if (typeof n !== "number" || !Number.isFinite(n) || n < 0 || (n === 0 && !zeroAllowed)) {
      throw invalidArgument(name, zeroAllowed ? "0 or a positive number" : "a positive number", value);
    }
    out[name as (typeof NUMBERS)[number]] = n;
  } else if ((BOOLEANS as readonly string[]).includes(name)) {
    const b = fromUrl ? (value === "true" ? true : value === "false" ? false : value) : value;
    if (typeof b !== "boolean") throw invalidArgument(name, "true or false", value);
    out[name as (typeof BOOLEANS)[number]] = b;
  } else {
    throw new BrookError("INVALID_ARGUMENT", `unknown parameter "${name}"; known: ${KNOWN.join(", ")}`);
  }
}

function validate(options: PubSubBrokerOptions): PubSubBrokerOptions {
  const template = options.subscriptionName ?? DEFAULT_SUBSCRIPTION_NAME;
  // Without {group}, every group would share one subscription and fan-out would silently break.
  if (!template.includes("{group}")) throw invalidArgument("subscriptionName", 'a template containing "{group}"', template);
  for (const name of ["maxStreams", "maxBufferedMessages"] as const) {
    const value = options[name];
    if (value !== undefined && !Number.isInteger(value)) throw invalidArgument(name, "an integer >= 1", value);
  }
  const retention = options.subscriptionRetentionMs;
  if (retention !== undefined && (retention < RETENTION_MIN_MS || retention > RETENTION_MAX_MS)) {
    throw invalidArgument("subscriptionRetentionMs", `a number of ms from ${RETENTION_MIN_MS} to ${RETENTION_MAX_MS}`, retention);
  }
  const topicRetention = options.topicRetentionMs;
  if (topicRetention !== undefined && topicRetention !== 0 && !(topicRetention >= TOPIC_RETENTION_MIN_MS && topicRetention <= TOPIC_RETENTION_MAX_MS)) {
    throw invalidArgument("topicRetentionMs", `0 (no retention) or a number of ms from ${TOPIC_RETENTION_MIN_MS} (10 min) to ${TOPIC_RETENTION_MAX_MS} (31 days)`, topicRetention);
  }
  return options;
}

/** Replaces "{name}" placeholders; unknown ones are left as they are (and fail name checks). */
export function fillTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\{([a-z]+)\}/g, (whole, name: string) => values[name] ?? whole);
}

/**
 * Pub/Sub's rule for topic and subscription ids: 3..255 characters from letters, digits and
 * - _ . ~ + %, starting with a letter, not starting with "goog".
 */
export function checkResourceId(id: string, field: string, kind: "topic" | "subscription"): string {
  if (!/^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/.test(id) || /^goog/i.test(id)) {
    throw invalidArgument(
      field,
      `a Pub/Sub ${kind} id: 3-255 characters (letters, digits, - _ . ~ + %), starting with a letter and not with "goog"`,
      id,
    );
  }
  return id;
}
