/**
 * Push subscriptions of `brook serve`: the server itself POSTs each message of a group to an HTTP
 * endpoint in a Pub/Sub push envelope, so a push service (createPushHandler) runs against the
 * local broker as it does against Pub/Sub. Each one is core's forwardToPush over an in-process
 * broker on the served engine: the same retry, dead-letter, ordering and commit rules as any
 * pull subscriber, and positions committed in the engine (a restarted server resumes there).
 */
import { BrookError, forwardToPush, type Logger, type RetryOptions, type Subscription } from "@brook/core";
import { invalidArgument, resolveRetryPolicy } from "@brook/core/spi";
import { LocalBroker } from "../broker.js";
import type { LogEngine } from "../engine.js";

/** One push subscription of the server (`brook serve --push topic:group=url`). */
export interface PushSubscriptionConfig {
  topic: string;
  group: string;
  /** http: or https: URL every message is POSTed to */
  endpoint: string;
  /** sent as `Authorization: Bearer <token>` (what the endpoint's verify hook checks) */
  token?: string;
  /** extra request headers */
  headers?: Record<string, string>;
  /** per request; no answer within it is a failed attempt (default 30000) */
  timeoutMs?: number;
  /** attempts and exponential back-off bounds (core's defaults: 5 attempts, 100 ms to 30 s) */
  retry?: RetryOptions;
  /** after the last failed attempt; without it the message is logged as an error and acked, as for a pull subscriber */
  deadLetter?: { topic: string };
  /** default "key": one key's messages are pushed one at a time, in order */
  ordering?: "key" | "partition" | "none";
  maxInFlight?: number;
  /** where a group without committed positions starts (default "earliest": nothing published before the server started is skipped) */
  startFrom?: "earliest" | "latest";
}

/** The running push subscriptions of one server. */
export interface PushSubscriptions {
  readonly subscriptions: ReadonlyArray<{ config: PushSubscriptionConfig; subscription: Subscription }>;
  /** Closes each subscription (draining in-flight pushes, committing) and releases the engine. */
  close(): Promise<void>;
}

const DRAIN_TIMEOUT_MS = 10_000;

/** Checks the configs' shape (not yet whether topics exist); every problem names `push[i].field`. */
export function validatePushConfigs(configs: unknown): PushSubscriptionConfig[] {
  if (configs === undefined) return [];
  if (!Array.isArray(configs)) throw invalidArgument("push", "an array of push subscriptions", configs);
  const seen = new Set<string>();
  return configs.map((config: unknown, i) => {
    const field = `push[${i}]`;
    if (typeof config !== "object" || config === null) throw invalidArgument(field, "an object with topic, group and endpoint", config);
    const c = config as Partial<PushSubscriptionConfig>;
    for (const name of ["topic", "group", "endpoint"] as const) {
      if (typeof c[name] !== "string" || c[name].length === 0) throw invalidArgument(`${field}.${name}`, "a non-empty string", c[name]);
    }
    let url: URL;
    try {
      url = new URL(c.endpoint!);
    } catch (err) {
      throw new BrookError("INVALID_URL", `${field}.endpoint: expected an http: or https: URL, got ${JSON.stringify(c.endpoint)}`, { cause: err });
    }
    // As forwardToPush: a string that is no URL is INVALID_URL, a URL of another scheme INVALID_ARGUMENT.
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new BrookError("INVALID_ARGUMENT", `${field}.endpoint: expected an http: or https: URL, got scheme "${url.protocol}"`);
    }
    if (url.username !== "" || url.password !== "") throw invalidArgument(`${field}.endpoint`, "a URL without credentials (use token or headers)", `${url.protocol}//…@${url.host}`);
    if (c.token !== undefined && (typeof c.token !== "string" || c.token.length === 0 || /[\r\n]/.test(c.token))) {
      throw invalidArgument(`${field}.token`, "a non-empty string without line breaks");
    }
    if (c.headers !== undefined) {
      if (typeof c.headers !== "object" || c.headers === null || Array.isArray(c.headers)) throw invalidArgument(`${field}.headers`, "an object of strings", c.headers);
      for (const [name, value] of Object.entries(c.headers)) {
        if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw invalidArgument(`${field}.headers`, "HTTP header names", name);
        if (typeof value !== "string" || /[\r\n]/.test(value)) throw invalidArgument(`${field}.headers["${name}"]`, "a string without line breaks", value);
      }
    }
    if (c.timeoutMs !== undefined && !(typeof c.timeoutMs === "number" && c.timeoutMs > 0 && c.timeoutMs <= 600_000)) {
      throw invalidArgument(`${field}.timeoutMs`, "a number from 1 to 600000", c.timeoutMs);
    }
    if (c.ordering !== undefined && c.ordering !== "key" && c.ordering !== "partition" && c.ordering !== "none") {
      throw invalidArgument(`${field}.ordering`, '"key", "partition" or "none"', c.ordering);
    }
    if (c.startFrom !== undefined && c.startFrom !== "earliest" && c.startFrom !== "latest") throw invalidArgument(`${field}.startFrom`, '"earliest" or "latest"', c.startFrom);
    if (c.deadLetter !== undefined && (typeof c.deadLetter !== "object" || c.deadLetter === null || typeof c.deadLetter.topic !== "string" || c.deadLetter.topic.length === 0)) {
      throw invalidArgument(`${field}.deadLetter`, "{ topic: string }", c.deadLetter);
    }
    if (c.retry !== undefined) {
      if (typeof c.retry !== "object" || c.retry === null) throw invalidArgument(`${field}.retry`, "{ maxAttempts?, minDelayMs?, maxDelayMs? }", c.retry);
      resolveRetryPolicy(c.retry, `${field}.retry`);
    }
    if (c.maxInFlight !== undefined && !(Number.isInteger(c.maxInFlight) && c.maxInFlight >= 1)) throw invalidArgument(`${field}.maxInFlight`, "an integer >= 1", c.maxInFlight);
    const id = `${c.topic}:${c.group}`;
    // Two push subscriptions in one group would share its partitions, each pushing half.
    if (seen.has(id)) throw invalidArgument(`${field}`, `one push subscription per topic and group; "${id}" is given twice`);
    seen.add(id);
    return c as PushSubscriptionConfig;
  });
}

/**
 * Starts the push subscriptions on `engine` (one more owner of it until close). A missing topic
 * or dead-letter topic is TOPIC_NOT_FOUND naming `push[i].topic` / `push[i].deadLetter.topic`;
 * whatever started is closed again when one fails.
 */
export async function startPushSubscriptions(engine: LogEngine, configs: PushSubscriptionConfig[], logger: Logger): Promise<PushSubscriptions> {
  if (configs.length === 0) return { subscriptions: [], close: async () => undefined };
  if (!engine.retain()) throw new BrookError("CLOSED", "startServer: the engine is closed");
  const broker = new LocalBroker("brook-serve:push", engine, logger);
  const running: Array<{ config: PushSubscriptionConfig; subscription: Subscription }> = [];
  const close = async (): Promise<void> => {
    for (const { subscription } of running.splice(0)) {
      await subscription.close({ drain: true, timeoutMs: DRAIN_TIMEOUT_MS }).catch((err: unknown) => logger.warn(`push subscription close: ${(err as Error).message}`));
    }
    await broker.close();
  };
  try {
    for (const [i, config] of configs.entries()) {
      if (!(await broker.admin.topicExists(config.topic))) {
        throw new BrookError("TOPIC_NOT_FOUND", `push[${i}].topic: "${config.topic}" does not exist (create it first: brook topics create ${config.topic})`);
      }
      if (config.deadLetter !== undefined && !(await broker.admin.topicExists(config.deadLetter.topic))) {
        throw new BrookError("TOPIC_NOT_FOUND", `push[${i}].deadLetter.topic: "${config.deadLetter.topic}" does not exist`);
      }
      const subscription = await forwardToPush(broker, config.topic, {
        group: config.group,
        endpoint: config.endpoint,
        headers: { ...config.headers, ...(config.token === undefined ? {} : { authorization: `Bearer ${config.token}` }) },
        startFrom: config.startFrom ?? "earliest",
        ordering: config.ordering ?? "key",
        ...(config.timeoutMs === undefined ? {} : { timeoutMs: config.timeoutMs }),
        ...(config.retry === undefined ? {} : { retry: config.retry }),
        ...(config.deadLetter === undefined ? {} : { deadLetter: { topic: config.deadLetter.topic } }),
        ...(config.maxInFlight === undefined ? {} : { maxInFlight: config.maxInFlight }),
      });
      const where = `push ${config.topic}:${config.group} → ${config.endpoint}`;
      subscription.on("error", (error) => logger.error(`${where}: ${error.code}: ${error.message}`));
      subscription.on("stalled", (info) => logger.warn(`${where}: stalled ${JSON.stringify(info)}`));
      running.push({ config, subscription });
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { subscriptions: running, close };
}
