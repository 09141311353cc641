import { type ConnectOptions, type Logger } from "@brook/core";
import { registerBackend } from "@brook/core/spi";
import { LocalBroker } from "./broker.js";
import { LogEngine } from "./engine.js";
import { connectLocalDirectory } from "./local-dir.js";
import { mergeOptions, parseLocalUrl } from "./options.js";
import { SharedEngines } from "./shared-engines.js";
import { MemoryStore } from "./storage/memory-store.js";

export { LocalBroker } from "./broker.js";
export { LogEngine, DEFAULT_DEDUPE_WINDOW_MS, DEFAULT_RETENTION_MS } from "./engine.js";
export type { EngineOptions } from "./engine.js";
export type { CreateTopicConfig, EngineApi, FetchResult, PartitionInfo } from "./engine-api.js";
export { GroupCoordinator } from "./coordinator.js";
export type { GroupMember } from "./coordinator.js";
export { MemoryStore } from "./storage/memory-store.js";
export type { AppendRecord, DedupeEntry, MetadataStore, PartitionLog, Store, StoredRecord, TopicConfig } from "./storage/types.js";
export { localCapabilities } from "./capabilities.js";
export { parseLocalUrl } from "./options.js";
export type { FsyncPolicy, LocalBrokerOptions } from "./options.js";

/** Engines of named `memory:<name>` brokers, shared within the process while any is open. */
const namedMemory = new SharedEngines();

async function connectLocal(url: string, options: ConnectOptions): Promise<LocalBroker> {
  const parsed = parseLocalUrl(url);
  const opts = mergeOptions(parsed.options, options);
  const logger = options.logger as Logger | undefined;
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
export * from "./client/index.js"; // registers brook:// (the client of `brook serve`)
export * from "./server/index.js";
