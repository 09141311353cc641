import { metricsActive, meterSubscription, timeHandler } from "./metrics.js";
import { BrookError, abortable, abortedError, toBrookError } from "./errors.js";
import { bytesCodec } from "./codec.js";
import { defaultLogger, type Logger } from "./logger.js";
import { BOUNDS } from "./bounds.js";
import { CorePublisher, validateTopicName } from "./publisher.js";
import { ManagedSubscription, type SubscriptionInit } from "./subscription/managed-subscription.js";
import { resolveSubscribeOptions, type ResolvedSubscribeOptions } from "./subscription/options.js";
import { MessageStream } from "./subscription/message-stream.js";
import type { Admin, Broker, Capabilities, ConsumeOptions, Publisher, PublisherOptions, SubscribeOptions, Subscription, WaitOptions } from "./contract.js";
import type { PublishTransport, SubscriptionSource } from "./spi.js";

/** Builds the publisher object for a transport; adapters with publisher extras pass their own. */
export type PublisherBuilder<T, Tr extends PublishTransport, P extends Publisher<T>> = (
  transport: Tr,
  options: PublisherOptions<T>,
  onClose: () => void,
) => P;

/** Builds the subscription object; adapters with subscription extras pass a subclass. */
export type SubscriptionBuilder<T, Src extends SubscriptionSource, S extends ManagedSubscription<T, Src>> = (init: SubscriptionInit<T, Src>) => S;

/**
 * The broker every adapter extends. It owns publisher(), subscribe() and close(): topic-name
 * and option validation (once, at the public boundary), the topic-exists check and
 * createIfMissing, the dead-letter topic check and its publisher, the CLOSED state, and the
 * bookkeeping that lets close() drain every subscription and flush every publisher it opened.
 * An adapter supplies only what differs: `openTransport`, `openSource`, `closeConnection`, its
 * Admin, its Capabilities, and (by overriding publisher()/subscribe() with a builder) typed
 * extras on the objects it returns.
 */
export abstract class BrokerSkeleton<
  A extends Admin = Admin,
  Tr extends PublishTransport = PublishTransport,
  Src extends SubscriptionSource = SubscriptionSource,
> implements Broker {
  abstract readonly capabilities: Capabilities;
  /** OpenTelemetry `messaging.system` (semantic conventions): "kafka", "gcp_pubsub", … */
  protected readonly messagingSystem: string = "brook";
  private readonly publishers = new Set<Publisher<unknown>>();
  private readonly subscriptions = new Set<Subscription>();
  private closed = false;
  private closing: Promise<void> | undefined;

  protected constructor(
    readonly url: string,
    readonly admin: A,
    protected readonly logger: Logger = defaultLogger,
  ) {}

  /** The transport that sends a publisher's batches to `topic`. */
  protected abstract openTransport(topic: string): Tr;
  /** The source of a subscription, once its options are valid and the topic exists. */
  protected abstract openSource<T>(topic: string, options: ResolvedSubscribeOptions<T>): Promise<Src>;
  /** Closes the backend connection, after every publisher and subscription is closed. */
  protected abstract closeConnection(): Promise<void>;
  /** The backend's own topic-name rules, on top of Brook's (override to add them). */
  protected checkTopicName(topic: string, field = "topic"): void {
    validateTopicName(topic, field);
  }

  publisher<T = unknown>(topic: string, options: PublisherOptions<T> = {}): Publisher<T> {
    return this.buildPublisher(topic, options, (transport, opts, onClose) => new CorePublisher<T>(transport, opts, { onClose }));
  }

  subscribe<T = unknown>(topic: string, options: SubscribeOptions<T>): Promise<Subscription> {
    return this.buildSubscription<T, ManagedSubscription<T, Src>>(topic, options, (init) => new ManagedSubscription<T, Src>(init));
  }

  consume<T = unknown>(topic: string, options: ConsumeOptions<T>): MessageStream<T> {
    this.ensureOpen();
    return new MessageStream<T>((opts) => this.subscribe<T>(topic, opts), options);
  }

  /**
   * Every call resolves when the broker is closed: a second close() (a SIGTERM handler beside
   * the main flow's own) waits for the first instead of letting the process exit under it.
   */
  close(options?: WaitOptions): Promise<void> {
    if (this.closing === undefined) {
      this.closed = true;
      this.closing = this.closeOnce(options);
    }
    return this.closing;
  }

  private async closeOnce(options?: WaitOptions): Promise<void> {
    const signal = options?.signal;
    // The signal cuts the drain short (in-flight work is redelivered later); the connection is
    // still closed, so nothing is left open.
    await Promise.allSettled([...this.subscriptions].map((s) => s.close({ drain: true, timeoutMs: BOUNDS.brokerCloseDrainMs, ...(signal === undefined ? {} : { signal }) })));
    await Promise.allSettled([...this.publishers].map((p) => p.close(signal === undefined ? {} : { signal })));
    await this.closeConnection();
  }

  /** `await using broker = await connect(…)` closes it at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  protected ensureOpen(): void {
    if (this.closed) throw new BrookError("CLOSED", `broker ${this.url} is closed`);
  }

  protected buildPublisher<T, P extends Publisher<T>>(topic: string, options: PublisherOptions<T>, build: PublisherBuilder<T, Tr, P>): P {
    this.ensureOpen();
    this.checkTopicName(topic);
    let publisher: P | undefined;
    const onClose = (): void => {
      if (publisher !== undefined) this.publishers.delete(publisher as Publisher<unknown>);
    };
    publisher = build(this.openTransport(topic), options, onClose);
    this.publishers.add(publisher as Publisher<unknown>);
    return publisher;
  }

  protected async buildSubscription<T, S extends ManagedSubscription<T, Src>>(
    topic: string,
    options: SubscribeOptions<T>,
    build: SubscriptionBuilder<T, Src, S>,
  ): Promise<S> {
    this.ensureOpen();
    this.checkTopicName(topic);
    const resolved = resolveSubscribeOptions(options, this.capabilities);
    if (metricsActive()) {
      const mode = resolved.handler;
      resolved.handler =
        mode.kind === "message"
          ? { kind: "message", handler: timeHandler(this.messagingSystem, topic, resolved.group, mode.handler) }
          : { ...mode, handler: timeHandler(this.messagingSystem, topic, resolved.group, mode.handler) };
    }
    if (options.signal?.aborted === true) throw abortedError(options.signal, `subscribe to topic "${topic}"`);
    if (resolved.deadLetter.kind === "topic") this.checkTopicName(resolved.deadLetter.topic, "deadLetter.topic");
    await this.ensureTopic(topic, "topic", resolved.createIfMissing);
    // A dead-letter topic that does not exist would leave the first poison message in flight
    // for ever (its publish fails and the message is never settled): refuse it now.
    if (resolved.deadLetter.kind === "topic") await this.ensureTopic(resolved.deadLetter.topic, "deadLetter.topic", resolved.createIfMissing);
    this.ensureOpen();
    const source = await this.openSource<T>(topic, resolved);
    let detach = (): void => undefined;
    const subscription = build({
      topic,
      source,
      options: resolved,
      logger: this.logger,
      openDeadLetterPublisher: (dlq) => this.publisher<Uint8Array>(dlq, { codec: bytesCodec() }),
      system: this.messagingSystem,
      onClosed: () => {
        this.subscriptions.delete(subscription);
        detach();
        unmeter();
      },
    });
    const unmeter = meterSubscription(subscription, this.messagingSystem, topic, resolved.group);
    this.subscriptions.add(subscription);
    const signal = options.signal;
    if (signal === undefined) {
      await subscription.start();
      return subscription;
    }
    const closeOnAbort = (): void => void subscription.close().catch(() => undefined);
    try {
      await abortable(subscription.start(), signal, `subscribe to topic "${topic}" (group "${resolved.group}")`);
    } catch (err) {
      closeOnAbort();
      throw err;
    }
    if (signal.aborted) closeOnAbort();
    else {
      signal.addEventListener("abort", closeOnAbort, { once: true });
      detach = () => signal.removeEventListener("abort", closeOnAbort);
    }
    return subscription;
  }

  /** Fails with TOPIC_NOT_FOUND for a missing topic, or creates it with createIfMissing. */
  private async ensureTopic(topic: string, field: string, createIfMissing: boolean): Promise<void> {
    let exists: boolean;
    try {
      exists = await this.admin.topicExists(topic);
    } catch (err) {
      throw toBrookError(err, "UNAVAILABLE");
    }
    if (exists) return;
    if (!createIfMissing) {
      const what = field === "topic" ? `topic "${topic}"` : `${field}: topic "${topic}"`;
      throw new BrookError("TOPIC_NOT_FOUND", `${what} does not exist (pass createIfMissing: true to create it)`);
    }
    await this.admin.createTopic(topic, { ifNotExists: true });
  }
}
