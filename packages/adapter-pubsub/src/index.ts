import { toLogger, type ConnectOptions, type Logger } from "@brook/core";
import { registerBackend } from "@brook/core/spi";
import { PubSubBroker } from "./broker.js";
import { mergeOptions, parsePubSubUrl } from "./options.js";
import type { PubSubBrokerOptions } from "./options.js";

export { PubSubBroker } from "./broker.js";
export type { PubSubSubscription } from "./broker.js";
export { PubSubAdmin } from "./admin.js";
export { PubSubPublishTransport, toPubsubMessage } from "./publisher.js";
export type { PubSubPublisher, PubsubMessageProto, PublishRpc } from "./publisher.js";
export { PubSubSubscriptionSource } from "./subscriber.js";
export { PUBSUB_LIMITS, PUBSUB_PARTITION, pubsubCapabilities } from "./capabilities.js";
export { GrpcStatus, toPubSubError } from "./errors.js";
export { formatPubSubUrl, mergeOptions, parsePubSubUrl } from "./options.js";
export type { PubSubBrokerOptions } from "./options.js";

/** Opens `pubsub://<project-id>?emulatorHost=…`; typed options override the URL's parameters. */
export async function connectPubSub(url: string, options: ConnectOptions = {}): Promise<PubSubBroker> {
  const merged = mergeOptions(parsePubSubUrl(url), options);
  return new PubSubBroker(url, merged, toLogger(options.logger));
}

registerBackend("pubsub", connectPubSub);

declare module "@brook/core" {
  interface ConnectOptionsByScheme {
    pubsub: Partial<PubSubBrokerOptions>;
  }
  interface BrokersByScheme {
    pubsub: PubSubBroker;
  }
}
