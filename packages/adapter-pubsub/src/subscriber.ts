import { BrookError, type SeekTarget } from "@brook/core";
import { IDEMPOTENCY_HEADER, type AckSource, type DeliverySink, type SourceRecord } from "@brook/core/spi";
import { Duration, type Message, type PubSub, type Subscription as PubSubClientSubscription, type SubscriptionOptions } from "@google-cloud/pubsub";
import { PUBSUB_PARTITION } from "./capabilities.js";
import { GrpcStatus, grpcCodeOf, toPubSubError } from "./errors.js";

const REOPEN_MIN_MS = 1_000;
const CLOSE_FLUSH_TIMEOUT_MS = 5_000;
const REOPEN_MAX_MS = 30_000;

export interface PubSubSourceConfig {
  pubsub: PubSub;
  topic: string;
  /** subscription id (not the full path) */
  subscription: string;
  /** messages the client leases ahead of core (its flow control); at least maxInFlight */
  maxBufferedMessages: number;
  maxStreams: number;
  exactlyOnceDelivery: boolean;
  requestTimeoutMs: number;
}

/** What a SourceRecord carries back to ack()/redeliver(). */
interface Handle {
  message: Message;
  /** the client subscription object the message came from (replaced by every seek) */
  generation: number;
}

/**
 * One subscriber of a Pub/Sub subscription (a Brook group). Streaming pull through
 * @google-cloud/pubsub, which leases what it hands over and keeps extending the lease until
 * the message is acked or nacked. Settles are individual: core acks each message; with
 * deadLetter "native" a failed message is nacked and Pub/Sub counts the delivery attempt.
 *
 * Flow control has two levels. The client's (`maxBufferedMessages`, sent to the service as
 * its server-side flow control) bounds what is leased; this source hands core only what core
 * has room for (maxInFlight) and keeps the rest queued, leased, in order. The buffer must not
 * be as small as maxInFlight: a full client pauses its stream, and the emulator (which ignores
 * server-side flow control) keeps sending into the paused stream; messages that wait there
 * past their ack deadline are sent again, which showed up as duplicates and, for ordering keys,
 * as a key's messages starting over (10,000 messages, maxInFlight 64: ~7% duplicates).
 *
 * The whole subscription is one partition-like unit ("*"): assignment() and health() report it.
 */
export class PubSubSubscriptionSource implements AckSource {
  readonly settleMode = "ack" as const;
  private sink: DeliverySink | undefined;
  private client: PubSubClientSubscription | undefined;
  private generation = 0;
  private stopped = false;
  /** received, not yet handed to core (it had no room); delivered in arrival order */
  private buffered: SourceRecord[] = [];
  private flushScheduled = false;
  private waitingForCapacity = false;
  /** seeks and stop run one at a time */
  private serial: Promise<unknown> = Promise.resolve();
  /** a stream that ended on a non-retriable error is reopened after this backoff */
  private reopenTimer: NodeJS.Timeout | undefined;
  private reopenDelayMs = REOPEN_MIN_MS;

  constructor(private readonly config: PubSubSourceConfig) {}

  get subscriptionName(): string {
    return this.config.subscription;
  }

  async start(sink: DeliverySink): Promise<void> {
    this.sink = sink;
    sink.assigned([{ partition: PUBSUB_PARTITION }]);
    this.open();
  }

  ack(record: SourceRecord): void {
    const handle = record.handle as Handle;
    // A message from before a seek belongs to a closed client object, which nacked it already.
    if (this.stopped || handle.generation !== this.generation) return;
    if (this.config.exactlyOnceDelivery) {
      handle.message.ackWithResponse().catch((err: unknown) => {
        this.sink?.error(toPubSubError(err, `ack of message ${handle.message.id} on subscription "${this.config.subscription}"`));
      });
    } else {
      handle.message.ack();
    }
  }

  /**
   * deadLetter "native": hands the message back to Pub/Sub, which counts the attempt and, after
   * maxDeliveryAttempts, forwards it to the dead-letter topic. Pub/Sub has no per-message
   * delay (modifyAckDeadline is private in the client): the redelivery delay is the
   * subscription's retryPolicy, which Brook sets from retry.minDelayMs / maxDelayMs when it
   * creates the subscription (broker option retryPolicy, default true), so `delayMs` is not
   * used here.
   */
  redeliver(record: SourceRecord, _delayMs: number): void {
    const handle = record.handle as Handle;
    if (this.stopped || handle.generation !== this.generation) return;
    handle.message.nack();
  }

  seek(target: SeekTarget): Promise<void> {
    if ("positions" in target) {
      return Promise.reject(
        new BrookError("UNSUPPORTED", "seek({ positions }) is not supported on Pub/Sub: messages have ids, not offsets; seek to a { time } or a snapshot"),
      );
    }
    return this.reposition(target.time, `seek of subscription "${this.config.subscription}" to ${target.time.toISOString()}`);
  }

  /** Rewinds (or forwards) the subscription to a snapshot made with createSnapshot(). */
  seekToSnapshot(snapshot: string): Promise<void> {
    return this.reposition(this.config.pubsub.snapshot(snapshot).name, `seek of subscription "${this.config.subscription}" to snapshot "${snapshot}"`);
  }

  async createSnapshot(snapshot: string): Promise<void> {
    try {
      await this.config.pubsub.subscription(this.config.subscription).createSnapshot(snapshot, { timeout: this.config.requestTimeoutMs });
    } catch (err) {
      throw toPubSubError(err, `create snapshot "${snapshot}" of subscription "${this.config.subscription}"`);
    }
  }

  stop(): Promise<void> {
    return this.run(async () => {
      if (this.stopped) return;
      this.stopped = true;
      this.buffered = [];
      if (this.reopenTimer !== undefined) clearTimeout(this.reopenTimer);
      this.reopenTimer = undefined;
      await this.closeClient();
    });
  }

  // ---- internals ----

  private open(): void {
    const generation = ++this.generation;
    const options: SubscriptionOptions = {
      // The emulator ignores server-side flow control; the client holds excess messages back.
      flowControl: { maxMessages: this.config.maxBufferedMessages, allowExcessMessages: false },
      streamingOptions: { maxStreams: this.config.maxStreams },
      // close() nacks every message the client still holds, so a new subscriber gets it at once;
      // it waits for those nacks and pending acks at most this long (the client's default is
      // its maxExtensionTime, 60 min, when the service does not answer).
      closeOptions: { behavior: "NACK", timeout: Duration.from({ milliseconds: CLOSE_FLUSH_TIMEOUT_MS }) },
    };
    const client = this.config.pubsub.subscription(this.config.subscription, options);
    client.on("message", (message: Message) => this.receive(message, generation));
    client.on("error", (err: unknown) => {
      if (this.stopped || generation !== this.generation) return;
      this.sink?.error(toPubSubError(err, `streaming pull from subscription "${this.config.subscription}"`));
    });
    // The client retries transient stream errors itself; on any other (e.g. NOT_FOUND while
    // the subscription is recreated) it closes, nacking what it held. Pull again after a
    // backoff instead of going quiet; each failure has been reported as an "error" event.
    client.on("close", () => {
      if (this.stopped || this.client !== client || this.reopenTimer !== undefined) return;
      this.client = undefined;
      client.removeAllListeners();
      client.on("error", () => undefined);
      this.reopenTimer = setTimeout(() => {
        this.reopenTimer = undefined;
        if (!this.stopped && this.client === undefined) this.open();
      }, this.reopenDelayMs);
      this.reopenDelayMs = Math.min(this.reopenDelayMs * 2, REOPEN_MAX_MS);
    });
    this.client = client;
  }

  private receive(message: Message, generation: number): void {
    if (this.stopped || generation !== this.generation) return;
    this.reopenDelayMs = REOPEN_MIN_MS;
    const attributes = message.attributes ?? {};
    const record: SourceRecord = {
      partition: PUBSUB_PARTITION,
      offset: message.id,
      id: message.id,
      key: message.orderingKey === undefined || message.orderingKey === "" ? undefined : message.orderingKey,
      idempotencyKey: attributes[IDEMPOTENCY_HEADER],
      headers: attributes,
      value: message.data,
      publishTime: new Date(message.publishTime.getTime()),
      handle: { message, generation } satisfies Handle,
    };
    // 0 without a dead-letter policy: Pub/Sub does not count, so core counts from 1.
    if (message.deliveryAttempt > 0) record.deliveryAttempt = message.deliveryAttempt;
    this.buffered.push(record);
    if (!this.flushScheduled && !this.waitingForCapacity) {
      this.flushScheduled = true;
      // The client emits a response's messages on consecutive ticks; hand them over together.
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  /** Hands core as many buffered records as it has room for; waits for room for the rest. */
  private flush(): void {
    const sink = this.sink;
    if (sink === undefined || this.stopped || sink.closing) return;
    const room = sink.available;
    if (room > 0 && this.buffered.length > 0) {
      const records = room >= this.buffered.length ? this.buffered : this.buffered.slice(0, room);
      this.buffered = room >= this.buffered.length ? [] : this.buffered.slice(room);
      sink.deliver(records);
    }
    if (this.buffered.length > 0 && !this.waitingForCapacity) {
      this.waitingForCapacity = true;
      void sink.waitForCapacity().then(() => {
        this.waitingForCapacity = false;
        this.flush();
      });
    }
  }

  /**
   * Seek: closes the client object first (it flushes pending acks and nacks what it holds, so
   * no ack from before the seek lands after it), seeks, then pulls again with a new object.
   * Messages still in handlers are forgotten: their late acks are dropped.
   */
  private reposition(to: Date | string, what: string): Promise<void> {
    return this.run(async () => {
      if (this.stopped) throw new BrookError("CLOSED", `${what}: the subscription is closed`);
      this.generation += 1;
      this.buffered = [];
      await this.closeClient();
      try {
        await this.config.pubsub.subscription(this.config.subscription).seek(to, { timeout: this.config.requestTimeoutMs });
      } catch (err) {
        const error = toPubSubError(err, what);
        if (grpcCodeOf(err) === GrpcStatus.UNIMPLEMENTED) {
          throw new BrookError(
            "UNSUPPORTED",
            `${error.message} (the Pub/Sub emulator does not implement seek to a time on subscriptions with message ordering, which Brook creates; seek to a snapshot works)`,
            { cause: err },
          );
        }
        throw error;
      } finally {
        if (!this.stopped) {
          this.sink?.reset(PUBSUB_PARTITION, { partition: PUBSUB_PARTITION });
          this.open();
        }
      }
    });
  }

  private async closeClient(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client === undefined) return;
    try {
      await client.close();
    } catch (err) {
      this.sink?.error(toPubSubError(err, `close of subscriber for "${this.config.subscription}"`));
    } finally {
      client.removeAllListeners();
      // A late stream error of a closed object must not become an unhandled "error" event.
      client.on("error", () => undefined);
    }
  }

  private run<R>(task: () => Promise<R>): Promise<R> {
    const next = this.serial.then(task);
    this.serial = next.catch(() => undefined);
    return next;
  }
}
