import type { Capabilities, Logger } from "@brook/core";
import { BrokerSkeleton, type ResolvedSubscribeOptions } from "@brook/core/spi";
import { LocalAdmin } from "./admin.js";
import { localCapabilities } from "./capabilities.js";
import type { EngineApi } from "./engine-api.js";
import { LocalPublishTransport } from "./publisher.js";
import { LocalSubscriptionSource } from "./subscriber.js";

/** The engine API under each LocalBroker, for engineApiOf. */
const engineApis = new WeakMap<LocalBroker, EngineApi>();

/**
 * The engine API a LocalBroker runs on (the in-process LogEngine, or a RemoteEngineApi for
 * brook://), for tools that need more than the contract: the CLI's `groups` commands and its
 * group-less `tail`. Exported from `@brook/local-broker/engine`; the broker still owns it.
 */
export function engineApiOf(broker: LocalBroker): EngineApi {
  const api = engineApis.get(broker);
  if (api === undefined) throw new TypeError("engineApiOf: not a LocalBroker");
  return api;
}

/**
 * A Brook broker over the local log engine: `memory:`, `local:./dir` (in-process) and
 * `brook://host:port` (a `brook serve` process) all use this class with a different EngineApi.
 */
export class LocalBroker extends BrokerSkeleton<LocalAdmin, LocalPublishTransport, LocalSubscriptionSource> {
  readonly capabilities: Capabilities;

  constructor(
    url: string,
    private readonly api: EngineApi,
    logger?: Logger,
    /** runs after the engine API is closed (shared engines are reference counted) */
    private readonly onClose: () => Promise<void> = async () => undefined,
  ) {
    super(url, new LocalAdmin(api), logger);
    this.admin.attach(this);
    this.capabilities = localCapabilities(api.maxMessageBytes);
    engineApis.set(this, api);
  }

  protected openTransport(topic: string): LocalPublishTransport {
    const { maxMessageBytes, maxBatchCount, maxBatchBytes } = this.capabilities;
    return new LocalPublishTransport(topic, this.api, { maxMessageBytes, maxBatchCount, maxBatchBytes });
  }

  protected async openSource<T>(topic: string, options: ResolvedSubscribeOptions<T>): Promise<LocalSubscriptionSource> {
    return new LocalSubscriptionSource(this.api, topic, options.group, { startFrom: options.startFrom, onOutOfRange: options.onOutOfRange });
  }

  protected async closeConnection(): Promise<void> {
    await this.api.close();
    await this.onClose();
  }
}
