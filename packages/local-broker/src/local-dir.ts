import { BrookError, type Logger } from "@brook/core";
import type { LocalBroker } from "./broker.js";
import type { EngineOptions } from "./engine.js";
import type { LocalBrokerOptions } from "./options.js";

/** `local:./dir`: the durable file store. Wired in by the storage engine work. */
export async function openLocalEngine(
  url: string,
  _dir: string,
  _options: LocalBrokerOptions,
  _engineOptions: EngineOptions,
  _logger: Logger | undefined,
): Promise<LocalBroker> {
  throw new BrookError("UNSUPPORTED", `url "${url}": the durable local: store is not available yet; use memory:`);
}
