import { BrookError } from "@brook/core";
import { invalidArgument, parseUrlParameters, urlParameterNames, type UrlParameterSpec } from "@brook/core/spi";
import type { DriverLogLevel, DriverSasl, KafkaDriverFactory } from "./driver.js";

/**
 * Options of `kafka://host:port,host:port?…`. Every URL query parameter has the typed option of
 * the same name; typed options passed to connect() win over the URL.
 */
export interface KafkaBrokerOptions {
  /** bootstrap brokers, "host:port" (the URL's host list) */
  brokers?: string[];
  /** client id sent to the brokers (default "brook") */
  clientId?: string;
  /** TLS to the brokers (default false) */
  ssl?: boolean;
  /** SASL mechanism; needs username and password */
  saslMechanism?: DriverSasl["mechanism"];
  username?: string;
  password?: string;
  /** TCP connect timeout (default 3000) */
  connectionTimeoutMs?: number;
  /** per-request timeout (default 30000) */
  requestTimeoutMs?: number;
  /** a member that sends no heartbeat for this long leaves the group (default 30000) */
  sessionTimeoutMs?: number;
  /** how often members heartbeat; a rebalance is noticed within this (default 500) */
  heartbeatIntervalMs?: number;
  /** how long the group waits for members to rejoin in a rebalance (default 60000) */
  rebalanceTimeoutMs?: number;
  /** longest a fetch waits on the broker for new records (default 200) */
  maxWaitTimeMs?: number;
  /**
   * A subscription whose consumer has had no answer from any broker for this long emits an
   * "error" (UNAVAILABLE) and keeps retrying (default: sessionTimeoutMs, or requestTimeoutMs +
   * maxWaitTimeMs when that is longer)
   */
  unavailableAfterMs?: number;
  /** KafkaJS idempotent producer: no duplicates or reordering from the producer's own retries (default true) */
  idempotent?: boolean;
  /** record batch compression (default "none") */
  compression?: "none" | "gzip";
  /** largest record batch the brokers take; default: the broker's message.max.bytes */
  maxMessageBytes?: number;
  /** how much the Kafka client logs into Brook's logger (default "warn") */
  logLevel?: DriverLogLevel;
  /**
   * The Kafka client behind the adapter (default "kafkajs"): "platformatic" is @platformatic/kafka
   * (an optional peer dependency, needs Node >= 22.22); a KafkaDriverFactory function (typed
   * option only) plugs in another client.
   */
  driver?: KafkaDriverName | KafkaDriverFactory;
}

export interface ResolvedKafkaOptions {
  brokers: string[];
  clientId: string;
  ssl: boolean;
  sasl: DriverSasl | undefined;
  connectionTimeoutMs: number;
  requestTimeoutMs: number;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  rebalanceTimeoutMs: number;
  maxWaitTimeMs: number;
  unavailableAfterMs: number;
  idempotent: boolean;
  compression: "none" | "gzip";
  maxMessageBytes: number | undefined;
  logLevel: DriverLogLevel;
  driver: KafkaDriverName | KafkaDriverFactory;
}

/** The drivers the adapter ships, by the name `driver=` takes. */
export type KafkaDriverName = "kafkajs" | "platformatic";

const NUMERIC = [
  "connectionTimeoutMs",
  "requestTimeoutMs",
  "sessionTimeoutMs",
  "heartbeatIntervalMs",
  "rebalanceTimeoutMs",
  "maxWaitTimeMs",
  "unavailableAfterMs",
  "maxMessageBytes",
] as const;
const BOOLEAN = ["ssl", "idempotent"] as const;
const STRING = ["clientId", "username", "password"] as const;
const MECHANISMS = ["plain", "scram-sha-256", "scram-sha-512"] as const;
const COMPRESSIONS = ["none", "gzip"] as const;
const LOG_LEVELS = ["nothing", "error", "warn", "info", "debug"] as const;
const DRIVERS = ["kafkajs", "platformatic"] as const;
const URL_PARAMETERS: UrlParameterSpec = {
  strings: STRING,
  booleans: BOOLEAN,
  positive: NUMERIC,
  choices: { saslMechanism: MECHANISMS, compression: COMPRESSIONS, logLevel: LOG_LEVELS, driver: DRIVERS },
  secrets: ["password"],
};
const KNOWN = urlParameterNames(URL_PARAMETERS);

/** Parses `kafka://h1:9092,h2:9092?clientId=app&ssl=true`; a host without a port gets 9092. */
export function parseKafkaUrl(url: string): KafkaBrokerOptions {
  const match = /^kafka:\/\/([^/?#]*)\/?(?:\?([^#]*))?$/i.exec(url);
  if (match === null) throw new BrookError("INVALID_URL", `url "${url}": expected kafka://host:port[,host:port…][?parameters]`);
  const hosts = (match[1] ?? "").split(",").filter((h) => h.length > 0);
  if (hosts.length === 0) throw new BrookError("INVALID_URL", `url "${url}": expected at least one broker, e.g. kafka://127.0.0.1:9092`);
  const options: KafkaBrokerOptions = { brokers: hosts.map((h) => normaliseHost(url, decodeURIComponent(h))) };
  Object.assign(options, parseUrlParameters(match[2] ?? "", URL_PARAMETERS, redact(url)));
  return options;
}

/** The URL form of options (brokers as the host list); the inverse of parseKafkaUrl. */
export function formatKafkaUrl(options: KafkaBrokerOptions & { brokers: string[] }): string {
  const params = new URLSearchParams();
  for (const name of KNOWN) {
    const value = options[name as keyof KafkaBrokerOptions];
    if (value !== undefined && typeof value !== "function" && !Array.isArray(value)) params.set(name, String(value));
  }
  const query = params.toString();
  return `kafka://${options.brokers.join(",")}${query.length > 0 ? `?${query}` : ""}`;
}

/** Merges typed options over the URL's, checks their types and fills the defaults. */
export function resolveKafkaOptions(fromUrl: KafkaBrokerOptions, given: Record<string, unknown>): ResolvedKafkaOptions {
  const merged: Record<string, unknown> = { ...fromUrl };
  for (const [name, value] of Object.entries(given)) {
    if (value === undefined || name === "logger") continue;
    merged[name] = value;
  }
  const brokers = merged.brokers;
  if (!Array.isArray(brokers) || brokers.length === 0 || !brokers.every((b) => typeof b === "string" && b.length > 0)) {
    throw invalidArgument("brokers", 'a non-empty array of "host:port" strings', brokers);
  }
  for (const name of STRING) {
    const v = merged[name];
    if (v !== undefined && (typeof v !== "string" || v.length === 0)) throw invalidArgument(name, "a non-empty string", v);
  }
  for (const name of BOOLEAN) {
    const v = merged[name];
    if (v !== undefined && typeof v !== "boolean") throw invalidArgument(name, "a boolean", v);
  }
  for (const name of NUMERIC) {
    const v = merged[name];
    if (v !== undefined && (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0)) throw invalidArgument(name, "a positive integer", v);
  }
  oneOf(merged, "saslMechanism", MECHANISMS);
  oneOf(merged, "compression", COMPRESSIONS);
  oneOf(merged, "logLevel", LOG_LEVELS);
  if (merged.driver !== undefined && typeof merged.driver !== "function" && !DRIVERS.includes(merged.driver as KafkaDriverName)) {
    throw invalidArgument("driver", `one of ${DRIVERS.join(", ")} or a KafkaDriverFactory function`, merged.driver);
  }

  let sasl: DriverSasl | undefined;
  if (merged.saslMechanism !== undefined) {
    if (merged.username === undefined || merged.password === undefined) {
      throw invalidArgument("saslMechanism", "username and password alongside it", merged.saslMechanism);
    }
    sasl = { mechanism: merged.saslMechanism as DriverSasl["mechanism"], username: merged.username as string, password: merged.password as string };
  }
  const num = (name: (typeof NUMERIC)[number], fallback: number): number => (merged[name] as number | undefined) ?? fallback;
  const resolved: ResolvedKafkaOptions = {
    brokers: brokers as string[],
    clientId: (merged.clientId as string | undefined) ?? "brook",
    ssl: (merged.ssl as boolean | undefined) ?? false,
    sasl,
    connectionTimeoutMs: num("connectionTimeoutMs", 3_000),
    requestTimeoutMs: num("requestTimeoutMs", 30_000),
    sessionTimeoutMs: num("sessionTimeoutMs", 30_000),
    heartbeatIntervalMs: num("heartbeatIntervalMs", 500),
    rebalanceTimeoutMs: num("rebalanceTimeoutMs", 60_000),
    maxWaitTimeMs: num("maxWaitTimeMs", 200),
    unavailableAfterMs: 0, // set below, from the timeouts
    idempotent: (merged.idempotent as boolean | undefined) ?? true,
    compression: (merged.compression as "none" | "gzip" | undefined) ?? "none",
    maxMessageBytes: merged.maxMessageBytes as number | undefined,
    logLevel: (merged.logLevel as DriverLogLevel | undefined) ?? "warn",
    driver: (merged.driver as KafkaDriverName | KafkaDriverFactory | undefined) ?? "kafkajs",
  };
  // A healthy member hears from the cluster every fetch wait and heartbeat; a member silent for
  // the session timeout has lost its partitions anyway, and one request may take its timeout.
  resolved.unavailableAfterMs = num("unavailableAfterMs", Math.max(resolved.sessionTimeoutMs, resolved.requestTimeoutMs + resolved.maxWaitTimeMs));
  if (resolved.heartbeatIntervalMs >= resolved.sessionTimeoutMs) {
    throw invalidArgument("heartbeatIntervalMs", `less than sessionTimeoutMs (${resolved.sessionTimeoutMs})`, resolved.heartbeatIntervalMs);
  }
  return resolved;
}

function oneOf(merged: Record<string, unknown>, name: string, allowed: readonly string[]): void {
  const v = merged[name];
  if (v !== undefined && !allowed.includes(v as string)) throw invalidArgument(name, `one of ${allowed.join(", ")}`, v);
}

function normaliseHost(url: string, host: string): string {
  // [v6]:port, [v6], name:port, name
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(host);
  if (v6 !== null) return `[${v6[1]}]:${checkPort(url, v6[2] ?? "9092")}`;
  const match = /^([^:]+)(?::(\d*))?$/.exec(host);
  if (match === null) throw new BrookError("INVALID_URL", `url "${redact(url)}": broker "${host}" is not host or host:port`);
  return `${match[1]}:${checkPort(url, match[2] === undefined || match[2] === "" ? "9092" : match[2])}`;
}

function checkPort(url: string, port: string): number {
  const n = Number(port);
  if (!Number.isInteger(n) || n < 1 || n > 65_535) throw new BrookError("INVALID_URL", `url "${redact(url)}": port "${port}" is not 1-65535`);
  return n;
}

function redact(url: string): string {
  return url.replace(/([?&]password=)[^&#]*/i, "$1***");
}
