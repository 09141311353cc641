import { resolve } from "node:path";
import type { Logger } from "@brook/core";
import { LocalBroker } from "./broker.js";
import { LogEngine, type EngineOptions } from "./engine.js";
import type { FsyncPolicy, LocalBrokerOptions } from "./options.js";
import { SharedEngines } from "./shared-engines.js";
import { openFileStore } from "./storage/file-store.js";

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
