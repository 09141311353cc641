import type { Capabilities, Logger } from "@brook/core";
import { BrokerSkeleton, type ResolvedSubscribeOptions } from "@brook/core/spi";
import { LocalAdmin } from "./admin.js";
import { localCapabilities } from "./capabilities.js";
import type { EngineApi } from "./engine-api.js";
import { LocalPublishTransport } from "./publisher.js";
import { LocalSubscriptionSource } from "./subscriber.js";

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
