import { resolve } from "node:path";
import type { Logger } from "@brook/core";
import { LocalBroker } from "./broker.js";
import { openDirectoryEngine } from "./directory-engine.js";
import type { EngineOptions } from "./engine.js";
import type { LocalBrokerOptions } from "./options.js";
import { SharedEngines } from "./shared-engines.js";

export { openDirectoryEngine } from "./directory-engine.js";
export type { DirectoryEngineOptions } from "./directory-engine.js";

/** One engine per data directory in this process: every `local:` broker on it shares it. */
const directories = new SharedEngines();

/** `local:<dir>`: a broker over the directory's engine, shared with the process's other brokers on it. */
export async function connectLocalDirectory(
  url: string,
  dir: string,
  options: LocalBrokerOptions,
  engineOptions: EngineOptions,
  logger: Logger | undefined,
): Promise<LocalBroker> {
  const path = resolve(dir);
  const { engine, onClose } = await directories.acquire(path, () =>
    openDirectoryEngine(path, {
      ...engineOptions,
      ...(options.fsync === undefined ? {} : { fsync: options.fsync }),
      ...(options.fsyncIntervalMs === undefined ? {} : { fsyncIntervalMs: options.fsyncIntervalMs }),
      ...(options.segmentBytes === undefined ? {} : { segmentBytes: options.segmentBytes }),
      ...(logger === undefined ? {} : { logger }),
    }),
  );
  return new LocalBroker(url, engine, logger, onClose);
}
