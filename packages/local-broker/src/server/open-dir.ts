import { resolve } from "node:path";
import type { Logger } from "@brook/core";
import { LogEngine, type EngineOptions } from "../engine.js";
import type { FsyncPolicy } from "../options.js";
import { openFileStore } from "../storage/file-store.js";

export interface DirectoryEngineOptions extends EngineOptions {
  /** durability of appends (default "interval"); see FORMAT.md */
  fsync?: FsyncPolicy;
  fsyncIntervalMs?: number;
  segmentBytes?: number;
  /** hears what recovery truncated or rebuilt */
  logger?: Logger;
}

/**
 * The durable engine over the data directory `dir` (FORMAT.md), for `brook serve --dir`: takes
 * the directory's lock (another process holding it gets UNAVAILABLE), recovers, and is closed by
 * the caller (`engine.close()` releases the lock).
 */
export async function openDirectoryEngine(dir: string, options: DirectoryEngineOptions = {}): Promise<LogEngine> {
  const { fsync, fsyncIntervalMs, segmentBytes, logger, ...engineOptions } = options;
  const store = await openFileStore(resolve(dir), {
    ...(fsync === undefined ? {} : { fsync }),
    ...(fsyncIntervalMs === undefined ? {} : { fsyncIntervalMs }),
    ...(segmentBytes === undefined ? {} : { segmentBytes }),
    ...(logger === undefined ? {} : { logger }),
  });
  try {
    return await LogEngine.open(store, engineOptions);
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
}
