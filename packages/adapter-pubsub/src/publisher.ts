import { BrookError, type PublishBatchResult, type PublisherOptions } from "@brook/core";
import {
  CorePublisher,
  IDEMPOTENCY_HEADER,
  invalidArgument,
  type BackendLimits,
  type PublishTransport,
  type WireMessage,
} from "@brook/core/spi";
import { PUBSUB_LIMITS, PUBSUB_PARTITION, pubsubLimits } from "./capabilities.js";
import { toPubSubError } from "./errors.js";

/** One message as the Publish RPC takes it (google.pubsub.v1.PubsubMessage). */
export interface PubsubMessageProto {
  data: Uint8Array;
  attributes?: Record<string, string>;
  orderingKey?: string;
}

/** The Publish RPC, as the broker hands it to a transport (one request, no client-side batching). */
export type PublishRpc = (topicPath: string, messages: PubsubMessageProto[]) => Promise<string[]>;

const encoder = new TextEncoder();

/** A publisher that also lets the caller resume an ordering key paused by a failed publish. */
export interface PubSubPublisher<T> extends CorePublisher<T> {
  /**
   * Publishing for `key` was stopped after a publish for it failed (later messages must not
   * overtake the failed one). Call this once the failure is handled to publish for it again.
   */
  resumeKey(key: string): void;
  /** Ordering keys currently refused because an earlier publish for them failed. */
  pausedKeys(): string[];
}

export class PubSubPublisherImpl<T> extends CorePublisher<T> implements PubSubPublisher<T> {
  constructor(
    private readonly pubsubTransport: PubSubPublishTransport,
    options: PublisherOptions<T>,
    onClose: () => void,
  ) {
    super(pubsubTransport, options, { onClose });
  }

  resumeKey(key: string): void {
    if (typeof key !== "string" || key.length === 0) throw invalidArgument("key", "a non-empty ordering key", key);
    this.pubsubTransport.resumeKey(key);
  }

  pausedKeys(): string[] {
    return this.pubsubTransport.pausedKeys();
  }
}

interface PausedKey {
  /** the failure that paused the key */
  error: BrookError;
  /** failed messages of this key that core may still retry; they alone may pass */
  retrying: Set<WireMessage>;
}

/**
 * Sends each batch core packs as Publish requests (1,000 messages / under 10 MB each), in
 * order, and returns one result per message. Pub/Sub publishes a request atomically, so every
 * message of a failed request fails with the same error.
 *
 * Ordering keys: once a publish for key K fails, K is paused. Core retries the failed messages
 * themselves (transient errors) and they alone may pass; if they all succeed K resumes. A later
 * message for K while K is paused fails with a non-retriable UNAVAILABLE that tells the caller
 * to call `resumeKey(K)`. (@google-cloud/pubsub 6.3.0 drops a failed key's queue and resumes by
 * itself, so a later message could overtake a failed one; Brook pauses instead.)
 */
export class PubSubPublishTransport implements PublishTransport {
  readonly limits: BackendLimits = pubsubLimits;
  readonly system = "gcp_pubsub";
  private readonly paused = new Map<string, PausedKey>();

  constructor(
    readonly topic: string,
    private readonly topicPath: string,
    private readonly publishRpc: PublishRpc,
  ) {}

  resumeKey(key: string): void {
    this.paused.delete(key);
  }

  pausedKeys(): string[] {
    return [...this.paused.keys()];
  }

  async send(messages: WireMessage[]): Promise<PublishBatchResult[]> {
    const results: PublishBatchResult[] = new Array(messages.length);
    const ready: Array<{ index: number; proto: PubsubMessageProto; size: number }> = [];
    for (let i = 0; i < messages.length; i++) {
      const wire = messages[i]!;
      const refused = this.refusal(wire);
      if (refused !== undefined) {
        results[i] = { ok: false, error: refused };
        continue;
      }
      try {
        const proto = toPubsubMessage(wire);
        ready.push({ index: i, proto, size: requestBytes(proto) });
      } catch (err) {
        results[i] = { ok: false, error: err as BrookError };
      }
    }
    // Requests go out one after another so messages of one key keep their order.
    let start = 0;
    while (start < ready.length) {
      let end = start;
      let bytes = 0;
      while (end < ready.length && end - start < PUBSUB_LIMITS.maxBatchCount) {
        const size = ready[end]!.size;
        if (end > start && bytes + size > PUBSUB_LIMITS.maxRequestBytes) break;
        bytes += size;
        end += 1;
      }
      const chunk = ready.slice(start, end);
      start = end;
      // A key that failed earlier in this call stays behind its failed message.
      const sendable = chunk.filter((entry) => {
        const refused = this.refusal(messages[entry.index]!, true);
        if (refused !== undefined) results[entry.index] = { ok: false, error: refused };
        return refused === undefined;
      });
      if (sendable.length === 0) continue;
      try {
        const ids = await this.publishRpc(
          this.topicPath,
          sendable.map((e) => e.proto),
        );
        if (ids.length !== sendable.length) {
          throw new BrookError("INTERNAL", `Pub/Sub returned ${ids.length} message ids for ${sendable.length} messages`);
        }
        sendable.forEach((entry, j) => {
          const wire = messages[entry.index]!;
          results[entry.index] = { ok: true, position: { partition: PUBSUB_PARTITION, offset: ids[j]! }, duplicate: false };
          this.succeeded(wire);
        });
      } catch (err) {
        const error = toPubSubError(err, `publish to topic "${this.topic}"`);
        for (const entry of sendable) {
          results[entry.index] = { ok: false, error };
          this.failed(messages[entry.index]!, error);
        }
      }
    }
    return results;
  }

  /**
   * Why `wire` may not be sent now, if it may not. A paused key lets through only the messages
   * whose failure paused it (core's retries); `sameCall` also holds back later messages of a key
   * that failed earlier in this call, with that failure's error, so core retries them in order.
   */
  private refusal(wire: WireMessage, sameCall = false): BrookError | undefined {
    if (wire.key === undefined) return undefined;
    const pause = this.paused.get(wire.key);
    if (pause === undefined || pause.retrying.has(wire)) return undefined;
    if (sameCall) {
      pause.retrying.add(wire);
      return pause.error;
    }
    return new BrookError(
      "UNAVAILABLE",
      `publish to topic "${this.topic}" with ordering key "${wire.key}" refused: an earlier publish for this key failed ` +
        `(${pause.error.message}), and later messages must not overtake it. Call publisher.resumeKey(${JSON.stringify(wire.key)}) to publish for this key again.`,
      { retriable: false, cause: pause.error },
    );
  }

  private failed(wire: WireMessage, error: BrookError): void {
    if (wire.key === undefined) return;
    let pause = this.paused.get(wire.key);
    if (pause === undefined) this.paused.set(wire.key, (pause = { error, retrying: new Set() }));
    else pause.error = error;
    pause.retrying.add(wire);
  }

  private succeeded(wire: WireMessage): void {
    if (wire.key === undefined) return;
    const pause = this.paused.get(wire.key);
    if (pause === undefined) return;
    pause.retrying.delete(wire);
    if (pause.retrying.size === 0) this.paused.delete(wire.key);
  }
}

/**
 * WireMessage → PubsubMessage: headers become attributes, the idempotency key the attribute
 * `brook-idempotency-key`, the key the ordering key. Checks Pub/Sub's attribute and key limits,
 * which the emulator does not enforce.
 */
export function toPubsubMessage(wire: WireMessage): PubsubMessageProto {
  const attributes: Record<string, string> = { ...wire.headers };
  if (wire.idempotencyKey !== undefined) attributes[IDEMPOTENCY_HEADER] = wire.idempotencyKey;
  let count = 0;
  for (const name in attributes) {
    count += 1;
    if (name.startsWith("goog")) {
      throw invalidArgument(`headers["${name}"]`, 'a name that does not start with "goog" (reserved by Pub/Sub)', name);
    }
    const nameBytes = byteLength(name);
    if (nameBytes > PUBSUB_LIMITS.maxAttributeKeyBytes) {
      throw invalidArgument(`headers["${name.slice(0, 40)}…"]`, `a name of at most ${PUBSUB_LIMITS.maxAttributeKeyBytes} bytes`, `${nameBytes} bytes`);
    }
    const valueBytes = byteLength(attributes[name]!);
    if (valueBytes > PUBSUB_LIMITS.maxAttributeValueBytes) {
      const field = name === IDEMPOTENCY_HEADER ? "idempotencyKey" : `headers["${name}"]`;
      throw invalidArgument(field, `a value of at most ${PUBSUB_LIMITS.maxAttributeValueBytes} bytes`, `${valueBytes} bytes`);
    }
  }
  if (count > PUBSUB_LIMITS.maxAttributes) {
    throw invalidArgument(
      "headers",
      `at most ${PUBSUB_LIMITS.maxAttributes} headers (Pub/Sub attributes, brook-idempotency-key and traceparent included)`,
      `${count} headers`,
    );
  }
  const proto: PubsubMessageProto = { data: wire.value };
  if (count > 0) proto.attributes = attributes;
  if (wire.key !== undefined) {
    const keyBytes = byteLength(wire.key);
    if (keyBytes > PUBSUB_LIMITS.maxOrderingKeyBytes) {
      throw invalidArgument("key", `an ordering key of at most ${PUBSUB_LIMITS.maxOrderingKeyBytes} bytes`, `${keyBytes} bytes`);
    }
    proto.orderingKey = wire.key;
  }
  return proto;
}

/** An upper bound of the message's share of a Publish request (protobuf framing included). */
function requestBytes(proto: PubsubMessageProto): number {
  let size = proto.data.byteLength + 16;
  if (proto.orderingKey !== undefined) size += byteLength(proto.orderingKey) + 8;
  if (proto.attributes !== undefined) {
    for (const name in proto.attributes) size += byteLength(name) + byteLength(proto.attributes[name]!) + 16;
  }
  return size;
}

function byteLength(text: string): number {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return encoder.encode(text).byteLength;
  return text.length;
}
