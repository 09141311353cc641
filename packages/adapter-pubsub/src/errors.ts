import { BrookError, type BrookErrorCode } from "@brook/core";

/**
 * gRPC status codes as @google-cloud/pubsub reports them: a plain Error with a numeric `code`,
 * `details`, and a message "<code> <NAME>: <details>" (e.g. "5 NOT_FOUND: Topic not found").
 */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** Which Brook code each gRPC status becomes, and whether retrying the same call can help. */
const MAPPING: Record<number, { code: BrookErrorCode; retriable: boolean }> = {
  [GrpcStatus.CANCELLED]: { code: "UNAVAILABLE", retriable: true },
  [GrpcStatus.UNKNOWN]: { code: "UNAVAILABLE", retriable: true },
  [GrpcStatus.INVALID_ARGUMENT]: { code: "INVALID_ARGUMENT", retriable: false },
  [GrpcStatus.DEADLINE_EXCEEDED]: { code: "TIMEOUT", retriable: true },
  [GrpcStatus.NOT_FOUND]: { code: "TOPIC_NOT_FOUND", retriable: false },
  [GrpcStatus.ALREADY_EXISTS]: { code: "ALREADY_EXISTS", retriable: false },
  [GrpcStatus.PERMISSION_DENIED]: { code: "PERMISSION_DENIED", retriable: false },
  [GrpcStatus.RESOURCE_EXHAUSTED]: { code: "THROTTLED", retriable: true },
  // e.g. a seek on a subscription without retained messages: the request cannot work as sent.
  [GrpcStatus.FAILED_PRECONDITION]: { code: "INVALID_ARGUMENT", retriable: false },
  [GrpcStatus.ABORTED]: { code: "UNAVAILABLE", retriable: true },
  // e.g. deadLetterPolicy.maxDeliveryAttempts outside 5..100
  [GrpcStatus.OUT_OF_RANGE]: { code: "INVALID_ARGUMENT", retriable: false },
  [GrpcStatus.UNIMPLEMENTED]: { code: "UNSUPPORTED", retriable: false },
  [GrpcStatus.INTERNAL]: { code: "UNAVAILABLE", retriable: true },
  [GrpcStatus.UNAVAILABLE]: { code: "UNAVAILABLE", retriable: true },
  [GrpcStatus.DATA_LOSS]: { code: "CORRUPT_DATA", retriable: false },
  [GrpcStatus.UNAUTHENTICATED]: { code: "UNAUTHENTICATED", retriable: false },
};

export function grpcCodeOf(err: unknown): number | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === "number" ? code : undefined;
}

/**
 * Maps anything the Pub/Sub client threw to a BrookError, keeping it as `cause`. `what` names
 * the operation and resource ("publish to topic \"orders\""), so the message says what failed.
 */
export function toPubSubError(err: unknown, what: string, fallback: BrookErrorCode = "UNAVAILABLE"): BrookError {
  if (err instanceof BrookError) return err;
  const status = grpcCodeOf(err);
  const mapped = status === undefined ? undefined : MAPPING[status];
  const detail = describe(err);
  if (mapped === undefined) {
    return new BrookError(fallback, `${what} failed: ${detail}`, { cause: err });
  }
  return new BrookError(mapped.code, `${what} failed: ${detail}`, { cause: err, retriable: mapped.retriable });
}

function describe(err: unknown): string {
  if (typeof err === "object" && err !== null) {
    const details = (err as { details?: unknown }).details;
    const message = (err as { message?: unknown }).message;
    if (typeof message === "string" && message.length > 0) return message;
    if (typeof details === "string" && details.length > 0) return details;
  }
  return String(err);
}
