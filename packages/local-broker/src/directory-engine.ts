/**
 * The durable engine over a data directory, apart from the `local:` broker (local-dir.ts), so
 * `brook serve` (through `@brook/local-broker/server`) opens it without loading the client side.
 */
import { resolve } from "node:path";
import type { Logger } from "@brook/core";
import { LogEngine, type EngineOptions } from "./engine.js";
import type { FsyncPolicy } from "./options.js";

export interface DirectoryEngineOptions extends EngineOptions {
  /** durability of appends (default "interval"); see FORMAT.md */
  fsync?: FsyncPolicy;
  fsyncIntervalMs?: number;
  segmentBytes?: number;
  /** segment files held open at once, active ones included (default 256) */
  maxOpenSegmentFiles?: number;
  /** hears what recovery truncated or rebuilt */
  logger?: Logger;
}

/**
 * The durable engine over the data directory `dir` (FORMAT.md), for `local:` and
 * `brook serve --dir`: takes the directory's lock (another process holding it gets UNAVAILABLE
 * naming the owner's pid), recovers, and is closed by the caller (`engine.close()` releases the
 * lock).
 */
export async function openDirectoryEngine(dir: string, options: DirectoryEngineOptions = {}): Promise<LogEngine> {
  const { fsync, fsyncIntervalMs, segmentBytes, maxOpenSegmentFiles, logger, ...engineOptions } = options;
  // Loaded when a directory is opened: a server on the memory store never loads the file store.
  const { openFileStore } = await import("./storage/file-store.js");
  const store = await openFileStore(resolve(dir), {
    ...(fsync === undefined ? {} : { fsync }),
    ...(fsyncIntervalMs === undefined ? {} : { fsyncIntervalMs }),
    ...(segmentBytes === undefined ? {} : { segmentBytes }),
    ...(maxOpenSegmentFiles === undefined ? {} : { maxOpenSegmentFiles }),
    ...(logger === undefined ? {} : { logger }),
  });
  try {
    return await LogEngine.open(store, engineOptions);
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
}
