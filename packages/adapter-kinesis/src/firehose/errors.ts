import { BrookError, type BrookErrorCode } from "@brook/core";
import { awsErrorName, toKinesisBrookError } from "../errors.js";

/**
 * Firehose's own error names → Brook codes, before the AWS-wide mapping of ../errors.ts.
 * ServiceUnavailableException is how Firehose says "slow down" (per call and per record: the
 * delivery stream's throughput limit), so it is THROTTLED here, not UNAVAILABLE.
 */
const FIREHOSE: Record<string, { code: BrookErrorCode; retriable?: boolean }> = {
  ServiceUnavailableException: { code: "THROTTLED" },
  // The stream is being created, deleted or updated: retrying can succeed once it is ACTIVE.
  ResourceInUseException: { code: "UNAVAILABLE" },
  // The stream's KMS key cannot be used: retrying cannot help until an operator acts.
  InvalidKMSResourceException: { code: "UNAVAILABLE", retriable: false },
  // A stream whose source is a Kinesis stream or MSK takes no PutRecordBatch.
  InvalidSourceException: { code: "INVALID_ARGUMENT" },
};

/** A record or call over Firehose's size limits (1,000 KiB per record, 4 MiB per call). */
const TOO_LARGE = /1024000|1,?000 ?KiB|4194304|4 ?MiB|too large|exceeds the maximum/i;

/** Maps an AWS SDK error (or a per-record ErrorCode) from Firehose to a BrookError keeping the original as `cause`. */
export function toFirehoseBrookError(err: unknown, what: string, stream?: string): BrookError {
  if (err instanceof BrookError) return err;
  const name = awsErrorName(err);
  const detail = typeof (err as { message?: unknown })?.message === "string" ? (err as Error).message : String(err);
  if (name === "ResourceNotFoundException" && stream !== undefined) return deliveryStreamNotFound(stream, err);
  if ((name === "InvalidArgumentException" || name === "ValidationException") && TOO_LARGE.test(detail)) {
    return new BrookError("MESSAGE_TOO_LARGE", `${what}: ${detail} (${name})`, { cause: err });
  }
  const known = name === undefined ? undefined : FIREHOSE[name];
  if (known !== undefined) {
    return new BrookError(known.code, `${what}: ${detail} (${name})`, known.retriable === undefined ? { cause: err } : { cause: err, retriable: known.retriable });
  }
  return toKinesisBrookError(err, what);
}

/** A PutRecordBatch entry's ErrorCode/ErrorMessage as a BrookError; an unknown code is retriable (UNAVAILABLE). */
export function firehoseRecordError(errorCode: string, errorMessage: string | undefined, what: string): BrookError {
  const cause = Object.assign(new Error(errorMessage ?? errorCode), { name: errorCode });
  return toFirehoseBrookError(cause, what);
}

export function deliveryStreamNotFound(stream: string, cause?: unknown): BrookError {
  return new BrookError("TOPIC_NOT_FOUND", `delivery stream "${stream}" does not exist on Firehose`, cause === undefined ? {} : { cause });
}

/** What a publish-only sink says to subscribe(), consume() and seek(). */
export function firehoseUnsupported(what: string): BrookError {
  return new BrookError("UNSUPPORTED", `${what}: Firehose is a publish-only delivery sink (records go to S3 and cannot be read back through Brook); read the bucket instead`);
}
