import { BrookError } from "@brook/core";
import { invalidArgument, parseUrlParameters, urlParameterNames, type UrlParameterSpec } from "@brook/core/spi";
import type { CheckpointStore, TokenCredential } from "@azure/event-hubs";
import type { EventHubsHubManager } from "./admin.js";

/** A shared access key by name (the shape of @azure/core-auth's AzureNamedKeyCredential). */
export interface NamedKeyCredential {
  readonly name: string;
  readonly key: string;
}
/** A shared access signature (the shape of @azure/core-auth's AzureSASCredential). */
export interface SASCredential {
  readonly signature: string;
}

/**
 * Options of `eventhubs://<namespace host>[/<hub>]?…`, of `eventhubs://?connectionString=…` and
 * of a bare `Endpoint=sb://…` connection string. Every URL parameter has the typed option of the
 * same name; typed options passed to connect() win over the URL.
 */
export interface EventHubsBrokerOptions {
  /** `Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…[;EntityPath=<hub>]` */
  connectionString?: string;
  /** the namespace host, e.g. "myns.servicebus.windows.net" (the URL's host) */
  fullyQualifiedNamespace?: string;
  /**
   * Binds the broker to one event hub (the URL's path, or the connection string's EntityPath):
   * other topic names are refused. Without it, a topic name is an event hub of the namespace.
   */
  hub?: string;
  /** shared access key name and key (instead of a connection string) */
  sharedAccessKeyName?: string;
  sharedAccessKey?: string;
  /** an Azure credential (e.g. from @azure/identity); typed option only */
  credential?: TokenCredential | NamedKeyCredential | SASCredential;
  /** plain AMQP without TLS, for a local emulator or test server (`UseDevelopmentEmulator=true`) */
  useDevelopmentEmulator?: boolean;
  /**
   * Where consumer groups keep checkpoints and partition ownership: "blob" (Azure Blob Storage,
   * with blobConnectionString and container), "memory" (this process only: no balancing across
   * processes, nothing survives a restart), or any @azure/event-hubs CheckpointStore (typed).
   * Needed to subscribe; publishing works without it.
   */
  checkpointStore?: "blob" | "memory" | CheckpointStore;
  blobConnectionString?: string;
  /** blob container of the checkpoints (created when missing) */
  container?: string;
  /** management plane for admin.createTopic / deleteTopic / listTopics (typed option only) */
  hubManager?: EventHubsHubManager;
  /** "greedy" (default): a member claims its share at once; "balanced": one partition per round */
  loadBalancing?: "greedy" | "balanced";
  /** how often a member renews and balances ownership (default 10000) */
  updateIntervalMs?: number;
  /** an owner that has not renewed for this long loses its partitions (default 60000) */
  ownershipExpirationMs?: number;
  /** longest a receive waits before handing an empty batch (default 1000) */
  maxWaitTimeMs?: number;
  /** events per receive (default 300) */
  receiveBatchSize?: number;
  /** how often an owned partition's last enqueued sequence number is read for lag (default 5000) */
  partitionPropertiesIntervalMs?: number;
  /** SDK retries of a failed operation before Brook sees the error (default 3) */
  maxRetries?: number;
  /** SDK per-try timeout (default 60000) */
  operationTimeoutMs?: number;
  /** largest event or batch in bytes (default 1048576, the Standard tier; Premium allows more) */
  maxMessageBytes?: number;
  /**
   * "exact" (default): each publish result carries the event's sequence number, read from the
   * partition after each batch (one management call per batch). "none": no reads, results carry
   * the partition and an empty offset; publishing runs at the raw SDK's speed.
   */
  publishPositions?: "exact" | "none";
}

export interface ResolvedEventHubsOptions {
  /** connection string of the namespace (EntityPath removed), when one is used */
  connectionString: string | undefined;
  fullyQualifiedNamespace: string;
  credential: TokenCredential | NamedKeyCredential | SASCredential | undefined;
  hub: string | undefined;
  checkpointStore: "blob" | "memory" | CheckpointStore | undefined;
  blobConnectionString: string | undefined;
  container: string | undefined;
  hubManager: EventHubsHubManager | undefined;
  loadBalancing: "greedy" | "balanced";
  updateIntervalMs: number;
  ownershipExpirationMs: number;
  maxWaitTimeMs: number;
  receiveBatchSize: number;
  partitionPropertiesIntervalMs: number;
  maxRetries: number;
  operationTimeoutMs: number;
  maxMessageBytes: number;
  publishPositions: "exact" | "none";
}

const NUMERIC = [
  "updateIntervalMs",
  "ownershipExpirationMs",
  "maxWaitTimeMs",
  "receiveBatchSize",
  "partitionPropertiesIntervalMs",
  "operationTimeoutMs",
  "maxMessageBytes",
] as const;
const STRING = ["connectionString", "sharedAccessKeyName", "sharedAccessKey", "blobConnectionString", "container", "hub"] as const;
const SECRET = new Set(["connectionString", "sharedAccessKey", "blobConnectionString"]);
const URL_PARAMETERS: UrlParameterSpec = {
  strings: STRING,
  booleans: ["useDevelopmentEmulator"],
  positive: NUMERIC,
  nonNegative: ["maxRetries"],
  choices: { checkpointStore: ["blob", "memory"], loadBalancing: ["greedy", "balanced"], publishPositions: ["exact", "none"] },
  secrets: ["connectionString", "sharedAccessKey", "blobConnectionString"],
};
const KNOWN = urlParameterNames(URL_PARAMETERS);

/**
 * Parses `eventhubs://ns.servicebus.windows.net/hub?…`, `eventhubs://?connectionString=<url-encoded>`
 * or a bare `Endpoint=sb://…` connection string.
 */
export function parseEventHubsUrl(url: string): EventHubsBrokerOptions {
  if (/^Endpoint=sb:\/\//i.test(url)) return { connectionString: url };
  const match = /^eventhubs:\/\/([^/?#]*)(?:\/([^?#]*))?(?:\?([^#]*))?$/i.exec(url);
  if (match === null) {
    throw new BrookError("INVALID_URL", `url "${redact(url)}": expected eventhubs://<namespace host>[/<hub>][?parameters], eventhubs://?connectionString=… or Endpoint=sb://…`);
  }
  const options: EventHubsBrokerOptions = {};
  const host = decodeURIComponent(match[1] ?? "");
  if (host !== "") options.fullyQualifiedNamespace = host;
  const path = decodeURIComponent(match[2] ?? "").replace(/\/+$/, "");
  if (path !== "") {
    if (path.includes("/")) throw new BrookError("INVALID_URL", `url "${redact(url)}": the path names one event hub, got "${path}"`);
    options.hub = path;
  }
  Object.assign(options, parseUrlParameters(match[3] ?? "", URL_PARAMETERS, redact(url)));
  if (options.connectionString === undefined && options.fullyQualifiedNamespace === undefined) {
    throw new BrookError("INVALID_URL", `url "${redact(url)}": name the namespace host (eventhubs://myns.servicebus.windows.net/…) or pass connectionString`);
  }
  return options;
}

/** The parts of an Event Hubs connection string (keys are case-insensitive). */
export function parseConnectionString(cs: string): Map<string, string> {
  const parts = new Map<string, string>();
  for (const part of cs.split(";")) {
    const i = part.indexOf("=");
    if (i <= 0) continue;
    parts.set(part.slice(0, i).trim().toLowerCase(), part.slice(i + 1).trim());
  }
  return parts;
}

/** Merges typed options over the URL's, checks them and fills the defaults. */
export function resolveEventHubsOptions(fromUrl: EventHubsBrokerOptions, given: Record<string, unknown>): ResolvedEventHubsOptions {
  const merged: Record<string, unknown> = { ...fromUrl };
  for (const [name, value] of Object.entries(given)) {
    if (value === undefined || name === "logger") continue;
    merged[name] = value;
  }
  for (const name of STRING) {
    const v = merged[name];
    if (v !== undefined && (typeof v !== "string" || v.length === 0)) throw invalidArgument(name, "a non-empty string", SECRET.has(name) ? "(hidden)" : v);
  }
  for (const name of NUMERIC) {
    const v = merged[name];
    if (v !== undefined && (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0)) throw invalidArgument(name, "a positive integer", v);
  }
  if (merged.maxRetries !== undefined && (typeof merged.maxRetries !== "number" || !Number.isSafeInteger(merged.maxRetries) || merged.maxRetries < 0)) {
    throw invalidArgument("maxRetries", "an integer >= 0", merged.maxRetries);
  }
  const store = merged.checkpointStore;
  if (store !== undefined && store !== "blob" && store !== "memory" && !isCheckpointStore(store)) {
    throw invalidArgument("checkpointStore", '"blob", "memory" or a CheckpointStore (listOwnership, claimOwnership, listCheckpoints, updateCheckpoint)', store);
  }
  if (store === "blob" && (merged.blobConnectionString === undefined || merged.container === undefined)) {
    throw invalidArgument("checkpointStore", 'blobConnectionString and container alongside checkpointStore "blob"', store);
  }
  if (merged.loadBalancing !== undefined && merged.loadBalancing !== "greedy" && merged.loadBalancing !== "balanced") {
    throw invalidArgument("loadBalancing", "greedy or balanced", merged.loadBalancing);
  }
  if (merged.publishPositions !== undefined && merged.publishPositions !== "exact" && merged.publishPositions !== "none") {
    throw invalidArgument("publishPositions", "exact or none", merged.publishPositions);
  }
  const manager = merged.hubManager as EventHubsHubManager | undefined;
  if (manager !== undefined && (typeof manager !== "object" || typeof manager.createHub !== "function" || typeof manager.deleteHub !== "function" || typeof manager.listHubs !== "function")) {
    throw invalidArgument("hubManager", "an EventHubsHubManager (createHub, deleteHub, listHubs)", manager);
  }

  let connectionString: string | undefined;
  let namespace = merged.fullyQualifiedNamespace as string | undefined;
  let hub = merged.hub as string | undefined;
  if (merged.connectionString !== undefined) {
    const parts = parseConnectionString(merged.connectionString as string);
    const endpoint = parts.get("endpoint");
    const host = endpoint === undefined ? undefined : /^sb:\/\/([^/]+)\/?$/i.exec(endpoint)?.[1];
    if (host === undefined) throw invalidArgument("connectionString", "Endpoint=sb://<namespace host>/;SharedAccessKeyName=…;SharedAccessKey=…", "(hidden)");
    namespace ??= host.replace(/:\d+$/, "");
    const entityPath = parts.get("entitypath");
    if (entityPath !== undefined) {
      if (hub !== undefined && hub !== entityPath) throw invalidArgument("hub", `the connection string's EntityPath "${entityPath}"`, hub);
      hub = entityPath;
    }
    // The hub is named per client; a namespace-wide connection string serves every hub.
    connectionString = (merged.connectionString as string).split(";").filter((p) => !/^\s*EntityPath=/i.test(p)).join(";");
    if (merged.useDevelopmentEmulator === true && parts.get("usedevelopmentemulator") === undefined) connectionString += ";UseDevelopmentEmulator=true";
  } else if (merged.sharedAccessKeyName !== undefined || merged.sharedAccessKey !== undefined) {
    if (merged.sharedAccessKeyName === undefined || merged.sharedAccessKey === undefined) {
      throw invalidArgument("sharedAccessKeyName", "sharedAccessKeyName and sharedAccessKey together", merged.sharedAccessKeyName);
    }
    connectionString = `Endpoint=sb://${namespace}/;SharedAccessKeyName=${merged.sharedAccessKeyName as string};SharedAccessKey=${merged.sharedAccessKey as string}`;
    if (merged.useDevelopmentEmulator === true) connectionString += ";UseDevelopmentEmulator=true";
  } else if (merged.credential === undefined) {
    throw invalidArgument("connectionString", "a connection string, sharedAccessKeyName + sharedAccessKey, or a credential", undefined);
  }
  if (namespace === undefined) throw invalidArgument("fullyQualifiedNamespace", "the namespace host", undefined);
  const num = (name: (typeof NUMERIC)[number], fallback: number): number => (merged[name] as number | undefined) ?? fallback;
  const resolved: ResolvedEventHubsOptions = {
    connectionString,
    fullyQualifiedNamespace: namespace,
    credential: connectionString === undefined ? (merged.credential as ResolvedEventHubsOptions["credential"]) : undefined,
    hub,
    checkpointStore: store as ResolvedEventHubsOptions["checkpointStore"],
    blobConnectionString: merged.blobConnectionString as string | undefined,
    container: merged.container as string | undefined,
    hubManager: manager,
    loadBalancing: (merged.loadBalancing as "greedy" | "balanced" | undefined) ?? "greedy",
    updateIntervalMs: num("updateIntervalMs", 10_000),
    ownershipExpirationMs: num("ownershipExpirationMs", 60_000),
    maxWaitTimeMs: num("maxWaitTimeMs", 1_000),
    receiveBatchSize: num("receiveBatchSize", 300),
    partitionPropertiesIntervalMs: num("partitionPropertiesIntervalMs", 5_000),
    maxRetries: (merged.maxRetries as number | undefined) ?? 3,
    operationTimeoutMs: num("operationTimeoutMs", 60_000),
    maxMessageBytes: num("maxMessageBytes", 1_048_576),
    publishPositions: (merged.publishPositions as "exact" | "none" | undefined) ?? "exact",
  };
  if (resolved.updateIntervalMs >= resolved.ownershipExpirationMs) {
    throw invalidArgument("updateIntervalMs", `less than ownershipExpirationMs (${resolved.ownershipExpirationMs})`, resolved.updateIntervalMs);
  }
  return resolved;
}

function isCheckpointStore(value: unknown): value is CheckpointStore {
  if (typeof value !== "object" || value === null) return false;
  const s = value as Record<string, unknown>;
  return ["listOwnership", "claimOwnership", "listCheckpoints", "updateCheckpoint"].every((m) => typeof s[m] === "function");
}

export function redact(url: string): string {
  return url
    .replace(/((?:connectionString|sharedAccessKey|blobConnectionString)=)[^&#]*/gi, "$1***")
    .replace(/(SharedAccessKey=)[^;&]*/gi, "$1***")
    .replace(/(AccountKey=)[^;&]*/gi, "$1***");
}
