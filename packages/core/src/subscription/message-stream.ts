import { BrookError } from "../errors.js";
import type { ConsumeOptions, MessageStream as MessageStreamApi, ReceivedMessage, SubscribeOptions, Subscription } from "../contract.js";

interface Handed<T> {
  message: ReceivedMessage<T>;
  /** settles the handler call behind the message: resolve acknowledges, reject retries */
  ack: () => void;
  nack: (error: Error) => void;
}

/**
 * consume(): a subscription whose handler hands each message to an async iterator and waits.
 * The loop asking for the next message acknowledges the one before (the handler resolves);
 * leaving the loop closes the subscription without waiting, so the message the loop was on is
 * neither acknowledged nor dead-lettered: it stays uncommitted and comes again (at least once).
 * Messages the subscription prefetches (up to maxInFlight) wait here in arrival order.
 */
export class MessageStream<T> implements MessageStreamApi<T> {
  private started: Promise<Subscription> | undefined;
  private sub: Subscription | undefined;
  private readonly ready: Handed<T>[] = [];
  private readonly pulls: Array<{ resolve: (r: IteratorResult<ReceivedMessage<T>>) => void; reject: (e: unknown) => void }> = [];
  private current: Handed<T> | undefined;
  private done = false;

  constructor(
    private readonly open: (options: SubscribeOptions<T>) => Promise<Subscription>,
    private readonly options: ConsumeOptions<T>,
  ) {}

  get subscription(): Subscription | undefined {
    return this.sub;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<ReceivedMessage<T>>> {
    // Asking for the next message acknowledges the one the loop body just finished.
    this.current?.ack();
    this.current = undefined;
    if (this.done) return { done: true, value: undefined };
    if (this.started === undefined) {
      this.started = this.open({ ...this.options, handler: (m) => this.hand(m) });
      this.sub = await this.started.catch((err: unknown) => {
        this.done = true;
        throw err;
      });
    }
    const next = this.ready.shift();
    if (next !== undefined) return this.yield(next);
    return new Promise((resolve, reject) => this.pulls.push({ resolve, reject }));
  }

  async return(): Promise<IteratorResult<ReceivedMessage<T>>> {
    await this.close();
    return { done: true, value: undefined };
  }

  async throw(error?: unknown): Promise<IteratorResult<ReceivedMessage<T>>> {
    await this.close();
    throw error;
  }

  async close(): Promise<void> {
    if (this.done && this.sub === undefined) return;
    this.done = true;
    const abandoned = new BrookError("CLOSED", "the consume() loop ended before this message was acknowledged");
    const sub = this.sub ?? (await this.started?.catch(() => undefined));
    this.sub = undefined;
    // Closed without drain first, so nothing handed here is retried or dead-lettered: the
    // messages stay uncommitted and are delivered again later.
    const closing = sub?.close({ drain: false });
    this.current?.nack(abandoned);
    this.current = undefined;
    for (const handed of this.ready.splice(0)) handed.nack(abandoned);
    for (const pull of this.pulls.splice(0)) pull.resolve({ done: true, value: undefined });
    await closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private hand(message: ReceivedMessage<T>): Promise<void> {
    if (this.done) return Promise.reject(new BrookError("CLOSED", "consume() stream is closed"));
    return new Promise<void>((ack, nack) => {
      const handed: Handed<T> = { message, ack, nack };
      const pull = this.pulls.shift();
      if (pull !== undefined) pull.resolve(this.yield(handed));
      else this.ready.push(handed);
    });
  }

  private yield(handed: Handed<T>): IteratorResult<ReceivedMessage<T>> {
    this.current = handed;
    return { done: false, value: handed.message };
  }
}
