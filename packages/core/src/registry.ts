import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { BrookError, abortable, abortedError } from "./errors.js";
import { loadOtel } from "./tracing.js";
import type { Broker } from "./contract.js";
import { toLogger, type LoggerLike } from "./logger.js";

/** Options every connect() takes, whatever the backend. */
export interface BaseConnectOptions {
  /** Brook's logger shape, `console`, or a pino / bunyan logger (adapted by toLogger). */
  logger?: LoggerLike;
  /** Aborting it gives up connecting (ABORTED); a broker that opens afterwards is closed. */
  signal?: AbortSignal;
}

/**
 * The typed options of each URL scheme. Each adapter package adds its own by declaration
 * merging, so `connect("kafka://…", { clientId })` is checked against the Kafka adapter's
 * options once that package's types are in the program:
 *
 *   declare module "@brook/core" { interface ConnectOptionsByScheme { kafka: KafkaBrokerOptions } }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface ConnectOptionsByScheme {}

/** The broker type connect() resolves to, per scheme (declaration merging, as above). */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface BrokersByScheme {}

/** The scheme of a URL literal ("kafka://h:9092" → "kafka"); `string` when not known statically. */
export type SchemeOf<U extends string> = string extends U ? string : U extends `${infer S}:${string}` ? Lowercase<S> : string;

/**
 * connect()'s options for a scheme: the adapter's typed options where its package declared
 * them; otherwise (a URL only known at run time, or an adapter whose types are not loaded)
 * any options, which the adapter validates when it opens.
 */
export type ConnectOptions<S extends string = string> = BaseConnectOptions &
  ([S] extends [keyof ConnectOptionsByScheme] ? ConnectOptionsByScheme[S] : { [option: string]: unknown });

/** What connect() resolves to for a scheme. */
export type BrokerFor<S extends string> = [S] extends [keyof BrokersByScheme] ? BrokersByScheme[S] : Broker;

export type BrokerFactory = (url: string, options: ConnectOptions) => Promise<Broker>;

const factories = new Map<string, BrokerFactory>();

/** Which package serves which URL scheme, for lazy loading: an app installs only what it uses. */
const KNOWN_PACKAGES: Record<string, string> = {
  memory: "@brook/local-broker",
  local: "@brook/local-broker",
  brook: "@brook/local-broker",
  kafka: "@brook/adapter-kafka",
  pubsub: "@brook/adapter-pubsub",
  kinesis: "@brook/adapter-kinesis",
  firehose: "@brook/adapter-kinesis",
  eventhubs: "@brook/adapter-eventhubs",
};

/** Adapters call this when imported; a later registration for a scheme replaces the earlier. */
export function registerBackend(scheme: string, factory: BrokerFactory): void {
  factories.set(scheme.toLowerCase(), factory);
}

export function registeredSchemes(): string[] {
  return [...factories.keys()].sort();
}

/** Splits "kafka://h:9092" → "kafka"; an Event Hubs connection string counts as "eventhubs". */
export function schemeOf(url: string): string | undefined {
  if (/^Endpoint=sb:\/\//i.test(url)) return "eventhubs";
  const match = /^([a-z][a-z0-9+.-]*):/i.exec(url);
  return match?.[1]?.toLowerCase();
}

/**
 * Opens a broker for `url`: memory:, local:./dir, brook://host:port, kafka://…, pubsub://…,
 * kinesis://…, firehose://…, eventhubs://… The adapter package is imported on first use.
 */
export async function connect<U extends string>(url: U, options?: ConnectOptions<SchemeOf<U>>): Promise<BrokerFor<SchemeOf<U>>>;
export async function connect(url: string, options: ConnectOptions = {}): Promise<Broker> {
  if (typeof url !== "string" || url.trim().length === 0) {
    throw new BrookError("INVALID_URL", `url: expected a broker URL such as "memory:" or "kafka://127.0.0.1:9092", got ${JSON.stringify(url)}`);
  }
  const scheme = schemeOf(url);
  if (scheme === undefined) {
    throw new BrookError("INVALID_URL", `url "${url}" has no scheme; expected one of: ${knownSchemes()}`);
  }
  let factory = factories.get(scheme);
  if (factory === undefined && KNOWN_PACKAGES[scheme] !== undefined) {
    await loadPackage(KNOWN_PACKAGES[scheme]);
    factory = factories.get(scheme);
  }
  if (factory === undefined) {
    const pkg = KNOWN_PACKAGES[scheme];
    const hint = pkg === undefined ? "" : ` (install ${pkg} to use it)`;
    throw new BrookError("INVALID_URL", `url scheme "${scheme}:" is not available${hint}; installed schemes: ${registeredSchemes().join(", ") || "none"}`);
  }
  await loadOtel(); // spans and trace propagation when @opentelemetry/api is installed
  const logger = toLogger(options.logger);
  if (logger !== undefined) options = { ...options, logger };
  const signal = options.signal;
  if (signal === undefined) return factory(url, options);
  if (signal.aborted) throw abortedError(signal, `connect to ${scheme}:`);
  const opening = factory(url, options);
  try {
    return await abortable(opening, signal, `connect to ${scheme}:`);
  } catch (err) {
    // Given up on: whatever opens later is closed again, so nothing is left running.
    if (signal.aborted) void opening.then((broker) => broker.close()).catch(() => undefined);
    throw err;
  }
}

function knownSchemes(): string {
  return [...new Set([...Object.keys(KNOWN_PACKAGES), ...factories.keys()])].map((s) => `${s}:`).join(", ");
}

/**
 * Imports an adapter package as seen from core, then from the application's main script, then
 * from the working directory (pnpm's strict layout hides an app's packages from core).
 */
async function loadPackage(name: string): Promise<void> {
  try {
    await import(name);
    return;
  } catch {
    // not resolvable from core's own location; try the application's
  }
  const bases = [process.argv[1], `${process.cwd()}/`].filter((b): b is string => typeof b === "string" && b.length > 0);
  for (const base of bases) {
    try {
      const resolved = createRequire(base).resolve(name);
      await import(pathToFileURL(resolved).href);
      return;
    } catch {
      // not installed there
    }
  }
}
