/**
 * `@brook/local-broker/server`: what `brook serve` needs and nothing else — an engine (in memory
 * or over a data directory) and the brook:// server on it. It loads neither the `local:`/brook://
 * client side nor the backend registration (importing it registers nothing), so a server process
 * starts with fewer modules. The same classes as `@brook/local-broker` and `./engine` export.
 */
export { startServer } from "./server/server.js";
export type { BrookServer, ServerOptions } from "./server/server.js";
export type { PushSubscriptionConfig } from "./server/push.js";
export { openDirectoryEngine } from "./directory-engine.js";
export type { DirectoryEngineOptions } from "./directory-engine.js";
export { LogEngine } from "./engine.js";
export type { EngineOptions } from "./engine.js";
export { MemoryStore } from "./storage/memory-store.js";
export type { FsyncPolicy } from "./options.js";
