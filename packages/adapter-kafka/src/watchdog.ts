/**
 * The subscriber's bound on a silent cluster, independent of the driver. A Kafka client retries
 * a lost broker by itself, without end and without telling anyone (KafkaJS: a blackholed broker
 * went 30 s and more without an error reaching the application). The driver reports every answer
 * the consumer gets from a broker (`ConsumerHooks.answered`: fetch, heartbeat, join, sync,
 * commit, metadata, error answers included). A healthy member hears from its brokers at least
 * every fetch wait or heartbeat interval, so when none has answered for `unavailableAfterMs`,
 * the subscription emits one `error` (UNAVAILABLE) naming the brokers and how long they have
 * been silent. The client keeps retrying; the first answer after that ends the outage, which is
 * logged (as core logs a recovered connection), and the next outage is reported again.
 *
 * The clock only runs while the driver is waiting on the cluster: the adapter's own wait while
 * it drains before a rebalance holds it, and while the member's JoinGroup is out (the coordinator
 * answers it only once every member has rejoined, up to rebalanceTimeoutMs) silence may last
 * that much longer. It starts at the first answer, so a driver that does not report answers
 * never trips it.
 */
import { BrookError, type Logger } from "@brook/core";

export interface BrokerWatchdogOptions {
  /** silence longer than this is reported */
  unavailableAfterMs: number;
  /** how long the coordinator may hold a JoinGroup answer (the group's rebalance timeout) */
  rebalanceTimeoutMs: number;
  /** what is silent, for the message, e.g. `consumer of topic "t" (group "g")` */
  what: string;
  /** the configured bootstrap brokers, named while no broker has answered yet */
  brokers: string[];
  logger: Logger;
  /** called once per outage */
  unavailable(error: BrookError): void;
  /** how often silence is checked (default: a quarter of the bound, at most 1 s) */
  checkEveryMs?: number;
}

export class BrokerWatchdog {
  /** broker ("host:port") → when it last answered */
  private readonly answers = new Map<string, number>();
  private lastAnswerAt: number | undefined;
  /** since when the cluster counts as unavailable (the error was emitted), if it does */
  private downSince: number | undefined;
  private holds = 0;
  /** the member's JoinGroup is out (see joining()) */
  private inJoin = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: BrokerWatchdogOptions) {}

  /** A broker answered a request of the consumer. */
  answered(broker: string): void {
    if (this.stopped) return;
    const now = Date.now();
    this.answers.set(broker, now);
    this.lastAnswerAt = now;
    this.inJoin = false;
    if (this.downSince !== undefined) {
      const silentMs = now - this.downSince + this.options.unavailableAfterMs;
      this.downSince = undefined;
      this.options.logger.info(`${this.options.what}: Kafka broker ${broker} answered again after ${seconds(silentMs)} without an answer; the consumer carries on`);
    }
    if (this.timer === undefined) {
      const every = this.options.checkEveryMs ?? Math.max(50, Math.min(1_000, Math.floor(this.options.unavailableAfterMs / 4)));
      this.timer = setInterval(() => this.check(), every);
      this.timer.unref();
    }
  }

  /** The member sent JoinGroup (or is about to send SyncGroup): up to rebalanceTimeoutMs more, until the next answer. */
  joining(): void {
    this.inJoin = true;
  }

  /** The adapter itself holds the consumer (no request expected meanwhile); pair with release(). */
  hold(): void {
    this.holds += 1;
  }

  release(): void {
    this.holds = Math.max(0, this.holds - 1);
    // The time spent held is not silence.
    if (this.holds === 0 && this.lastAnswerAt !== undefined && this.downSince === undefined) this.lastAnswerAt = Math.max(this.lastAnswerAt, Date.now());
  }

  /** true while an outage has been reported and no broker has answered since */
  get isUnavailable(): boolean {
    return this.downSince !== undefined;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Checks the silence now (the timer calls it). */
  check(now = Date.now()): void {
    if (this.stopped || this.holds > 0 || this.downSince !== undefined || this.lastAnswerAt === undefined) return;
    const silentMs = now - this.lastAnswerAt;
    if (silentMs <= this.options.unavailableAfterMs + (this.inJoin ? this.options.rebalanceTimeoutMs : 0)) return;
    this.downSince = now;
    const known = this.answers.size > 0 ? [...this.answers.keys()].sort() : this.options.brokers;
    const brokers = known.length === 1 ? `Kafka broker ${known[0]}` : `Kafka brokers ${known.join(", ")}`;
    this.options.unavailable(
      new BrookError(
        "UNAVAILABLE",
        `${this.options.what}: no answer from ${brokers} for ${seconds(silentMs)} (unavailableAfterMs ${this.options.unavailableAfterMs}); the client keeps retrying and resumes when the cluster answers again`,
      ),
    );
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
