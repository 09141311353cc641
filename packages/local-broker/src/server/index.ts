export { startServer } from "./server.js";
export type { BrookServer, ServerOptions } from "./server.js";
export { openDirectoryEngine } from "./open-dir.js";
export type { DirectoryEngineOptions } from "./open-dir.js";
export { PROTOCOL_VERSION } from "./protocol.js";
