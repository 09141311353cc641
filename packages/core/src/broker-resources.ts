import { BrookError } from "./errors.js";
import { ManagedSubscription } from "./subscription.js";
import type { Publisher, SubscribeOptions, Subscription } from "./contract.js";
import type { SubscriptionContext, SubscriptionSource } from "./spi.js";

/**
 * What every adapter's Broker keeps: the publishers and subscriptions it opened, so that
 * broker.close() closes them (subscriptions drained first, then publishers flushed), and the
 * CLOSED check for calls after close.
 */
export class BrokerResources {
  private readonly publishers = new Set<Publisher<unknown>>();
  private readonly subscriptions = new Set<Subscription>();
  private closed = false;

  constructor(private readonly url: string) {}

  get isClosed(): boolean {
    return this.closed;
  }

  ensureOpen(): void {
    if (this.closed) throw new BrookError("CLOSED", `broker ${this.url} is closed`);
  }

  /** Registers a publisher built by `create`, which gets the callback to run on its close. */
  trackPublisher<T>(create: (onClose: () => void) => Publisher<T>): Publisher<T> {
    this.ensureOpen();
    let publisher: Publisher<T> | undefined;
    publisher = create(() => {
      if (publisher !== undefined) this.publishers.delete(publisher as Publisher<unknown>);
    });
    this.publishers.add(publisher as Publisher<unknown>);
    return publisher;
  }

  /** Starts a managed subscription over `source` and forgets it once it is closed. */
  async startSubscription<T>(source: SubscriptionSource, options: SubscribeOptions<T>, context: SubscriptionContext): Promise<ManagedSubscription<T>> {
    this.ensureOpen();
    const subscription = await ManagedSubscription.start<T>(source, options, context);
    this.subscriptions.add(subscription);
    const close = subscription.close.bind(subscription);
    subscription.close = async (opts) => {
      this.subscriptions.delete(subscription);
      await close(opts);
    };
    return subscription;
  }

  /** Closes everything once; returns false when it was already closed. */
  async closeAll(drainTimeoutMs = 5_000): Promise<boolean> {
    if (this.closed) return false;
    this.closed = true;
    await Promise.allSettled([...this.subscriptions].map((s) => s.close({ drain: true, timeoutMs: drainTimeoutMs })));
    await Promise.allSettled([...this.publishers].map((p) => p.close()));
    return true;
  }
}
