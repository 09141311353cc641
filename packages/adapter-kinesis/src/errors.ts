import { BrookError, type BrookErrorCode } from "@brook/core";

/**
 * AWS error names (the SDK's `error.name`, also Kinesis' per-record `ErrorCode`) → Brook codes.
 * ResourceNotFoundException and ResourceInUseException depend on the call and are mapped there.
 */
const BY_NAME: Record<string, { code: BrookErrorCode; retriable?: boolean }> = {
  ProvisionedThroughputExceededException: { code: "THROTTLED" },
  ThrottlingException: { code: "THROTTLED" },
  Throttling: { code: "THROTTLED" },
  LimitExceededException: { code: "THROTTLED" },
  RequestLimitExceeded: { code: "THROTTLED" },
  TooManyRequestsException: { code: "THROTTLED" },
  KMSThrottlingException: { code: "THROTTLED" },
  InternalFailure: { code: "UNAVAILABLE" },
  InternalFailureException: { code: "UNAVAILABLE" },
  InternalServerError: { code: "UNAVAILABLE" },
  ServiceUnavailable: { code: "UNAVAILABLE" },
  ServiceUnavailableException: { code: "UNAVAILABLE" },
  TimeoutError: { code: "TIMEOUT" },
  RequestTimeout: { code: "TIMEOUT" },
  RequestTimeoutException: { code: "TIMEOUT" },
  InvalidArgumentException: { code: "INVALID_ARGUMENT" },
  ValidationException: { code: "INVALID_ARGUMENT" },
  SerializationException: { code: "INVALID_ARGUMENT" },
  AccessDeniedException: { code: "PERMISSION_DENIED" },
  KMSAccessDeniedException: { code: "PERMISSION_DENIED" },
  UnauthorizedOperation: { code: "PERMISSION_DENIED" },
  UnrecognizedClientException: { code: "UNAUTHENTICATED" },
  InvalidSignatureException: { code: "UNAUTHENTICATED" },
  IncompleteSignature: { code: "UNAUTHENTICATED" },
  MissingAuthenticationToken: { code: "UNAUTHENTICATED" },
  ExpiredTokenException: { code: "UNAUTHENTICATED" },
  CredentialsProviderError: { code: "UNAUTHENTICATED" },
  // The stream's key is disabled, missing or not usable: retrying cannot help until an operator acts.
  KMSDisabledException: { code: "UNAVAILABLE", retriable: false },
  KMSInvalidStateException: { code: "UNAVAILABLE", retriable: false },
  KMSNotFoundException: { code: "UNAVAILABLE", retriable: false },
  KMSOptInRequired: { code: "UNAVAILABLE", retriable: false },
  ExpiredIteratorException: { code: "UNAVAILABLE" },
  ExpiredNextTokenException: { code: "UNAVAILABLE" },
};

/** Socket-level failures: the endpoint is not reachable right now. */
const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ECONNABORTED"]);

interface AwsLikeError {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

/** The AWS error name of an SDK error ("ResourceNotFoundException", …), if any. */
export function awsErrorName(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const name = (err as AwsLikeError).name;
  return typeof name === "string" ? name : undefined;
}

/**
 * Maps an AWS SDK error (or a per-record ErrorCode) to a BrookError keeping the original as
 * `cause`. `what` names the operation and the thing it was about, e.g. `publish to stream "orders"`.
 */
export function toKinesisBrookError(err: unknown, what: string, fallback: BrookErrorCode = "UNAVAILABLE"): BrookError {
  if (err instanceof BrookError) return err;
  const e = (typeof err === "object" && err !== null ? err : {}) as AwsLikeError;
  const name = awsErrorName(err);
  const detail = typeof e.message === "string" && e.message.length > 0 ? e.message : String(err);
  // A record over the size limit is refused as an invalid argument (whole call or entry):
  // "… member.data' failed to satisfy constraint: Member must have length less than or equal
  // to 1048576", "Record size exceeds the maximum of 1 MiB", "Records size … exceeds 5 MB".
  if ((name === "ValidationException" || name === "InvalidArgumentException") && /1048576|\b1 ?MiB\b|\b5 ?MB\b|too large|record size|records size/i.test(detail)) {
    return new BrookError("MESSAGE_TOO_LARGE", `${what}: ${detail} (${name})`, { cause: err });
  }
  const known = name === undefined ? undefined : BY_NAME[name];
  if (known !== undefined) {
    return new BrookError(known.code, `${what}: ${detail} (${name})`, known.retriable === undefined ? { cause: err } : { cause: err, retriable: known.retriable });
  }
  if (typeof e.code === "string" && NETWORK_CODES.has(e.code)) {
    return new BrookError("UNAVAILABLE", `${what}: ${detail} (${e.code})`, { cause: err });
  }
  const status = e.$metadata?.httpStatusCode;
  if (typeof status === "number" && status >= 500) {
    return new BrookError("UNAVAILABLE", `${what}: ${detail} (HTTP ${status}${name === undefined ? "" : `, ${name}`})`, { cause: err });
  }
  return new BrookError(fallback, `${what}: ${detail}${name === undefined ? "" : ` (${name})`}`, { cause: err });
}

/** A PutRecords entry's ErrorCode/ErrorMessage as a BrookError (throttling and internal failures are retriable). */
export function recordError(errorCode: string, errorMessage: string | undefined, what: string): BrookError {
  const cause = Object.assign(new Error(errorMessage ?? errorCode), { name: errorCode });
  return toKinesisBrookError(cause, what, "UNAVAILABLE");
}

export function streamNotFound(stream: string, cause?: unknown): BrookError {
  return new BrookError("TOPIC_NOT_FOUND", `stream "${stream}" does not exist on Kinesis`, cause === undefined ? {} : { cause });
}
