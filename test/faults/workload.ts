/**
 * A publisher and a subscriber group at work through Brook's public API, with the books the
 * fault tests check: which messages were acknowledged (publish resolved), which were rejected
 * and with what code after how long, and how often each message reached a handler.
 *
 * Lost = acknowledged and never handled. Duplicated = handler runs beyond the first per
 * message, split into redeliveries of one position (consumer side) and extra positions of one
 * message (a publish retried after its first attempt was applied).
 */
import type { Broker, Position, PublisherOptions, Subscription } from "@brook/core";
import { isBrookError } from "@brook/core";
import { expect } from "@jest/globals";
import { waitFor } from "@brook/contract-tests";
import type { FaultProxy } from "./proxy.js";

export interface Body {
  id: string;
}

export interface Rejection {
  id: string;
  code: string;
  /** from the publish call to its rejection */
  ms: number;
}

export interface WorkloadReport {
  acknowledged: number;
  rejected: number;
  lost: string[];
  /** handler runs beyond the first, over all messages */
  duplicated: number;
  /** of which the same position delivered again */
  redelivered: number;
  /** messages stored at more than one position (publish retried after it was applied) */
  publishDuplicates: number;
  /** rejected publishes whose message was handled anyway ("may or may not have been applied") */
  rejectedButStored: number;
  rejectionCodes: string[];
}

export interface WorkloadOptions {
  /** concurrent publish() calls (default 4) */
  concurrency?: number;
  /** publishes at most this many messages (default 3000) */
  maxMessages?: number;
  /** pause between rounds of `concurrency` publishes, to keep the rate modest (default 5) */
  paceMs?: number;
  /** keys the messages cycle through; 0 publishes without keys (default 8) */
  keys?: number;
  publisher?: PublisherOptions<Body>;
  /** send each message's id as its idempotencyKey (default true) */
  idempotencyKeys?: boolean;
}

export class Workload {
  readonly acked = new Map<string, Position>();
  readonly rejections: Rejection[] = [];
  /** per message id: every position it was handled at, in handling order */
  readonly deliveries = new Map<string, string[]>();
  /** per position "partition/offset": the message ids handled there */
  readonly handledAt = new Map<string, string[]>();
  readonly subscriberErrors: Array<{ code: string; at: number }> = [];
  private sent = 0;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private subscription: Subscription | undefined;
  private readonly label: string;

  constructor(
    private readonly publishVia: Broker,
    private readonly subscribeVia: Broker,
    readonly topic: string,
    private readonly options: WorkloadOptions = {},
  ) {
    this.label = `m-${Math.random().toString(36).slice(2, 8)}`;
  }

  /** Subscribes the group (earliest) and starts publishing in the background. */
  async start(group: string, subscribeOptions: { commitIntervalMs?: number } = {}): Promise<void> {
    this.subscription = await this.subscribeVia.subscribe<Body>(this.topic, {
      group,
      startFrom: "earliest",
      commitIntervalMs: subscribeOptions.commitIntervalMs ?? 200,
      handler: (m) => {
        const at = `${m.position.partition}/${m.position.offset}`;
        const list = this.deliveries.get(m.data.id) ?? [];
        list.push(at);
        this.deliveries.set(m.data.id, list);
        const ids = this.handledAt.get(at) ?? [];
        if (!ids.includes(m.data.id)) ids.push(m.data.id);
        this.handledAt.set(at, ids);
      },
    });
    this.subscription.on("error", (err) => this.subscriberErrors.push({ code: err.code, at: Date.now() }));
    this.loop = this.publishLoop();
  }

  get subscriptionHandle(): Subscription | undefined {
    return this.subscription;
  }

  /** Waits until `n` more publishes were acknowledged than now (bounded). */
  async waitForMoreAcked(n: number, timeoutMs: number, what: string): Promise<void> {
    const target = this.acked.size + n;
    await waitFor(() => this.acked.size >= target || this.sent >= (this.options.maxMessages ?? 3000), timeoutMs, `${n} more acknowledged publishes (${what})`);
  }

  /** Stops publishing and waits for the publishes under way to settle. */
  async stopPublishing(): Promise<void> {
    this.stopping = true;
    await this.loop;
  }

  /** Waits until every acknowledged message was handled at least once, or the deadline. */
  async waitForAllHandled(timeoutMs: number): Promise<void> {
    await waitFor(() => [...this.acked.keys()].every((id) => this.deliveries.has(id)), timeoutMs, "every acknowledged message to be handled").catch(
      () => undefined, // the report names what is missing
    );
  }

  async closeSubscriber(): Promise<void> {
    await this.subscription?.close({ drain: true, timeoutMs: 5_000 });
  }

  /** For each lost message: where its publish said it was stored, and what was handled there. */
  explainLost(limit = 10): string[] {
    return this.report()
      .lost.slice(0, limit)
      .map((id) => {
        const p = this.acked.get(id)!;
        const at = `${p.partition}/${p.offset}`;
        const there = this.handledAt.get(at);
        const rejected = there?.filter((other) => this.rejections.some((r) => r.id === other)) ?? [];
        return `${id}: publish resolved with position ${at}; handled there: ${there === undefined ? "nothing" : there.join(", ")}${
          rejected.length > 0 ? ` (a message whose publish was rejected)` : ""
        }`;
      });
  }

  report(): WorkloadReport {
    const lost = [...this.acked.keys()].filter((id) => !this.deliveries.has(id));
    let duplicated = 0;
    let redelivered = 0;
    let publishDuplicates = 0;
    for (const positions of this.deliveries.values()) {
      duplicated += positions.length - 1;
      const distinct = new Set(positions).size;
      redelivered += positions.length - distinct;
      if (distinct > 1) publishDuplicates += 1;
    }
    const rejectedButStored = this.rejections.filter((r) => this.deliveries.has(r.id)).length;
    return {
      acknowledged: this.acked.size,
      rejected: this.rejections.length,
      lost,
      duplicated,
      redelivered,
      publishDuplicates,
      rejectedButStored,
      rejectionCodes: [...new Set(this.rejections.map((r) => r.code))].sort(),
    };
  }

  private async publishLoop(): Promise<void> {
    const publisher = this.publishVia.publisher<Body>(this.topic, this.options.publisher ?? {});
    const concurrency = this.options.concurrency ?? 4;
    const max = this.options.maxMessages ?? 3000;
    const keys = this.options.keys ?? 8;
    const pace = this.options.paceMs ?? 5;
    const dedupe = this.options.idempotencyKeys ?? true;
    try {
      while (!this.stopping && this.sent < max) {
        const round: Array<Promise<void>> = [];
        for (let i = 0; i < concurrency && this.sent < max; i++) {
          const n = this.sent++;
          const id = `${this.label}-${n}`;
          const started = Date.now();
          round.push(
            publisher.publish({ data: { id }, ...(keys === 0 ? {} : { key: `k${n % keys}` }), ...(dedupe ? { idempotencyKey: id } : {}) }).then(
              (r) => void this.acked.set(id, r.position),
              (err: unknown) => void this.rejections.push({ id, code: isBrookError(err) ? err.code : String(err), ms: Date.now() - started }),
            ),
          );
        }
        await Promise.all(round);
        if (pace > 0) await new Promise((r) => setTimeout(r, pace));
      }
    } finally {
      await publisher.close().catch(() => undefined);
    }
  }
}

/** One line of the fault table. */
export interface FaultRow {
  backend: string;
  fault: string;
  injected: number;
  acknowledged: number;
  lost: number;
  duplicated: string;
  unavailable: string;
}

export function formatTable(rows: FaultRow[]): string {
  const head = ["backend", "fault", "faults injected", "messages acknowledged", "lost", "duplicated", "time to UNAVAILABLE"];
  const cells = rows.map((r) => [r.backend, r.fault, String(r.injected), String(r.acknowledged), String(r.lost), r.duplicated, r.unavailable]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((v, i) => v.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(head), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...cells.map(line)].join("\n");
}

export function describeDuplicates(r: WorkloadReport): string {
  if (r.duplicated === 0) return "0";
  return `${r.duplicated} (${r.redelivered} redelivered, ${r.duplicated - r.redelivered} re-published)`;
}

function faultsGiven(proxy: FaultProxy): number {
  const f = proxy.stats.faults;
  return f.delay + f.blackhole + f.reset + f.refuse + f.halfOpen;
}

/**
 * One fault scenario on a running workload: counts the faults given from now on, and at the
 * end heals the proxy, lets the subscriber catch up, adds a row to the table and checks that
 * nothing acknowledged was lost (naming where each lost message's publish said it went).
 */
export class Scenario {
  private readonly faultsAtStart: number;
  readonly startedAt = Date.now();

  constructor(
    readonly backend: string,
    readonly fault: string,
    readonly proxy: FaultProxy,
    readonly workload: Workload,
    private readonly rows: FaultRow[],
  ) {
    this.faultsAtStart = faultsGiven(proxy);
  }

  async finish(unavailable = "—", catchUpMs = 20_000): Promise<WorkloadReport> {
    await this.proxy.heal();
    await this.workload.stopPublishing();
    await this.workload.waitForAllHandled(catchUpMs);
    await this.workload.closeSubscriber();
    const report = this.workload.report();
    this.rows.push({
      backend: this.backend,
      fault: this.fault,
      injected: faultsGiven(this.proxy) - this.faultsAtStart,
      acknowledged: report.acknowledged,
      lost: report.lost.length,
      duplicated: describeDuplicates(report),
      unavailable,
    });
    expect(report.acknowledged).toBeGreaterThan(0);
    // Nothing acknowledged is lost; if something is, say where its publish said it went.
    expect(this.workload.explainLost()).toEqual([]);
    return report;
  }
}

export interface OutlastBounds {
  /** a publish rejects within this long of its call */
  publishMs: number;
  /**
   * the subscriber reports an error within this long of the fault (measured from the moment
   * the fault was injected); undefined: not waited for, what it reported by the time the
   * publish rejected is recorded
   */
  subscriberMs: number | undefined;
  /** the codes the subscriber's first error may have (default UNAVAILABLE or TIMEOUT) */
  subscriberCodes?: string[];
  /** after the heal, publishing resumes within this long */
  recoverMs: number;
}

/**
 * A fault that outlasts the client's bounds: a publish rejects with UNAVAILABLE or TIMEOUT
 * within bounds.publishMs (never hangs), the subscriber reports UNAVAILABLE or TIMEOUT, and
 * after the fault heals the books still balance. Returns the table's "time to UNAVAILABLE".
 */
export async function outlast(s: Scenario, inject: (p: FaultProxy) => Promise<void> | void, bounds: OutlastBounds): Promise<string> {
  const w = s.workload;
  const rejectedBefore = w.rejections.length;
  const wanted = bounds.subscriberCodes ?? ["UNAVAILABLE", "TIMEOUT"];
  const at = Date.now();
  await inject(s.proxy);
  await waitFor(() => w.rejections.length > rejectedBefore, bounds.publishMs + 5_000, "a publish to reject");
  const first = w.rejections[rejectedBefore]!;
  if (bounds.subscriberMs !== undefined) {
    // The bound runs from the fault, not from the publish's rejection.
    const left = Math.max(0, at + bounds.subscriberMs - Date.now());
    await waitFor(() => w.subscriberErrors.some((e) => e.at >= at && wanted.includes(e.code)), left, `the subscriber to report ${wanted.join(" or ")} within ${bounds.subscriberMs} ms of the fault`);
  }
  const reported = w.subscriberErrors.filter((e) => e.at >= at);
  const subscriberCodes = [...new Set(reported.map((e) => e.code))].sort();
  expect(["UNAVAILABLE", "TIMEOUT"]).toContain(first.code);
  expect(first.ms).toBeLessThanOrEqual(bounds.publishMs);
  for (const code of subscriberCodes) expect(["UNAVAILABLE", "TIMEOUT"]).toContain(code);
  if (bounds.subscriberMs !== undefined) {
    const firstWanted = reported.find((e) => wanted.includes(e.code))!;
    expect(firstWanted.at - at).toBeLessThanOrEqual(bounds.subscriberMs);
  }
  const firstReport = reported.find((e) => wanted.includes(e.code)) ?? reported[0];
  const subscriber =
    firstReport !== undefined
      ? `subscriber ${((firstReport.at - at) / 1000).toFixed(1)} s (${firstReport.code}${subscriberCodes.length > 1 ? `; also ${subscriberCodes.filter((c) => c !== firstReport.code).join("/")}` : ""})` : `subscriber: no error yet at ${((Date.now() - at) / 1000).toFixed(1)} s`;
  await s.proxy.heal();
  await w.waitForMoreAcked(20, bounds.recoverMs, "after the fault healed");
  for (const r of w.rejections) expect(["UNAVAILABLE", "TIMEOUT"]).toContain(r.code);
  return `publish ${(first.ms / 1000).toFixed(1)} s (${first.code}); ${subscriber}`;
}
