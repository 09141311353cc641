import { BrookError, type BrookErrorCode } from "@brook/core";

/** Kafka protocol error names (KafkaJS `error.type`) → Brook codes. Unlisted retriable ones → UNAVAILABLE. */
const BY_TYPE: Record<string, BrookErrorCode> = {
  UNKNOWN_TOPIC_OR_PARTITION: "TOPIC_NOT_FOUND",
  TOPIC_ALREADY_EXISTS: "ALREADY_EXISTS",
  MESSAGE_TOO_LARGE: "MESSAGE_TOO_LARGE",
  RECORD_LIST_TOO_LARGE: "MESSAGE_TOO_LARGE",
  INVALID_TOPIC_EXCEPTION: "INVALID_ARGUMENT",
  INVALID_PARTITIONS: "INVALID_ARGUMENT",
  INVALID_REPLICATION_FACTOR: "INVALID_ARGUMENT",
  INVALID_REPLICA_ASSIGNMENT: "INVALID_ARGUMENT",
  INVALID_CONFIG: "INVALID_ARGUMENT",
  INVALID_REQUEST: "INVALID_ARGUMENT",
  INVALID_RECORD: "INVALID_ARGUMENT",
  POLICY_VIOLATION: "INVALID_ARGUMENT",
  OFFSET_OUT_OF_RANGE: "INVALID_ARGUMENT",
  CORRUPT_MESSAGE: "CORRUPT_DATA",
  TOPIC_AUTHORIZATION_FAILED: "PERMISSION_DENIED",
  GROUP_AUTHORIZATION_FAILED: "PERMISSION_DENIED",
  CLUSTER_AUTHORIZATION_FAILED: "PERMISSION_DENIED",
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: "PERMISSION_DENIED",
  SASL_AUTHENTICATION_FAILED: "UNAUTHENTICATED",
  ILLEGAL_SASL_STATE: "UNAUTHENTICATED",
  UNSUPPORTED_SASL_MECHANISM: "UNAUTHENTICATED",
  THROTTLING_QUOTA_EXCEEDED: "THROTTLED",
  REQUEST_TIMED_OUT: "TIMEOUT",
  UNSUPPORTED_VERSION: "UNSUPPORTED",
};

/** Client-side error classes (error.name: KafkaJS' own, and driver.ts' neutral ones) → Brook codes. */
const BY_NAME: Record<string, BrookErrorCode> = {
  KafkaConnectionError: "UNAVAILABLE",
  KafkaTimeoutError: "TIMEOUT",
  KafkaAuthenticationError: "UNAUTHENTICATED",
  KafkaJSConnectionError: "UNAVAILABLE",
  KafkaJSConnectionClosedError: "UNAVAILABLE",
  KafkaJSBrokerNotFound: "UNAVAILABLE",
  KafkaJSNoBrokerAvailableError: "UNAVAILABLE",
  KafkaJSMetadataNotLoaded: "UNAVAILABLE",
  KafkaJSTopicMetadataNotLoaded: "UNAVAILABLE",
  KafkaJSLockTimeout: "TIMEOUT",
  KafkaJSRequestTimeoutError: "TIMEOUT",
  KafkaJSTimeout: "TIMEOUT",
  KafkaJSSASLAuthenticationError: "UNAUTHENTICATED",
  KafkaJSNotImplemented: "UNSUPPORTED",
  KafkaJSUnsupportedMagicByteInMessageSet: "CORRUPT_DATA",
};

interface KafkaLikeError {
  name?: unknown;
  type?: unknown;
  message?: unknown;
  retriable?: unknown;
  cause?: unknown;
  errors?: unknown;
}

/**
 * The most specific error in a KafkaJS chain: KafkaJSNumberOfRetriesExceeded and
 * KafkaJSNonRetriableError wrap the real one in `cause`; createTopics' KafkaJSAggregateError
 * lists them in `errors`.
 */
export function rootKafkaError(err: unknown): KafkaLikeError | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 10 && typeof current === "object" && current !== null; depth++) {
    const e = current as KafkaLikeError;
    if (typeof e.type === "string") return e;
    if (Array.isArray(e.errors) && e.errors.length > 0) current = e.errors[0];
    else if (e.cause !== undefined) current = e.cause;
    else return e;
  }
  return typeof err === "object" && err !== null ? (err as KafkaLikeError) : undefined;
}

/** The Kafka protocol error name in the chain (e.g. "UNKNOWN_TOPIC_OR_PARTITION"), if any. */
export function kafkaErrorType(err: unknown): string | undefined {
  const root = rootKafkaError(err);
  return typeof root?.type === "string" ? root.type : undefined;
}

/**
 * Maps a Kafka client error to a BrookError, keeping the original as `cause`. `what` names the
 * operation and the thing it was about, e.g. `publish to topic "orders"`.
 */
export function toKafkaBrookError(err: unknown, what: string, fallback: BrookErrorCode = "UNAVAILABLE"): BrookError {
  if (err instanceof BrookError) return err;
  const root = rootKafkaError(err);
  const type = typeof root?.type === "string" ? root.type : undefined;
  const outerName = typeof (err as KafkaLikeError | undefined)?.name === "string" ? ((err as KafkaLikeError).name as string) : undefined;
  const rootName = typeof root?.name === "string" ? root.name : undefined;
  let code: BrookErrorCode | undefined = type === undefined ? undefined : BY_TYPE[type];
  code ??= (rootName === undefined ? undefined : BY_NAME[rootName]) ?? (outerName === undefined ? undefined : BY_NAME[outerName]);
  let retriable: boolean | undefined;
  if (code === undefined) {
    // A protocol error KafkaJS marks retriable (leader moved, coordinator loading, …), or the
    // retries around one ran out: the cluster is not serving right now.
    if (root?.retriable === true || outerName === "KafkaJSNumberOfRetriesExceeded") {
      code = "UNAVAILABLE";
      retriable = true;
    } else {
      code = fallback;
    }
  }
  const detail = root?.message ?? (err instanceof Error ? err.message : String(err));
  const reason = type === undefined ? String(detail) : `${String(detail)} (${type})`;
  return new BrookError(code, `${what}: ${reason}`, retriable === undefined ? { cause: err } : { cause: err, retriable });
}
