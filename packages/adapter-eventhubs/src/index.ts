import { defaultLogger, type ConnectOptions, type Logger } from "@brook/core";
import { registerBackend } from "@brook/core/spi";
import { EventHubsBroker } from "./broker.js";
import { openCheckpointStore } from "./checkpoints.js";
import { parseEventHubsUrl, resolveEventHubsOptions } from "./options.js";
import type { EventHubsBrokerOptions } from "./options.js";

export { EventHubsBroker } from "./broker.js";
export type { EventHubsPublisherOptions } from "./broker.js";
export { EventHubsAdmin, checkHubName } from "./admin.js";
export type { EventHubsHubManager } from "./admin.js";
export { EventHubsPublishTransport } from "./publisher.js";
export { EventHubsSubscriptionSource, startPositionsFor, toSourceRecord } from "./subscriber.js";
export type { EventHubsSourceOptions } from "./subscriber.js";
export { CheckpointFenced, FencedBlobCheckpointStore, MemoryCheckpointStore, SubscriptionCheckpointStore, openCheckpointStore } from "./checkpoints.js";
export { eventHubsCapabilities, eventHubsLimits, EVENT_OVERHEAD_BYTES } from "./capabilities.js";
export { eventHubsErrorCode, toEventHubsBrookError } from "./errors.js";
export { parseConnectionString, parseEventHubsUrl, resolveEventHubsOptions } from "./options.js";
export type { EventHubsBrokerOptions, NamedKeyCredential, ResolvedEventHubsOptions, SASCredential } from "./options.js";

/**
 * Opens `eventhubs://<namespace host>[/<hub>]?…`, `eventhubs://?connectionString=…` or a bare
 * `Endpoint=sb://…` connection string; typed options (EventHubsBrokerOptions) win over the URL.
 */
export async function connectEventHubs(url: string, options: ConnectOptions = {}): Promise<EventHubsBroker> {
  const opts = resolveEventHubsOptions(parseEventHubsUrl(url), options);
  const logger = (options.logger as Logger | undefined) ?? defaultLogger;
  const store = await openCheckpointStore(opts);
  const broker = new EventHubsBroker(url, opts, store, logger);
  if (opts.hub !== undefined) {
    // A broker bound to one hub checks it (and the credentials) now.
    try {
      await broker.admin.describeTopic(opts.hub);
    } catch (err) {
      await broker.close().catch(() => undefined);
      throw err;
    }
  }
  return broker;
}

registerBackend("eventhubs", connectEventHubs);

declare module "@brook/core" {
  interface ConnectOptionsByScheme {
    eventhubs: EventHubsBrokerOptions;
  }
  interface BrokersByScheme {
    eventhubs: EventHubsBroker;
  }
}
