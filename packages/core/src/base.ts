/**
 * `@brook/core/base`: the leaf pieces of core (errors, logger, headers, partitioning, topic and
 * message validation) without the client machinery behind `@brook/core` and `@brook/core/spi`
 * (publisher, subscriptions, codecs, retries, metrics, tracing, push, the backend registry).
 * Server-side code (the local broker's server, kafka-wire, `brook serve`) imports these from
 * here so a server process starts without loading the rest; the classes and functions are the
 * same objects `@brook/core` and `@brook/core/spi` export (one `BrookError` class).
 */
export { BrookError, PermanentError, closedError, invalidArgument, isBrookError, isBrookErrorCode, toBrookError } from "./errors.js";
export type { BrookErrorCode, BrookErrorOptions } from "./errors.js";
export { defaultLogger, silentLogger, toLogger } from "./logger.js";
export type { Logger, LoggerLike } from "./logger.js";
export { DLQ_HEADERS, IDEMPOTENCY_HEADER, setHeader } from "./headers.js";
export { murmur2, partitionForKey } from "./partitioner.js";
export { validateHeaders, validateTopicName, wireSize } from "./validation.js";
export { sleep, waitWithTimeout } from "./subscription/wait.js";
