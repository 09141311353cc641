import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { BrookError } from "./errors.js";
import { loadOtel } from "./tracing.js";
import type { Broker } from "./contract.js";
import type { Logger } from "./logger.js";

export interface ConnectOptions {
  logger?: Logger;
  /** adapter-specific options; each adapter documents its own (they mirror the URL parameters) */
  [option: string]: unknown;
}

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
  return factory(url, options);
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
