/**
 * `@brook/core`: the application API. Adapter authors import `@brook/core/spi` as well (the
 * broker skeleton, transports, sources and the shared machinery behind them).
 */
export type {
  Admin,
  BatchHandler,
  Broker,
  Capabilities,
  CloseOptions,
  ConsumeOptions,
  DeadLetterOptions,
  GroupPosition,
  Headers,
  MessageHandler,
  MessageStream,
  OutgoingMessage,
  PartitionOffsets,
  PartitionHealth,
  Position,
  PublishBatchResult,
  PublishResult,
  Publisher,
  PublisherOptions,
  ReceivedMessage,
  RetryOptions,
  SeekTarget,
  StartFrom,
  SubscribeOptions,
  Subscription,
  SubscriptionEvents,
  TopicDescription,
  TopicOptions,
  WaitOptions,
} from "./contract.js";
export { BrookError, PermanentError, isBrookError } from "./errors.js";
export type { BrookErrorCode, BrookErrorOptions } from "./errors.js";
export { CONTENT_TYPE_HEADER, autoCodec, bytesCodec, jsonCodec, resolveCodec, stringCodec } from "./codec.js";
export type { Codec, CodecName } from "./codec.js";
export { schemaCodec } from "./schema-codec.js";
export { createPushHandler, forwardToPush, parseEnvelope, toPushEnvelope } from "./push.js";
export type { PushEnvelope, PushForwardOptions, PushHandlerOptions, PushRequestHandler } from "./push.js";
export type { StandardSchemaV1 } from "@standard-schema/spec";
export { connect, registeredSchemes, schemeOf } from "./registry.js";
export type { BaseConnectOptions, BrokerFor, BrokersByScheme, ConnectOptions, ConnectOptionsByScheme, SchemeOf } from "./registry.js";
export { MemoryDedupeStore } from "./dedupe.js";
export type { ClaimResult, DedupeStore, MemoryDedupeStoreOptions } from "./dedupe.js";
export { DLQ_HEADERS } from "./headers.js";
export { defaultLogger, silentLogger, toLogger } from "./logger.js";
export type { Logger, LoggerLike } from "./logger.js";
