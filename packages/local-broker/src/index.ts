import { type ConnectOptions, type Logger } from "@brook/core";
import { registerBackend } from "@brook/core/spi";
import { LocalBroker } from "./broker.js";
import { DirectEngineApi } from "./engine-api.js";
import { LogEngine } from "./engine.js";
import { mergeOptions, parseLocalUrl } from "./options.js";
import { MemoryStore } from "./storage/memory-store.js";

export { LocalBroker } from "./broker.js";
export { LogEngine, DEFAULT_DEDUPE_WINDOW_MS, DEFAULT_RETENTION_MS } from "./engine.js";
export type { CreateTopicConfig, EngineOptions, FetchResult } from "./engine.js";
export { DirectEngineApi } from "./engine-api.js";
export type { EngineApi, PartitionInfo } from "./engine-api.js";
export { GroupCoordinator } from "./coordinator.js";
export type { GroupMember } from "./coordinator.js";
export { MemoryStore } from "./storage/memory-store.js";
export type { AppendRecord, DedupeEntry, MetadataStore, PartitionLog, Store, StoredRecord, TopicConfig } from "./storage/types.js";
export { localCapabilities } from "./capabilities.js";
export { parseLocalUrl } from "./options.js";
export type { FsyncPolicy, LocalBrokerOptions } from "./options.js";

/** Engines of named `memory:<name>` brokers, shared within the process while any is open. */
const sharedMemory = new Map<string, { engine: LogEngine; refs: number }>();

async function connectLocal(url: string, options: ConnectOptions): Promise<LocalBroker> {
  const parsed = parseLocalUrl(url);
  const opts = mergeOptions(parsed.options, options);
  const logger = options.logger as Logger | undefined;
  const engineOptions = {
    ...(opts.dedupeWindowMs === undefined ? {} : { dedupeWindowMs: opts.dedupeWindowMs }),
    ...(opts.maxMessageBytes === undefined ? {} : { maxMessageBytes: opts.maxMessageBytes }),
  };
  if (parsed.kind === "memory") {
    if (parsed.location === "") {
      const engine = await LogEngine.open(new MemoryStore(), engineOptions);
      return new LocalBroker(url, new DirectEngineApi(engine, true), logger);
    }
    let shared = sharedMemory.get(parsed.location);
    if (shared === undefined) {
      shared = { engine: await LogEngine.open(new MemoryStore(), engineOptions), refs: 0 };
      sharedMemory.set(parsed.location, shared);
    }
    shared.refs += 1;
    const entry = shared;
    return new LocalBroker(url, new DirectEngineApi(entry.engine, false), logger, async () => {
      entry.refs -= 1;
      if (entry.refs === 0) {
        sharedMemory.delete(parsed.location);
        await entry.engine.close();
      }
    });
  }
  const { openLocalEngine } = await import("./local-dir.js");
  return openLocalEngine(url, parsed.location, opts, engineOptions, logger);
}

registerBackend("memory", connectLocal);
registerBackend("local", connectLocal);
export * from "./client/index.js"; // registers brook:// (the client of `brook serve`)
export * from "./server/index.js";
