import { BrookError, invalidArgument } from "../errors.js";
import { resolveCodec, type Codec } from "../codec.js";
import { resolveRetryPolicy, type RetryPolicy } from "../retry.js";
import { SUBSCRIBE_DEFAULTS } from "../bounds.js";
import type { BatchHandler, Capabilities, MessageHandler, Position, SeekTarget, StartFrom, SubscribeOptions } from "../contract.js";
import type { DedupeStore } from "../dedupe.js";

/** Which handler runs: one message per call, or batches of at most maxBatchSize. */
export type HandlerMode<T> =
  | { kind: "message"; handler: MessageHandler<T> }
  | { kind: "batch"; handler: BatchHandler<T>; maxBatchSize: number };

/** Where a message goes after its last failed attempt. */
export type DeadLetterMode = { kind: "none" } | { kind: "topic"; topic: string } | { kind: "native" };

export type OutOfRangePolicy = "earliest" | "latest" | "error";

/** subscribe() options, validated once at the public boundary, with every default applied. */
export interface ResolvedSubscribeOptions<T> {
  group: string;
  codec: Codec<T>;
  handler: HandlerMode<T>;
  ordering: "key" | "partition" | "none";
  /** messages delivered and not settled, at most (in batch mode too: counted in messages) */
  maxInFlight: number;
  retry: RetryPolicy;
  deadLetter: DeadLetterMode;
  dedupe: { store: DedupeStore; ttlMs: number } | undefined;
  startFrom: StartFrom;
  onOutOfRange: OutOfRangePolicy;
  stallTimeoutMs: number;
  commitIntervalMs: number;
  createIfMissing: boolean;
}

/** Checks subscribe() options; every BrookError names the field. */
export function resolveSubscribeOptions<T>(options: SubscribeOptions<T>, capabilities: Pick<Capabilities, "nativeDeadLetter">): ResolvedSubscribeOptions<T> {
  if (typeof options !== "object" || options === null) throw invalidArgument("options", "an object with group and handler", options);
  if (typeof options.group !== "string" || options.group.length === 0) throw invalidArgument("group", "a non-empty string", options.group);
  const hasHandler = typeof options.handler === "function";
  const hasBatch = typeof options.batchHandler === "function";
  if (hasHandler === hasBatch) throw invalidArgument("handler", "exactly one of handler or batchHandler (a function)", options.handler);
  const maxBatchSize = options.maxBatchSize ?? SUBSCRIBE_DEFAULTS.maxBatchSize;
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) throw invalidArgument("maxBatchSize", "an integer >= 1", maxBatchSize);
  const handler: HandlerMode<T> = hasBatch
    ? { kind: "batch", handler: options.batchHandler!, maxBatchSize }
    : { kind: "message", handler: options.handler! };
  const maxInFlight = options.maxInFlight ?? (hasBatch ? SUBSCRIBE_DEFAULTS.batchesInFlight * maxBatchSize : SUBSCRIBE_DEFAULTS.maxInFlight);
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw invalidArgument("maxInFlight", "an integer >= 1", maxInFlight);
  const ordering = options.ordering ?? "key";
  if (ordering !== "key" && ordering !== "partition" && ordering !== "none") {
    throw invalidArgument("ordering", '"key", "partition" or "none"', ordering);
  }
  const stallTimeoutMs = options.stallTimeoutMs ?? SUBSCRIBE_DEFAULTS.stallTimeoutMs;
  if (!(typeof stallTimeoutMs === "number" && stallTimeoutMs > 0)) throw invalidArgument("stallTimeoutMs", "a number > 0", stallTimeoutMs);
  const commitIntervalMs = options.commitIntervalMs ?? SUBSCRIBE_DEFAULTS.commitIntervalMs;
  if (!(typeof commitIntervalMs === "number" && commitIntervalMs > 0)) throw invalidArgument("commitIntervalMs", "a number > 0", commitIntervalMs);
  if (options.createIfMissing !== undefined && typeof options.createIfMissing !== "boolean") {
    throw invalidArgument("createIfMissing", "a boolean", options.createIfMissing);
  }
  return {
    group: options.group,
    codec: resolveCodec<T>(options.codec),
    handler,
    ordering,
    maxInFlight,
    retry: resolveRetryPolicy(options.retry),
    deadLetter: resolveDeadLetter(options.deadLetter, capabilities.nativeDeadLetter),
    dedupe: resolveDedupe(options.dedupe),
    startFrom: resolveStartFrom(options.startFrom),
    onOutOfRange: resolveOutOfRange(options.onOutOfRange),
    stallTimeoutMs,
    commitIntervalMs,
    createIfMissing: options.createIfMissing === true,
  };
}

function resolveDeadLetter(deadLetter: SubscribeOptions<unknown>["deadLetter"], nativeDeadLetter: boolean): DeadLetterMode {
  if (deadLetter === undefined) return { kind: "none" };
  if (deadLetter === "native") {
    if (!nativeDeadLetter) throw new BrookError("UNSUPPORTED", 'deadLetter: "native" is not supported by this backend; use { topic }');
    return { kind: "native" };
  }
  if (typeof deadLetter !== "object" || deadLetter === null || typeof deadLetter.topic !== "string" || deadLetter.topic.length === 0) {
    throw invalidArgument("deadLetter", '{ topic: string } or "native"', deadLetter);
  }
  return { kind: "topic", topic: deadLetter.topic };
}

function resolveDedupe(dedupe: SubscribeOptions<unknown>["dedupe"]): ResolvedSubscribeOptions<unknown>["dedupe"] {
  if (dedupe === undefined) return undefined;
  const store = (dedupe as { store?: Partial<DedupeStore> } | null)?.store;
  if (typeof store?.claim !== "function" || typeof store.complete !== "function" || typeof store.release !== "function") {
    throw invalidArgument("dedupe.store", "a DedupeStore (claim, complete, release)", store);
  }
  const ttlMs = dedupe.ttlMs ?? SUBSCRIBE_DEFAULTS.dedupeTtlMs;
  if (!(typeof ttlMs === "number" && ttlMs > 0)) throw invalidArgument("dedupe.ttlMs", "a number > 0", ttlMs);
  return { store: store as DedupeStore, ttlMs };
}

function resolveOutOfRange(policy: unknown): OutOfRangePolicy {
  if (policy === undefined) return "earliest";
  if (policy === "earliest" || policy === "latest" || policy === "error") return policy;
  throw invalidArgument("onOutOfRange", '"earliest", "latest" or "error"', policy);
}

function resolveStartFrom(startFrom: unknown): StartFrom {
  if (startFrom === undefined) return "latest";
  if (startFrom === "earliest" || startFrom === "latest") return startFrom;
  if (typeof startFrom === "object" && startFrom !== null) {
    if ("time" in startFrom && isValidDate(startFrom.time)) return { time: startFrom.time };
    if ("positions" in startFrom) return { positions: validatePositions(startFrom.positions, "startFrom.positions") };
  }
  throw invalidArgument("startFrom", '"earliest", "latest", { time: Date } or { positions: Position[] }', startFrom);
}

/** Checks seek() targets at the public boundary. */
export function validateSeekTarget(target: unknown): SeekTarget {
  if (typeof target === "object" && target !== null) {
    if ("time" in target && isValidDate(target.time)) return { time: target.time };
    if ("positions" in target) return { positions: validatePositions(target.positions, "positions") };
  }
  throw invalidArgument("seek target", "{ time: Date } or { positions: Position[] }", target);
}

function validatePositions(positions: unknown, field: string): Position[] {
  if (!Array.isArray(positions)) throw invalidArgument(field, "an array of { partition, offset }", positions);
  return positions.map((p: unknown, i) => {
    const pos = p as { partition?: unknown; offset?: unknown } | null;
    if (typeof pos?.partition !== "string" || pos.partition.length === 0 || typeof pos.offset !== "string" || pos.offset.length === 0) {
      throw invalidArgument(`${field}[${i}]`, "{ partition: string, offset: string } (non-empty)", p);
    }
    return { partition: pos.partition, offset: pos.offset };
  });
}

function isValidDate(value: unknown): value is Date {
  return value instanceof Date && !Number.isNaN(value.getTime());
}
