import { resolve } from "node:path";
import type { Logger } from "@brook/core";
import { LocalBroker } from "./broker.js";
import { DirectEngineApi } from "./engine-api.js";
import { LogEngine, type EngineOptions } from "./engine.js";
import type { LocalBrokerOptions } from "./options.js";
import { openFileStore } from "./storage/file-store.js";

/**
 * One engine per data directory in a process: the directory's lock admits one owner, so every
 * `local:` broker on the same directory in this process shares the engine (reference counted).
 * Another process gets UNAVAILABLE naming the directory and the owner's pid.
 */
const open = new Map<string, { engine: Promise<LogEngine>; refs: number }>();

export async function openLocalEngine(
  url: string,
  dir: string,
  options: LocalBrokerOptions,
  engineOptions: EngineOptions,
  logger: Logger | undefined,
): Promise<LocalBroker> {
  const path = resolve(dir);
  let entry = open.get(path);
  if (entry === undefined) {
    const engine = (async () => {
      const store = await openFileStore(path, {
        ...(options.fsync === undefined ? {} : { fsync: options.fsync }),
        ...(options.fsyncIntervalMs === undefined ? {} : { fsyncIntervalMs: options.fsyncIntervalMs }),
        ...(options.segmentBytes === undefined ? {} : { segmentBytes: options.segmentBytes }),
        ...(logger === undefined ? {} : { logger }),
      });
      return LogEngine.open(store, engineOptions);
    })();
    entry = { engine, refs: 0 };
    open.set(path, entry);
    engine.catch(() => open.delete(path));
  }
  const shared = entry;
  const engine = await shared.engine;
  shared.refs += 1;
  return new LocalBroker(url, new DirectEngineApi(engine, false), logger, async () => {
    shared.refs -= 1;
    if (shared.refs === 0) {
      open.delete(path);
      await engine.close();
    }
  });
}
