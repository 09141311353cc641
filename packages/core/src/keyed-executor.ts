import { BrookError } from "./errors.js";

/**
 * Runs tasks strictly in submission order per key and concurrently across keys, with at most
 * `maxInFlight` tasks running or waiting in total. A task that takes long (say, a message being
 * retried with backoff) holds back only the tasks queued behind it under the same key.
 */
/** The tasks of one key: the running one's completion callback and those queued behind it. */
class KeyQueue {
  /** queued tasks from `head` on (taken ones are dropped in bulk, not shifted one by one) */
  tasks: Array<() => Promise<void>> = [];
  head = 0;
  /** one callback per key run, not two closures per task */
  readonly done: () => void;
  constructor(executor: KeyedExecutor, key: string) {
    this.done = () => executor.finished(key, this);
  }
}

export class KeyedExecutor {
  private readonly queues = new Map<string, KeyQueue>();
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
      queue.tasks.push(task);
      return;
    }
    const fresh = new KeyQueue(this, key);
    this.queues.set(key, fresh);
    this.start(fresh, task);
  }

  private start(queue: KeyQueue, task: () => Promise<void>): void {
    this.active += 1;
    task().then(queue.done, queue.done);
  }

  /** @internal the running task of `queue` settled */
  finished(key: string, queue: KeyQueue): void {
    this.active -= 1;
    this.outstanding -= 1;
    if (queue.head < queue.tasks.length) {
      const next = queue.tasks[queue.head]!;
      queue.tasks[queue.head] = undefined as unknown as () => Promise<void>;
      queue.head += 1;
      if (queue.head === queue.tasks.length) {
        queue.tasks = [];
        queue.head = 0;
      } else if (queue.head > 1024 && queue.head * 2 > queue.tasks.length) {
        queue.tasks = queue.tasks.slice(queue.head);
        queue.head = 0;
      }
      this.start(queue, next);
    } else if (this.queues.get(key) === queue) this.queues.delete(key);
    if (this.outstanding < this.maxInFlight && this.capacityWaiters.length > 0) {
      const waiters = this.capacityWaiters.splice(0, this.maxInFlight - this.outstanding);
      for (const wake of waiters) wake();
    }
    if (this.outstanding === 0 && this.idleWaiters.length > 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }
}
