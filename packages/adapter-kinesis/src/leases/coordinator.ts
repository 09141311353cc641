import type { BrookError, Logger } from "@brook/core";
import { toBrookError } from "@brook/core/spi";
import { processingOwner, type Lease } from "./lease.js";
import type { LeaseTable } from "./lease-table.js";
import type { LeaseKeys } from "./lease.js";

export interface CoordinatorOptions {
  workerId: string;
  failoverTimeMs: number;
  renewIntervalMs: number;
  takeIntervalMs: number;
  maxStealsPerRound: number;
  shardSyncIntervalMs: number;
}

/** What the coordinator tells the subscription about this worker's leases. */
export interface CoordinatorHooks {
  /** The lease is this worker's to process now. */
  acquired(lease: Lease): void;
  /** Another worker holds the lease now (it expired here, or was taken): stop at once, never checkpoint it. */
  lost(shardId: string): void;
  /** Another worker asked for the lease: stop reading, checkpoint what is settled, then call release(). */
  handoffRequested(shardId: string): void;
  /** Creates missing leases from the shard list; returns how many. */
  syncShards(leases: Map<string, Lease>): Promise<number>;
  error(error: BrookError): void;
}

type HeldState = "active" | "handing-over" | "pending";

interface Held {
  lease: Lease;
  /** active: mine; handing-over: mine until I checkpoint and let go; pending: I asked for it, its owner finishes first */
  state: HeldState;
  /** when a write of mine last succeeded (renewals that keep failing end in "lost") */
  confirmedAt: number;
  /** this lease's writes, one at a time: two writes racing on one counter would fail each other */
  queue: Promise<unknown>;
}

export type CheckpointOutcome = "written" | "not-mine";

/**
 * One worker's side of a group's leases, the KCL's way: renew what it holds every
 * renewIntervalMs; every takeIntervalMs list the table, take free and expired leases up to its
 * fair share (leases not at SHARD_END ÷ live workers, rounded up), and when none are free,
 * steal from the most loaded worker (at most maxStealsPerRound a round). A lease is expired
 * when its counter has not moved for failoverTimeMs by this worker's clock (the owner renews by
 * moving it), so clocks of different machines never matter.
 *
 * A steal is a graceful hand-over (KCL 3.x's checkpointOwner): the taker becomes leaseOwner and
 * the old owner checkpointOwner; the old owner notices at its next renewal, stops reading,
 * checkpoints what it settled and clears checkpointOwner; only then does the taker start. An
 * old owner that goes silent instead is passed over after failoverTimeMs. Either way no two
 * workers read a shard at once and nothing settled is read twice by the group.
 */
export class LeaseCoordinator {
  private readonly held = new Map<string, Held>();
  /** counter of every lease last seen, and since when (local clock) */
  private readonly observed = new Map<string, { counter: number; since: number }>();
  private renewTimer: NodeJS.Timeout | undefined;
  private takeTimer: NodeJS.Timeout | undefined;
  private taking: Promise<void> | undefined;
  private renewing: Promise<void> | undefined;
  private lastSync = 0;
  private stopped = false;

  constructor(
    private readonly table: LeaseTable,
    private readonly keys: LeaseKeys,
    private readonly options: CoordinatorOptions,
    private readonly hooks: CoordinatorHooks,
    private readonly logger: Logger,
  ) {}

  get workerId(): string {
    return this.options.workerId;
  }

  /** Syncs shards into leases, takes a first share, and starts renewing and taking on intervals. */
  async start(): Promise<void> {
    this.taking = this.takeRound();
    try {
      await this.taking;
    } finally {
      this.taking = undefined;
    }
    this.scheduleRenew();
    this.scheduleTake(this.options.takeIntervalMs);
  }

  /** Runs a take round soon (a shard ended and its children wait, or a hand-over finished). */
  kick(): void {
    if (!this.stopped) this.scheduleTake(0);
  }

  /** Whether this worker may process the shard (it holds it, or hands it over and has not let go yet). */
  owns(shardId: string): boolean {
    const h = this.held.get(shardId);
    return h !== undefined && h.state !== "pending";
  }

  lease(shardId: string): Lease | undefined {
    return this.held.get(shardId)?.lease;
  }

  heldShards(): string[] {
    return [...this.held].filter(([, h]) => h.state !== "pending").map(([id]) => id);
  }

  /**
   * Writes a checkpoint (conditional on the counter and on this worker processing the lease);
   * "not-mine" when the lease is gone from this worker, which is then told through `lost`.
   * `release` lets the lease go in the same write.
   */
  checkpoint(shardId: string, checkpoint: string, subSequence: number, options: { release?: boolean; children?: string[] } = {}): Promise<CheckpointOutcome> {
    return this.serialized(shardId, async (h) => {
      if (h.state === "pending") return "not-mine";
      for (let attempt = 0; attempt < 3; attempt++) {
        const written = await this.table.checkpoint(h.lease, this.workerId, checkpoint, subSequence, options);
        if (written !== undefined) {
          h.lease = written;
          h.confirmedAt = Date.now();
          if (options.release === true) this.forget(shardId, h);
          return "written";
        }
        // The counter moved under us (a taker asked for a hand-over): still ours to checkpoint?
        if ((await this.refresh(shardId, h)) === "gone") return "not-mine";
      }
      return "not-mine";
    });
  }

  /** Records in a LATEST lease when its first reader started (see ShardConsumer's pinLatest). */
  pinStart(shardId: string, at: Date): Promise<CheckpointOutcome> {
    return this.serialized(shardId, async (h) => {
      if (h.state === "pending") return "not-mine";
      for (let attempt = 0; attempt < 3; attempt++) {
        const written = await this.table.pinStartTimestamp(h.lease, this.workerId, at.getTime());
        if (written !== undefined) {
          h.lease = written;
          h.confirmedAt = Date.now();
          return "written";
        }
        if ((await this.refresh(shardId, h)) === "gone") return "not-mine";
      }
      return "not-mine";
    });
  }

  /** Lets a lease go: the end of a hand-over, or a closing worker. */
  release(shardId: string): Promise<void> {
    return this.serialized(shardId, async (h) => {
      const written = h.state === "pending" ? await this.table.abandonHandoff(h.lease, this.workerId) : await this.table.release(h.lease, this.workerId);
      if (written === undefined) this.logger.debug(`lease ${h.lease.leaseKey}: already taken when ${this.workerId} let it go`);
      this.forget(shardId, h);
    }).then(() => undefined);
  }

  /** Stops renewing and taking, then lets every lease go (the subscription committed before). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.renewTimer !== undefined) clearTimeout(this.renewTimer);
    if (this.takeTimer !== undefined) clearTimeout(this.takeTimer);
    this.renewTimer = undefined;
    this.takeTimer = undefined;
    await Promise.allSettled([this.taking, this.renewing]);
    await Promise.allSettled([...this.held.keys()].map((id) => this.release(id)));
  }

  // ---- renewing ----

  private scheduleRenew(): void {
    if (this.stopped) return;
    this.renewTimer = setTimeout(() => {
      this.renewing = this.renewAll().finally(() => {
        this.renewing = undefined;
        this.scheduleRenew();
      });
    }, this.options.renewIntervalMs);
  }

  private async renewAll(): Promise<void> {
    await Promise.allSettled(
      [...this.held.keys()].map((id) =>
        this.serialized(id, (h) => (h.state === "pending" ? this.checkPending(id, h) : this.renewOne(id, h))).catch((err: unknown) => {
          this.hooks.error(toBrookError(err, "UNAVAILABLE"));
        }),
      ),
    );
  }

  private async renewOne(shardId: string, h: Held): Promise<void> {
    let renewed: Lease | undefined;
    try {
      renewed = await this.table.renew(h.lease, this.workerId);
    } catch (err) {
      // DynamoDB is unreachable: after failoverTimeMs without a renewal, others may take the lease.
      if (Date.now() - h.confirmedAt > this.options.failoverTimeMs) this.lose(shardId, h, "it could not be renewed within failoverTimeMs");
      throw err;
    }
    if (renewed !== undefined) {
      h.lease = renewed;
      h.confirmedAt = Date.now();
      return;
    }
    await this.refresh(shardId, h);
  }

  /**
   * Reads the lease after a write of this worker failed its condition and acts on what it
   * finds: still mine (the counter was moved by a hand-over request: hand over), or gone.
   */
  private async refresh(shardId: string, h: Held): Promise<"mine" | "gone"> {
    const current = await this.table.get(this.keys, shardId);
    const me = this.workerId;
    if (current !== undefined && processingOwner(current) === me) {
      h.lease = current;
      h.confirmedAt = Date.now();
      if (current.checkpointOwner === me && current.owner !== me && h.state === "active") {
        h.state = "handing-over";
        this.logger.info(`lease ${current.leaseKey}: ${current.owner} asked ${me} for it; handing over`);
        this.hooks.handoffRequested(shardId);
      }
      return "mine";
    }
    this.lose(shardId, h, current === undefined ? "its lease was deleted" : `${processingOwner(current) ?? "nobody"} holds it now`);
    return "gone";
  }

  private lose(shardId: string, h: Held, why: string): void {
    if (this.held.get(shardId) !== h) return;
    this.held.delete(shardId);
    this.logger.warn(`lease ${h.lease.leaseKey}: lost by ${this.workerId} (${why}); its shard stops without a checkpoint`);
    this.hooks.lost(shardId);
  }

  private forget(shardId: string, h: Held): void {
    if (this.held.get(shardId) === h) this.held.delete(shardId);
  }

  /** A hand-over this worker asked for: done (start), still under way, or its old owner went silent. */
  private async checkPending(shardId: string, h: Held): Promise<void> {
    const current = await this.table.get(this.keys, shardId);
    if (current === undefined || current.owner !== this.workerId) {
      this.forget(shardId, h);
      return;
    }
    if (current.checkpointOwner === undefined) {
      this.activate(shardId, h, current);
      return;
    }
    const seen = this.observed.get(shardId);
    const now = Date.now();
    if (seen === undefined || seen.counter !== current.counter) {
      this.observed.set(shardId, { counter: current.counter, since: now });
      h.lease = current;
      return;
    }
    if (now - seen.since >= this.options.failoverTimeMs) {
      const done = await this.table.completeHandoff(current, this.workerId);
      if (done !== undefined) {
        this.logger.warn(`lease ${current.leaseKey}: ${current.checkpointOwner} went silent during the hand-over; ${this.workerId} takes it from its last checkpoint`);
        this.activate(shardId, h, done);
      }
    }
  }

  private activate(shardId: string, h: Held, lease: Lease): void {
    h.lease = lease;
    h.state = "active";
    h.confirmedAt = Date.now();
    this.hooks.acquired(lease);
  }

  // ---- taking ----

  private scheduleTake(delayMs: number): void {
    if (this.stopped) return;
    if (this.takeTimer !== undefined) clearTimeout(this.takeTimer);
    this.takeTimer = setTimeout(() => {
      this.takeTimer = undefined;
      if (this.taking !== undefined) {
        this.scheduleTake(Math.min(this.options.takeIntervalMs, 200));
        return;
      }
      this.taking = this.takeRound()
        .catch((err: unknown) => this.hooks.error(toBrookError(err, "UNAVAILABLE")))
        .finally(() => {
          this.taking = undefined;
          if (this.takeTimer === undefined) this.scheduleTake(this.options.takeIntervalMs);
        });
    }, delayMs);
  }

  private async takeRound(): Promise<void> {
    let leases = await this.table.leases(this.keys);
    const now = Date.now();
    if (leases.size === 0 || now - this.lastSync >= this.options.shardSyncIntervalMs) {
      this.lastSync = now;
      if ((await this.hooks.syncShards(leases)) > 0) leases = await this.table.leases(this.keys);
    }
    if (this.stopped) return;
    this.observe(leases, Date.now());
    await this.balance(leases);
  }

  private observe(leases: Map<string, Lease>, now: number): void {
    for (const [id, lease] of leases) {
      const seen = this.observed.get(id);
      if (seen === undefined || seen.counter !== lease.counter) this.observed.set(id, { counter: lease.counter, since: now });
    }
    for (const id of [...this.observed.keys()]) if (!leases.has(id)) this.observed.delete(id);
  }

  private expired(lease: Lease, now: number): boolean {
    const seen = this.observed.get(lease.shardId);
    return seen !== undefined && now - seen.since >= this.options.failoverTimeMs;
  }

  /** Takes free and expired leases up to the fair share; steals when none are left. */
  private async balance(leases: Map<string, Lease>): Promise<void> {
    const now = Date.now();
    const me = this.workerId;
    const active = [...leases.values()].filter((l) => l.checkpoint !== "SHARD_END");
    const takeable: Lease[] = [];
    const counts = new Map<string, Lease[]>();
    for (const lease of active) {
      if (this.held.has(lease.shardId)) continue;
      const free = lease.owner === undefined && lease.checkpointOwner === undefined;
      // Held by this worker id in an earlier life (a restart with a fixed workerId): resume it now.
      const mineFromBefore = lease.owner === me && lease.checkpointOwner === undefined;
      if (free || mineFromBefore || this.expired(lease, now)) takeable.push(lease);
      else {
        const owner = (lease.owner ?? lease.checkpointOwner)!;
        if (owner !== me) counts.set(owner, [...(counts.get(owner) ?? []), lease]);
      }
    }
    const mine = [...this.held.values()].filter((h) => h.lease.checkpoint !== "SHARD_END").length;
    const workers = counts.size + 1;
    const target = Math.ceil(active.length / workers);
    let need = target - mine;
    if (need <= 0) return;
    // Free leases first, then expired ones; in random order so workers starting together spread out.
    takeable.sort((a, b) => Number(a.owner !== undefined) - Number(b.owner !== undefined) || Math.random() - 0.5);
    for (const lease of takeable) {
      if (need <= 0 || this.stopped) break;
      const taken = await this.table.take(lease, me);
      if (taken === undefined) continue;
      if (lease.owner !== undefined) this.logger.info(`lease ${lease.leaseKey}: expired (owner ${lease.owner} silent for ${this.options.failoverTimeMs} ms); taken by ${me}`);
      const h: Held = { lease: taken, state: "active", confirmedAt: Date.now(), queue: Promise.resolve() };
      this.held.set(lease.shardId, h);
      need -= 1;
      this.hooks.acquired(taken);
    }
    if (need <= 0 || takeable.length > 0) return;
    for (let steals = 0; steals < this.options.maxStealsPerRound && need > 0 && !this.stopped; steals++) {
      const [victim, theirs] = [...counts].sort((a, b) => b[1].length - a[1].length)[0] ?? [];
      if (victim === undefined || theirs === undefined || theirs.length - (mine + steals) < 2) return;
      const candidates = theirs.filter((l) => l.checkpointOwner === undefined);
      const lease = candidates[Math.floor(Math.random() * candidates.length)];
      if (lease === undefined) return;
      const asked = await this.table.requestHandoff(lease, me);
      theirs.splice(theirs.indexOf(lease), 1);
      if (asked === undefined) continue;
      this.logger.info(`lease ${lease.leaseKey}: ${me} (${mine + steals} of a fair ${target}) asks ${victim} (${theirs.length + 1}) for it`);
      this.held.set(lease.shardId, { lease: asked, state: "pending", confirmedAt: Date.now(), queue: Promise.resolve() });
      this.observed.set(lease.shardId, { counter: asked.counter, since: Date.now() });
      need -= 1;
    }
  }

  // ---- one write at a time per lease ----

  private serialized<R>(shardId: string, work: (h: Held) => Promise<R>): Promise<R | "not-mine"> {
    const h = this.held.get(shardId);
    if (h === undefined) return Promise.resolve("not-mine");
    const run = h.queue.then((): Promise<R | "not-mine"> | "not-mine" => (this.held.get(shardId) === h ? work(h) : "not-mine"));
    h.queue = run.catch(() => undefined);
    return run;
  }
}
