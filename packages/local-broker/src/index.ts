/**
 * `@brook/local-broker`, the front door for applications. Importing it registers the URL
 * schemes `memory:`, `local:` and `brook://` with @brook/core's `connect()` (core also loads
 * this package by itself the first time one of them is used). Beyond that: `LocalBroker`, the
 * broker type those URLs give, the capabilities it declares, the typed options of its URLs, and
 * running `brook serve` in-process.
 * Engine-level tools (the CLI, servers over another wire protocol) use `@brook/local-broker/engine`.
 */
import { toLogger, type ConnectOptions, type Logger } from "@brook/core";
import { registerBackend } from "@brook/core/spi";
import { LocalBroker } from "./broker.js";
import { connectBrook } from "./client/connect.js";
import { LogEngine } from "./engine.js";
import { connectLocalDirectory } from "./local-dir.js";
import { mergeOptions, parseLocalUrl } from "./options.js";
import { SharedEngines } from "./shared-engines.js";
import { MemoryStore } from "./storage/memory-store.js";

export { LocalBroker } from "./broker.js";
export { localCapabilities } from "./capabilities.js";
export type { FsyncPolicy, LocalBrokerOptions } from "./options.js";
export type { BrookClientOptions } from "./client/options.js";
export { startServer } from "./server/server.js";
export type { BrookServer, ServerOptions } from "./server/server.js";
export type { PushSubscriptionConfig } from "./server/push.js";
export { openDirectoryEngine } from "./local-dir.js";
export type { DirectoryEngineOptions } from "./local-dir.js";

/** Engines of named `memory:<name>` brokers, shared within the process while any is open. */
const namedMemory = new SharedEngines();

async function connectLocal(url: string, options: ConnectOptions): Promise<LocalBroker> {
  const parsed = parseLocalUrl(url);
  const opts = mergeOptions(parsed.options, options);
  const logger = toLogger(options.logger);
  const engineOptions = {
    ...(opts.dedupeWindowMs === undefined ? {} : { dedupeWindowMs: opts.dedupeWindowMs }),
    ...(opts.maxMessageBytes === undefined ? {} : { maxMessageBytes: opts.maxMessageBytes }),
  };
  if (parsed.kind === "local") return connectLocalDirectory(url, parsed.location, opts, engineOptions, logger);
  if (parsed.location === "") {
    // The broker is the engine's only owner: closing the broker closes the engine.
    return new LocalBroker(url, await LogEngine.open(new MemoryStore(), engineOptions), logger);
  }
  const { engine, onClose } = await namedMemory.acquire(parsed.location, () => LogEngine.open(new MemoryStore(), engineOptions));
  return new LocalBroker(url, engine, logger, onClose);
}

registerBackend("memory", connectLocal);
registerBackend("local", connectLocal);
registerBackend("brook", connectBrook);
