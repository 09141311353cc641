export { startServer } from "./server.js";
export type { BrookServer, ServerOptions } from "./server.js";
export { openDirectoryEngine } from "../local-dir.js";
export type { DirectoryEngineOptions } from "../local-dir.js";
export { PROTOCOL_VERSION } from "../wire/frames.js";
