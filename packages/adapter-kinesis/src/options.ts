import { createHash } from "node:crypto";
import { BrookError } from "@brook/core";
import { checkTypedOptions, invalidArgument, mergeTypedOptions, parseUrlParameters, urlParameterNames, type UrlParameterSpec } from "@brook/core/spi";

/** How a message travels in a Kinesis record (see the package README, "Records"). */
export type EnvelopeMode = "auto" | "kpl" | "none";
/** How lease items are keyed: KCL single-stream (`shardId`) or KCL multi-stream (`account:stream:epoch:shardId`). */
export type LeaseKeyMode = "auto" | "shard" | "stream";

/** Credentials in the AWS SDK's shape (typed option only; the URL takes accessKeyId/secretAccessKey). */
export interface KinesisCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/**
 * Options of `kinesis://<region>?endpoint=…&dynamoEndpoint=…&leaseTable=…`. Every URL query
 * parameter has the typed option of the same name; typed options passed to connect() win.
 */
export interface KinesisBrokerOptions {
  /** AWS region (the URL's host), e.g. "us-east-1" */
  region?: string;
  /** Kinesis endpoint URL; absent: the region's real endpoint */
  endpoint?: string;
  /** DynamoDB endpoint URL for the lease tables; absent: the region's real endpoint */
  dynamoEndpoint?: string;
  /**
   * Lease table name, or a template with {group} and {topic} (default "{group}": one table per
   * consumer group, the KCL's "application name"). Characters DynamoDB refuses become "_".
   */
  leaseTable?: string;
  /** lease keys: "auto" (default: adopt what the table holds; new tables get multi-stream keys), "shard", "stream" */
  leaseKeys?: LeaseKeyMode;
  /** this process's worker id in lease items (default: host, pid and a random part) */
  workerId?: string;
  /** a lease whose counter has not moved for this long is expired and may be taken (default 10000) */
  failoverTimeMs?: number;
  /** how often a worker renews its leases (default failoverTimeMs / 3) */
  renewIntervalMs?: number;
  /** how often a worker looks for leases to take or steal (default failoverTimeMs) */
  takeIntervalMs?: number;
  /** leases a worker below its fair share steals per round, at most (default 1) */
  maxStealsPerRound?: number;
  /** how often the shard list is synced into leases (default 60000; shard ends create child leases at once) */
  shardSyncIntervalMs?: number;
  /** wait after an empty GetRecords before the next one (default 1000; grows up to 4x while the shard stays empty) */
  pollIntervalMs?: number;
  /** GetRecords Limit (default 10000) */
  maxRecordsPerFetch?: number;
  /** "auto" (default): KPL envelope only for messages with headers or an idempotency key; "kpl": always; "none": never */
  envelope?: EnvelopeMode;
  /** pack many messages into one Kinesis record, as the KPL does (default false) */
  aggregate?: boolean;
  /** largest aggregated record, in bytes (default 51200, the KPL's) */
  aggregateMaxBytes?: number;
  /** enhanced fan-out: RegisterStreamConsumer + SubscribeToShard instead of GetRecords polling (default false) */
  efo?: boolean;
  /** enhanced fan-out consumer name, or a template with {group} (default "{group}") */
  efoConsumerName?: string;
  /** a SubscribeToShard subscription is renewed after this long, before the service ends it at 5 minutes (default 240000) */
  efoRenewMs?: number;
  /** static credentials (URL: with secretAccessKey); absent: the SDK's default chain */
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** static credentials or a provider (typed option only) */
  credentials?: KinesisCredentials | (() => Promise<KinesisCredentials>);
  /** per-request timeout of the AWS clients (default 10000) */
  requestTimeoutMs?: number;
  /** TCP connect timeout of the AWS clients (default 3000) */
  connectionTimeoutMs?: number;
}

export interface ResolvedKinesisOptions {
  region: string;
  endpoint: string | undefined;
  dynamoEndpoint: string | undefined;
  leaseTable: string;
  leaseKeys: LeaseKeyMode;
  workerId: string | undefined;
  failoverTimeMs: number;
  renewIntervalMs: number;
  takeIntervalMs: number;
  maxStealsPerRound: number;
  shardSyncIntervalMs: number;
  pollIntervalMs: number;
  maxRecordsPerFetch: number;
  envelope: EnvelopeMode;
  aggregate: boolean;
  aggregateMaxBytes: number;
  efo: boolean;
  efoConsumerName: string;
  efoRenewMs: number;
  credentials: KinesisCredentials | (() => Promise<KinesisCredentials>) | undefined;
  requestTimeoutMs: number;
  connectionTimeoutMs: number;
}

const NUMERIC = [
  "failoverTimeMs",
  "renewIntervalMs",
  "takeIntervalMs",
  "maxStealsPerRound",
  "shardSyncIntervalMs",
  "pollIntervalMs",
  "maxRecordsPerFetch",
  "aggregateMaxBytes",
  "efoRenewMs",
  "requestTimeoutMs",
  "connectionTimeoutMs",
] as const;
const BOOLEAN = ["aggregate", "efo"] as const;
const STRING = ["endpoint", "dynamoEndpoint", "leaseTable", "workerId", "efoConsumerName", "accessKeyId", "secretAccessKey", "sessionToken"] as const;
const ENVELOPES = ["auto", "kpl", "none"] as const;
const LEASE_KEYS = ["auto", "shard", "stream"] as const;
const URL_PARAMETERS: UrlParameterSpec = {
  strings: STRING,
  booleans: BOOLEAN,
  positive: NUMERIC,
  choices: { envelope: ENVELOPES, leaseKeys: LEASE_KEYS },
  secrets: ["secretAccessKey", "sessionToken"],
};
const KNOWN = urlParameterNames(URL_PARAMETERS);

/** The largest record Kinesis takes (data and partition key together). */
export const MAX_RECORD_BYTES = 1_048_576;
/** A SubscribeToShard subscription lasts 5 minutes. */
const MAX_EFO_SUBSCRIPTION_MS = 300_000;
/** The largest aggregated record Brook packs. */
const MAX_AGGREGATE_BYTES = MAX_RECORD_BYTES;

/** Parses `kinesis://us-east-1?endpoint=http://127.0.0.1:4567&leaseTable={group}`. */
export function parseKinesisUrl(url: string): KinesisBrokerOptions {
  return parseAwsUrl("kinesis", url, "endpoint=…&dynamoEndpoint=…&leaseTable=…", URL_PARAMETERS);
}

/**
 * Parses `<scheme>://<region>?<parameters>` (the region may be left out: then the region option
 * or AWS_REGION gives it); shared by the kinesis: and firehose: URLs.
 */
export function parseAwsUrl(scheme: string, url: string, hint: string, spec: UrlParameterSpec): { region?: string } & Record<string, unknown> {
  const match = new RegExp(`^${scheme}://([^/?#]*)/?(?:\\?([^#]*))?$`, "i").exec(url);
  if (match === null) throw new BrookError("INVALID_URL", `url "${redact(url)}": expected ${scheme}://<region>[?${hint}]`);
  const region = decodeURIComponent(match[1] ?? "");
  const options: { region?: string } & Record<string, unknown> = {};
  if (region.length > 0) {
    if (!/^[a-z0-9-]+$/.test(region)) throw new BrookError("INVALID_URL", `url "${redact(url)}": region "${region}" is not an AWS region name such as us-east-1`);
    options.region = region;
  }
  Object.assign(options, parseUrlParameters(match[2] ?? "", spec, redact(url)));
  return options;
}

/** The region: the merged options', else AWS_REGION / AWS_DEFAULT_REGION; INVALID_ARGUMENT when none is a region name. */
export function resolveRegion(merged: Record<string, unknown>): string {
  const region = merged.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (typeof region !== "string" || !/^[a-z0-9-]+$/.test(region)) {
    throw invalidArgument("region", "an AWS region such as us-east-1 (the URL's host, the region option or AWS_REGION)", region);
  }
  return region;
}

/** The URL form of options; the inverse of parseKinesisUrl (typed-only options are left out). */
export function formatKinesisUrl(options: KinesisBrokerOptions & { region: string }): string {
  const params = new URLSearchParams();
  for (const name of KNOWN) {
    const value = options[name as keyof KinesisBrokerOptions];
    if (value !== undefined && typeof value !== "function" && typeof value !== "object") params.set(name, String(value));
  }
  const query = params.toString();
  return `kinesis://${options.region}${query.length > 0 ? `?${query}` : ""}`;
}

/** Merges typed options over the URL's, checks their types and fills the defaults. */
export function resolveKinesisOptions(fromUrl: KinesisBrokerOptions, given: Record<string, unknown>): ResolvedKinesisOptions {
  const merged = mergeTypedOptions(fromUrl, given, ["logger"]);
  const region = resolveRegion(merged);
  checkTypedOptions(merged, URL_PARAMETERS);
  for (const name of ["endpoint", "dynamoEndpoint"] as const) {
    const v = merged[name] as string | undefined;
    if (v !== undefined && !/^https?:\/\/[^/\s]+/i.test(v)) throw invalidArgument(name, "an http(s) URL such as http://127.0.0.1:4567", v);
  }
  const leaseTable = (merged.leaseTable as string | undefined) ?? "{group}";
  checkTemplate("leaseTable", leaseTable, ["group", "topic"]);
  const efoConsumerName = (merged.efoConsumerName as string | undefined) ?? "{group}";
  checkTemplate("efoConsumerName", efoConsumerName, ["group", "topic"]);
  const num = (name: (typeof NUMERIC)[number], fallback: number): number => (merged[name] as number | undefined) ?? fallback;
  const failoverTimeMs = num("failoverTimeMs", 10_000);
  const renewIntervalMs = num("renewIntervalMs", Math.max(1, Math.floor(failoverTimeMs / 3)));
  if (renewIntervalMs >= failoverTimeMs) {
    throw invalidArgument("renewIntervalMs", `less than failoverTimeMs (${failoverTimeMs}), so a live worker's leases never look expired`, renewIntervalMs);
  }
  const maxRecordsPerFetch = num("maxRecordsPerFetch", 10_000);
  if (maxRecordsPerFetch > 10_000) throw invalidArgument("maxRecordsPerFetch", "at most 10000 (GetRecords' limit)", maxRecordsPerFetch);
  const aggregateMaxBytes = num("aggregateMaxBytes", 51_200);
  if (aggregateMaxBytes > MAX_AGGREGATE_BYTES) throw invalidArgument("aggregateMaxBytes", `at most ${MAX_AGGREGATE_BYTES} (a Kinesis record's limit)`, aggregateMaxBytes);
  const efoRenewMs = num("efoRenewMs", 240_000);
  if (efoRenewMs >= MAX_EFO_SUBSCRIPTION_MS) throw invalidArgument("efoRenewMs", `less than ${MAX_EFO_SUBSCRIPTION_MS} (a SubscribeToShard subscription ends after 5 minutes)`, efoRenewMs);
  const endpoint = merged.endpoint as string | undefined;
  const dynamoEndpoint = merged.dynamoEndpoint as string | undefined;
  const credentials = resolveAwsCredentials(merged, [endpoint, dynamoEndpoint]);
  return {
    region,
    endpoint,
    dynamoEndpoint,
    leaseTable,
    leaseKeys: (merged.leaseKeys as LeaseKeyMode | undefined) ?? "auto",
    workerId: merged.workerId as string | undefined,
    failoverTimeMs,
    renewIntervalMs,
    takeIntervalMs: num("takeIntervalMs", failoverTimeMs),
    maxStealsPerRound: num("maxStealsPerRound", 1),
    shardSyncIntervalMs: num("shardSyncIntervalMs", 60_000),
    pollIntervalMs: num("pollIntervalMs", 1_000),
    maxRecordsPerFetch,
    envelope: (merged.envelope as EnvelopeMode | undefined) ?? "auto",
    aggregate: (merged.aggregate as boolean | undefined) ?? false,
    aggregateMaxBytes,
    efo: (merged.efo as boolean | undefined) ?? false,
    efoConsumerName,
    efoRenewMs,
    credentials,
    requestTimeoutMs: num("requestTimeoutMs", 10_000),
    connectionTimeoutMs: num("connectionTimeoutMs", 3_000),
  };
}

/**
 * Fills a name template ({group}, {topic}) and makes the result a valid DynamoDB table or
 * Kinesis consumer name: characters outside [A-Za-z0-9_.-] become "_" (then a short hash of the
 * original is appended, so distinct groups never share a table), and a name shorter than 3
 * characters is padded with "_".
 */
export function fillNameTemplate(template: string, values: { group: string; topic: string }, maxLength = 255): string {
  const filled = template.replace(/\{(group|topic)\}/g, (_, name: "group" | "topic") => values[name]);
  let name = filled.replace(/[^A-Za-z0-9_.-]/g, "_");
  if (name !== filled) name = `${name}-${createHash("sha256").update(filled).digest("hex").slice(0, 8)}`;
  if (name.length > maxLength) name = `${name.slice(0, maxLength - 9)}-${createHash("sha256").update(filled).digest("hex").slice(0, 8)}`;
  return name.padEnd(3, "_");
}

function checkTemplate(field: string, template: string, allowed: string[]): void {
  for (const m of template.matchAll(/\{([^}]*)\}/g)) {
    if (!allowed.includes(m[1]!)) throw invalidArgument(field, `a name or template using only ${allowed.map((a) => `{${a}}`).join(" and ")}`, template);
  }
}

/**
 * The credentials option, or accessKeyId + secretAccessKey (+ sessionToken) from the URL; for
 * emulators on loopback endpoints (which check no signature) placeholder keys when the machine
 * has none, so the SDK's default chain does not ask a cloud metadata service a laptop or CI box
 * does not have. Undefined: the SDK's default chain.
 */
export function resolveAwsCredentials(merged: Record<string, unknown>, endpoints: Array<string | undefined>): KinesisCredentials | (() => Promise<KinesisCredentials>) | undefined {
  let credentials = merged.credentials as KinesisCredentials | (() => Promise<KinesisCredentials>) | undefined;
  if (credentials !== undefined && typeof credentials !== "function") {
    const c = credentials as Partial<KinesisCredentials> | null;
    if (typeof c?.accessKeyId !== "string" || typeof c.secretAccessKey !== "string") {
      throw invalidArgument("credentials", "{ accessKeyId, secretAccessKey, sessionToken? } or a function returning them", "an object without them");
    }
  }
  const accessKeyId = merged.accessKeyId as string | undefined;
  const secretAccessKey = merged.secretAccessKey as string | undefined;
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw invalidArgument(accessKeyId === undefined ? "accessKeyId" : "secretAccessKey", "accessKeyId and secretAccessKey together", "only one of them");
  }
  if (credentials === undefined && accessKeyId !== undefined && secretAccessKey !== undefined) {
    credentials = { accessKeyId, secretAccessKey, ...(merged.sessionToken === undefined ? {} : { sessionToken: merged.sessionToken as string }) };
  }
  if (credentials === undefined && onlyLoopback(endpoints) && !hasAmbientCredentials()) credentials = { accessKeyId: "brook-local", secretAccessKey: "brook-local" };
  return credentials;
}

export function onlyLoopback(endpoints: Array<string | undefined>): boolean {
  return endpoints.every((e) => e !== undefined && /^https?:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(\/|$)/i.test(e));
}

export function hasAmbientCredentials(): boolean {
  const env = process.env;
  return env.AWS_ACCESS_KEY_ID !== undefined || env.AWS_PROFILE !== undefined || env.AWS_WEB_IDENTITY_TOKEN_FILE !== undefined || env.AWS_CONTAINER_CREDENTIALS_FULL_URI !== undefined;
}

export function redact(url: string): string {
  return url.replace(/([?&](?:secretAccessKey|sessionToken)=)[^&#]*/gi, "$1***");
}
