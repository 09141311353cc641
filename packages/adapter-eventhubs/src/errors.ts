import { BrookError, type BrookErrorCode } from "@brook/core";

/**
 * @azure/event-hubs error codes (MessagingError.code, from the AMQP condition) → Brook codes.
 * Unlisted ones the SDK marks retryable → UNAVAILABLE.
 */
const BY_CODE: Record<string, BrookErrorCode> = {
  MessagingEntityNotFoundError: "TOPIC_NOT_FOUND",
  MessagingEntityAlreadyExistsError: "ALREADY_EXISTS",
  ServerBusyError: "THROTTLED",
  QuotaExceededError: "THROTTLED",
  UnauthorizedError: "UNAUTHENTICATED",
  MessageTooLargeError: "MESSAGE_TOO_LARGE",
  ArgumentError: "INVALID_ARGUMENT",
  ArgumentOutOfRangeError: "INVALID_ARGUMENT",
  InvalidOperationError: "INVALID_ARGUMENT",
  NotImplementedError: "UNSUPPORTED",
  OperationTimeoutError: "TIMEOUT",
  ServiceUnavailableError: "UNAVAILABLE",
  ServiceCommunicationError: "UNAVAILABLE",
  ConnectionForcedError: "UNAVAILABLE",
  ConnectionRedirectError: "UNAVAILABLE",
  SystemError: "UNAVAILABLE",
  InternalServerError: "UNAVAILABLE",
  // Another member of the group opened the partition with an equal or higher owner level: this
  // member no longer owns it (the subscription revokes it; retrying elsewhere helps).
  ReceiverDisconnectedError: "UNAVAILABLE",
  PartitionNotOwnedError: "UNAVAILABLE",
  AbortError: "CLOSED",
  ClientClosedError: "CLOSED",
};

interface SdkLikeError {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  retryable?: unknown;
}

/** The SDK's error code (e.g. "ServerBusyError"), or the error's name. */
export function eventHubsErrorCode(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const e = err as SdkLikeError;
  if (typeof e.code === "string") return e.code;
  return typeof e.name === "string" ? e.name : undefined;
}

/**
 * Maps an @azure/event-hubs or @azure/storage-blob error to a BrookError, keeping the original as
 * `cause`. `what` names the operation and the thing it was about, e.g. `publish to event hub "orders"`.
 */
export function toEventHubsBrookError(err: unknown, what: string, fallback: BrookErrorCode = "UNAVAILABLE"): BrookError {
  if (err instanceof BrookError) return err;
  const e = (typeof err === "object" && err !== null ? err : {}) as SdkLikeError & { statusCode?: unknown };
  const sdkCode = eventHubsErrorCode(err);
  let code: BrookErrorCode | undefined = sdkCode === undefined ? undefined : BY_CODE[sdkCode];
  if (code === undefined && typeof e.statusCode === "number") {
    // @azure/storage-blob (the checkpoint store) speaks HTTP.
    if (e.statusCode === 401) code = "UNAUTHENTICATED";
    else if (e.statusCode === 403) code = "PERMISSION_DENIED";
    else if (e.statusCode === 404) code = "TOPIC_NOT_FOUND";
    else if (e.statusCode === 429 || e.statusCode === 503) code = "THROTTLED";
  }
  let retriable: boolean | undefined;
  if (code === undefined) {
    if (e.retryable === true) {
      code = "UNAVAILABLE";
      retriable = true;
    } else {
      code = fallback;
    }
  } else if (code === "UNAVAILABLE" || code === "THROTTLED" || code === "TIMEOUT") {
    retriable = true;
  }
  const detail = typeof e.message === "string" ? e.message : String(err);
  const reason = sdkCode === undefined ? detail : `${detail} (${sdkCode})`;
  return new BrookError(code, `${what}: ${reason}`, retriable === undefined ? { cause: err } : { cause: err, retriable });
}
