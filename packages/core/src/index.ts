export type {
  Admin,
  BatchHandler,
  Broker,
  Capabilities,
  CloseOptions,
  DeadLetterOptions,
  Headers,
  MessageHandler,
  OutgoingMessage,
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
} from "./contract.js";
export { BrookError, PermanentError, closedError, invalidArgument, isBrookError, toBrookError } from "./errors.js";
export type { BrookErrorCode, BrookErrorOptions } from "./errors.js";
export { bytesCodec, jsonCodec, resolveCodec, stringCodec } from "./codec.js";
export type { Codec, CodecName } from "./codec.js";
export { connect, registerBackend, registeredSchemes, schemeOf } from "./registry.js";
export type { BrokerFactory, ConnectOptions } from "./registry.js";
export { ContiguousCommitTracker } from "./commit-tracker.js";
export { KeyedExecutor } from "./keyed-executor.js";
export { DEFAULT_RETRY, resolveRetryPolicy, runWithRetry } from "./retry.js";
export type { RetryPolicy, RetryRunOptions } from "./retry.js";
export { MemoryDedupeStore } from "./dedupe.js";
export type { ClaimResult, DedupeStore } from "./dedupe.js";
export { Batcher } from "./batcher.js";
export type { BatcherLimits } from "./batcher.js";
export { murmur2, partitionForKey } from "./partitioner.js";
export { CorePublisher, validateHeaders, validateTopicName, wireSize } from "./publisher.js";
export {
  DLQ_HEADERS,
  IDEMPOTENCY_HEADER,
  ManagedSubscription,
  sleep,
  validateSeekTarget,
  validateSubscribeOptions,
  waitWithTimeout,
} from "./subscription.js";
export type { SubscriptionStats } from "./subscription.js";
export type {
  BackendLimits,
  DeliverySink,
  PartitionAssignment,
  PublishTransport,
  SourceRecord,
  SubscriptionContext,
  SubscriptionSource,
  WireMessage,
} from "./spi.js";
export { defaultLogger, silentLogger } from "./logger.js";
export type { Logger } from "./logger.js";
export { TypedEmitter } from "./emitter.js";
export { BrokerResources } from "./broker-resources.js";
export { formatTraceparent, loadOtel, parseTraceparent } from "./tracing.js";
export type { TraceParent } from "./tracing.js";
