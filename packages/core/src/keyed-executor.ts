import { BrookError } from "./errors.js";

/**
 * Runs tasks strictly in submission order per key and concurrently across keys, with at most
 * `maxInFlight` tasks running or waiting in total. A task that takes long (say, a message being
 * retried with backoff) holds back only the tasks queued behind it under the same key.
 */
export class KeyedExecutor {
  private readonly queues = new Map<string, Array<() => Promise<void>>>();
  private active = 0;
  private outstanding = 0;
  private readonly capacityWaiters: Array<() => void> = [];
  private readonly idleWaiters: Array<() => void> = [];

  constructor(private readonly maxInFlight: number) {
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
      throw new BrookError("INVALID_ARGUMENT", `maxInFlight: expected an integer >= 1, got ${String(maxInFlight)}`);
    }
  }

  /** Tasks accepted and not yet finished (running or queued behind their key). */
  get size(): number {
    return this.outstanding;
  }

  /** Keys with a task running right now. */
  get running(): number {
    return this.active;
  }

  get available(): number {
    return Math.max(0, this.maxInFlight - this.outstanding);
  }

  /** Resolves when another task can be accepted without passing maxInFlight. */
  waitForCapacity(): Promise<void> {
    if (this.outstanding < this.maxInFlight) return Promise.resolve();
    return new Promise((resolve) => this.capacityWaiters.push(resolve));
  }

  /** Resolves when no task is running or queued. */
  waitForIdle(): Promise<void> {
    if (this.outstanding === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Queues `task` behind earlier tasks of the same key. The returned promise settles with the
   * task. Callers should await waitForCapacity() first; submit itself never refuses work, so a
   * fetched batch slightly over the cap is not lost.
   */
  submit(key: string, task: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => this.run(key, () => task().then(resolve, reject)));
  }

  /**
   * Like submit, without a promise for the caller: the task must handle its own errors. This
   * is the hot path for message delivery (one allocation less per message).
   */
  run(key: string, task: () => Promise<void>): void {
    this.outstanding += 1;
    const queue = this.queues.get(key);
    if (queue !== undefined) {
      queue.push(task);
      return;
    }
    this.queues.set(key, []);
    this.start(key, task);
  }

  private start(key: string, task: () => Promise<void>): void {
    this.active += 1;
    task().then(
      () => this.finish(key),
      () => this.finish(key),
    );
  }

  private finish(key: string): void {
    this.active -= 1;
    this.outstanding -= 1;
    const queue = this.queues.get(key);
    const next = queue?.shift();
    if (next !== undefined) this.start(key, next);
    else this.queues.delete(key);
    if (this.outstanding < this.maxInFlight) {
      const waiters = this.capacityWaiters.splice(0, this.maxInFlight - this.outstanding);
      for (const wake of waiters) wake();
    }
    if (this.outstanding === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }
}
