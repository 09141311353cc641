import { checkTypedOptions, invalidArgument, mergeTypedOptions, type UrlParameterSpec } from "@brook/core/spi";
import { onlyLoopback, parseAwsUrl, resolveAwsCredentials, resolveRegion, type KinesisCredentials } from "../options.js";
import type { FirehoseEnvelope, FramingMode } from "./framing.js";

/**
 * Options of `firehose://<region>?endpoint=…&bucket=…&prefix=…&roleArn=…&framing=…&envelope=…`.
 * Every URL parameter has the typed option of the same name; typed options passed to connect() win.
 */
export interface FirehoseBrokerOptions {
  /** AWS region (the URL's host), e.g. "us-east-1" */
  region?: string;
  /** Firehose endpoint URL; absent: the region's real endpoint */
  endpoint?: string;
  /** the S3 bucket createTopic delivers to when its `s3.bucket` is not given */
  bucket?: string;
  /** the S3 key prefix createTopic uses when its `s3.prefix` is not given (default: none, Firehose's YYYY/MM/DD/HH/) */
  prefix?: string;
  /** the IAM role Firehose assumes to write the bucket (createTopic's `s3.roleArn` wins); on a loopback endpoint a placeholder */
  roleArn?: string;
  /** publishers' default framing: "newline" (default for the json, string and auto codecs) or "none" (bytes as given) */
  framing?: FramingMode;
  /** publishers' default envelope: "none" (default) or "json" (one JSON object per line with key, headers, idempotency key, publish time) */
  envelope?: FirehoseEnvelope;
  /** static credentials (URL: with secretAccessKey); absent: the SDK's default chain */
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** static credentials or a provider (typed option only) */
  credentials?: KinesisCredentials | (() => Promise<KinesisCredentials>);
  /** per-request timeout of the AWS client (default 10000) */
  requestTimeoutMs?: number;
  /** TCP connect timeout of the AWS client (default 3000) */
  connectionTimeoutMs?: number;
}

export interface ResolvedFirehoseOptions {
  region: string;
  endpoint: string | undefined;
  bucket: string | undefined;
  prefix: string | undefined;
  roleArn: string | undefined;
  framing: FramingMode | undefined;
  envelope: FirehoseEnvelope;
  credentials: KinesisCredentials | (() => Promise<KinesisCredentials>) | undefined;
  requestTimeoutMs: number;
  connectionTimeoutMs: number;
}

const STRING = ["endpoint", "bucket", "prefix", "roleArn", "accessKeyId", "secretAccessKey", "sessionToken"] as const;
const NUMERIC = ["requestTimeoutMs", "connectionTimeoutMs"] as const;
export const FRAMINGS = ["newline", "none"] as const;
export const ENVELOPES = ["none", "json"] as const;
const URL_PARAMETERS: UrlParameterSpec = {
  strings: STRING,
  positive: NUMERIC,
  choices: { framing: FRAMINGS, envelope: ENVELOPES },
  secrets: ["secretAccessKey", "sessionToken"],
};

/** Parses `firehose://us-east-1?endpoint=http://127.0.0.1:5000&bucket=logs`. */
export function parseFirehoseUrl(url: string): FirehoseBrokerOptions {
  return parseAwsUrl("firehose", url, "endpoint=…&bucket=…&prefix=…", URL_PARAMETERS);
}

/** Merges typed options over the URL's, checks their types and fills the defaults. */
export function resolveFirehoseOptions(fromUrl: FirehoseBrokerOptions, given: Record<string, unknown>): ResolvedFirehoseOptions {
  const merged = mergeTypedOptions(fromUrl, given);
  const region = resolveRegion(merged);
  checkTypedOptions(merged, URL_PARAMETERS);
  const endpoint = merged.endpoint as string | undefined;
  if (endpoint !== undefined && !/^https?:\/\/[^/\s]+/i.test(endpoint)) throw invalidArgument("endpoint", "an http(s) URL such as http://127.0.0.1:5000", endpoint);
  const framing = merged.framing;
  const envelope = merged.envelope ?? "none";
  if (envelope === "json" && framing === "none") throw invalidArgument("framing", 'newline (or absent) with envelope "json", which writes one JSON object per line', framing);
  const bucket = merged.bucket as string | undefined;
  if (bucket !== undefined) validateBucketName(bucket, "bucket");
  const credentials = resolveAwsCredentials(merged, [endpoint]);
  return {
    region,
    endpoint,
    bucket,
    prefix: merged.prefix as string | undefined,
    // Firehose needs a role to write the bucket; an emulator takes any well-formed ARN.
    roleArn: (merged.roleArn as string | undefined) ?? (onlyLoopback([endpoint]) ? LOCAL_ROLE_ARN : undefined),
    framing: framing as FramingMode | undefined,
    envelope: envelope as FirehoseEnvelope,
    credentials,
    requestTimeoutMs: (merged.requestTimeoutMs as number | undefined) ?? 10_000,
    connectionTimeoutMs: (merged.connectionTimeoutMs as number | undefined) ?? 3_000,
  };
}

/** The role ARN used against a loopback endpoint (an emulator) when none is given. */
export const LOCAL_ROLE_ARN = "arn:aws:iam::000000000000:role/brook-local-firehose";

/** S3 bucket names: 3–63 characters of lowercase letters, digits, '.' and '-', starting and ending with a letter or digit. */
export function validateBucketName(bucket: unknown, field: string): string {
  if (typeof bucket !== "string" || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw invalidArgument(field, "an S3 bucket name (3-63 lowercase letters, digits, '.' and '-')", bucket);
  }
  return bucket;
}
