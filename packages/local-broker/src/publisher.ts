import type { PublishBatchResult } from "@brook/core";
import type { BackendLimits, PublishTransport, WireMessage } from "@brook/core/spi";
import type { EngineApi } from "./engine-api.js";

/** Sends encoded batches to the log engine (in-process or over the wire). */
export class LocalPublishTransport implements PublishTransport {
  constructor(
    readonly topic: string,
    private readonly api: EngineApi,
    readonly limits: BackendLimits,
  ) {}

  send(messages: WireMessage[]): Promise<PublishBatchResult[]> {
    return this.api.append(this.topic, messages);
  }
}
