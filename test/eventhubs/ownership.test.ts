/**
 * Ownership moves while work is in flight: a member that loses a partition to another member
 * (whose receiver takes it over) stops delivering it, drains what it had in flight, and never
 * writes a checkpoint for it once the other member's claim is in the store; the group's
 * checkpoint of that partition is the new owner's, and every message is handled.
 */
import { afterAll, expect, test } from "@jest/globals";
import { connect, type Broker, type ReceivedMessage, type Subscription } from "@brook/core";
import "@brook/adapter-eventhubs";
import { sleep, uniqueTopic, waitFor } from "@brook/contract-tests";
import type { Checkpoint, CheckpointStore, PartitionOwnership } from "@azure/event-hubs";
import { BlobCheckpointStore } from "@azure/eventhubs-checkpointstore-blob";
import { ContainerClient } from "@azure/storage-blob";
import { FencedBlobCheckpointStore } from "@brook/adapter-eventhubs";
import { describeEventHubs, eventHubsUrl, testServerHubManager, uniqueContainer } from "./backend.js";

interface Write {
  at: number;
  partition: string;
  sequenceNumber: number;
  /** when the ownership read that resolved last before this write was started */
  checkedAt: number;
}

/**
 * The blob store, recording this member's checkpoint writes and successful claims. With
 * `startDelayMs`, the member's receivers start that much later after a claim (the SDK lists the
 * checkpoints right before it opens a partition's receiver): the claimed partition stays with
 * its previous owner's receiver meanwhile, which is the window where a stale checkpoint could
 * be written.
 */
function recording(inner: CheckpointStore, writes: Write[], claims: Array<{ at: number; partition: string }>, startDelayMs = 0): CheckpointStore {
  let checkedAt = 0;
  return {
    async listOwnership(ns, hub, group) {
      const started = Date.now();
      const list = await inner.listOwnership(ns, hub, group);
      checkedAt = started;
      return list;
    },
    async listCheckpoints(ns, hub, group) {
      if (startDelayMs > 0) await sleep(startDelayMs);
      return inner.listCheckpoints(ns, hub, group);
    },
    async claimOwnership(requested: PartitionOwnership[]) {
      const claimed = await inner.claimOwnership(requested);
      const at = Date.now();
      for (const o of claimed) if (o.ownerId !== "") claims.push({ at, partition: o.partitionId });
      return claimed;
    },
    async updateCheckpoint(c: Checkpoint) {
      writes.push({ at: Date.now(), partition: c.partitionId, sequenceNumber: c.sequenceNumber, checkedAt });
      await inner.updateCheckpoint(c);
    },
  };
}

describeEventHubs("ownership moves", (eh) => {
  const brokers: Broker[] = [];
  afterAll(async () => {
    await Promise.allSettled(brokers.map((b) => b.close()));
  });

  test("a member that loses a partition with work in flight never checkpoints it after the new owner's claim", async () => {
    const container = uniqueContainer("owner");
    const blob = new ContainerClient(eh.blobConnectionString, container);
    await blob.createIfNotExists();
    const store = new BlobCheckpointStore(blob);
    const url = eventHubsUrl(eh, container).replace(/&checkpointStore=blob[^&]*&blobConnectionString=[^&]*&container=[^&]*/, "");
    const aWrites: Write[] = [];
    const aClaims: Array<{ at: number; partition: string }> = [];
    const bWrites: Write[] = [];
    const bClaims: Array<{ at: number; partition: string }> = [];
    const a = await connect(url, { checkpointStore: recording(store, aWrites, aClaims), hubManager: testServerHubManager(eh.controlUrl) });
    const b = await connect(url, { checkpointStore: recording(store, bWrites, bClaims, 1_000) });
    brokers.push(a, b);
    const hub = uniqueTopic("owner");
    await a.admin.createTopic(hub, { partitions: 2 });
    const handled = new Map<number, string[]>();
    const revokedAt = new Map<string, number>();
    const held = new Map<string, number>();
    const slow = await a.subscribe<number>(hub, {
      group: "g",
      startFrom: "earliest",
      maxInFlight: 8,
      commitIntervalMs: 50,
      handler: async (m) => {
        await sleep(100);
        // Once A has checkpointed a partition, up to 3 of its handlers there wait for B's claim: A
        // has work in flight on both partitions when one of them moves (however slowly B joins on a
        // busy machine), and the other 2 of its 8 slots keep the other partition going.
        const p = m.position.partition;
        if (aWrites.some((w) => w.partition === p) && bClaims.length === 0 && (held.get(p) ?? 0) < 3) {
          held.set(p, (held.get(p) ?? 0) + 1);
          await waitFor(() => bClaims.length > 0, 60_000, "B's claim");
        }
        handled.set(m.data, [...(handled.get(m.data) ?? []), "a"]);
      },
    });
    slow.on("revoked", (ps) => ps.forEach((p) => revokedAt.set(p, Date.now())));
    expect(slow.assignment().sort()).toEqual(["0", "1"]);
    const total = 120;
    const pub = a.publisher<number>(hub);
    const results = await pub.publishBatch(Array.from({ length: total }, (_, i) => ({ key: `k${i}`, data: i })));
    expect(results.every((r) => r.ok)).toBe(true);
    await waitFor(() => new Set(aWrites.map((w) => w.partition)).size === 2, 20_000, "the slow member to checkpoint both partitions");

    // B joins: the greedy balancer takes one partition from A while A has work in flight; B's
    // receiver opens 1 s after its claim, A's keeps delivering and A commits every 50 ms meanwhile.
    const fast = await b.subscribe<number>(hub, {
      group: "g",
      startFrom: "earliest",
      commitIntervalMs: 50,
      handler: (m) => void handled.set(m.data, [...(handled.get(m.data) ?? []), "b"]),
    });
    await waitFor(() => fast.assignment().length === 1 && slow.assignment().length === 1, 20_000, "one partition each");
    const moved = fast.assignment()[0]!;
    await waitFor(() => handled.size >= total, 60_000, `all ${total} messages (got ${handled.size})`);
    await pub.close();
    // A closes first (B takes A's other partition, not the moved one), then B, whose close
    // checkpoints what it handled of the moved partition.
    await slow.close();
    await fast.close();

    const claimedByB = bClaims.filter((c) => c.partition === moved).map((c) => c.at);
    expect(claimedByB.length).toBeGreaterThan(0);
    const firstClaim = Math.min(...claimedByB);
    // A wrote checkpoints for the moved partition while it owned it, and none checked against an
    // ownership read that began after B's claim was in the store (a read already under way when
    // the claim landed may have answered without it: the fenced blob writes refuse that write
    // once the new owner started the partition, see the next test; here the store is wrapped).
    expect(aWrites.filter((w) => w.partition === moved && w.at < firstClaim).length).toBeGreaterThan(0);
    expect(aWrites.filter((w) => w.partition === moved && w.checkedAt >= firstClaim)).toEqual([]);
    expect(revokedAt.has(moved)).toBe(true);
    // The group's checkpoint of the moved partition is B's last write, past A's last one.
    const cps = await store.listCheckpoints("127.0.0.1", hub, "g");
    const lastOfB = bWrites.filter((w) => w.partition === moved).at(-1);
    expect(lastOfB).toBeDefined();
    expect(cps.find((c) => c.partitionId === moved)?.sequenceNumber).toBe(lastOfB!.sequenceNumber);
    expect(lastOfB!.sequenceNumber).toBeGreaterThanOrEqual(Math.max(...aWrites.filter((w) => w.partition === moved).map((w) => w.sequenceNumber)));
    // Every message handled; repeats only on the moved partition (what A had not checkpointed).
    for (let i = 0; i < total; i++) expect(handled.has(i) ? "handled" : `${i} lost`).toBe("handled");
    for (const [data, who] of handled) {
      if (who.length > 1) expect([data, results[data]!.ok && results[data]!.position.partition]).toEqual([data, moved]);
    }
  }, 120_000);

  test("a checkpoint write checked against an ownership read that was in flight when another member claimed the partition is refused once that member started it (fenced blob writes)", async () => {
    const container = uniqueContainer("fence");
    const blob = new ContainerClient(eh.blobConnectionString, container);
    await blob.createIfNotExists();
    const url = eventHubsUrl(eh, container).replace(/&checkpointStore=blob[^&]*&blobConnectionString=[^&]*&container=[^&]*/, "");
    type Outcome = { partition: string; sequenceNumber: number; outcome: "written" | "refused" };
    /** A's store: while `hold` is set, the ownership read of Brook's commit answers only once it resolves. */
    class HeldChecks extends FencedBlobCheckpointStore {
      hold: Promise<void> | undefined;
      held = 0;
      readonly writes: Outcome[] = [];
      override async listOwnership(ns: string, hub: string, group: string): Promise<PartitionOwnership[]> {
        // Brook's check runs inside the subscription source's commit (the SDK's balancing loop does not).
        const fromCommit = /\bcommit\b/.test(new Error().stack ?? "");
        const list = await super.listOwnership(ns, hub, group);
        if (fromCommit && this.hold !== undefined) {
          this.held += 1;
          await this.hold;
        }
        return list;
      }
      override async writeCheckpoint(c: Checkpoint, etag: string | null): Promise<string> {
        try {
          const next = await super.writeCheckpoint(c, etag);
          this.writes.push({ partition: c.partitionId, sequenceNumber: c.sequenceNumber, outcome: "written" });
          return next;
        } catch (err) {
          this.writes.push({ partition: c.partitionId, sequenceNumber: c.sequenceNumber, outcome: "refused" });
          throw err;
        }
      }
      override async updateCheckpoint(c: Checkpoint): Promise<void> {
        await super.updateCheckpoint(c);
        this.writes.push({ partition: c.partitionId, sequenceNumber: c.sequenceNumber, outcome: "written" });
      }
    }
    /** B's store: a partition's receiver opens only once `gate` resolves (after its fence). */
    class SlowStart extends FencedBlobCheckpointStore {
      gate: Promise<void> | undefined;
      readonly fenced: string[] = [];
      override async fence(c: Parameters<FencedBlobCheckpointStore["fence"]>[0]): Promise<string | null> {
        const etag = await super.fence(c);
        this.fenced.push(c.partitionId);
        if (this.gate !== undefined) await this.gate;
        return etag;
      }
    }
    const aStore = new HeldChecks(blob);
    const bStore = new SlowStart(blob);
    const a = await connect(url, { checkpointStore: aStore, hubManager: testServerHubManager(eh.controlUrl) });
    const b = await connect(url, { checkpointStore: bStore });
    brokers.push(a, b);
    const hub = uniqueTopic("fence");
    await a.admin.createTopic(hub, { partitions: 2 });
    const handled: Array<{ by: string; partition: string; data: number }> = [];
    const record = (by: string) => (m: ReceivedMessage<number>) => void handled.push({ by, partition: m.position.partition, data: m.data });
    // A's handlers of message 3 (one per partition) finish in the same turn, so one commit carries both.
    let entered = 0;
    let bothIn = (): void => undefined;
    const together = new Promise<void>((r) => (bothIn = r));
    const sa = await a.subscribe<number>(hub, {
      group: "g",
      startFrom: "earliest",
      commitIntervalMs: 50,
      handler: async (m) => {
        if (m.data === 3) {
          if (++entered === 2) bothIn();
          await together;
        }
        record("a")(m);
      },
    });
    expect(sa.assignment().sort()).toEqual(["0", "1"]);
    const pubs = ["0", "1"].map((partitionId) => a.publisher<number>(hub, { partitionId }));
    const publishEach = async (data: number[]) => {
      for (const [p, pub] of pubs.entries()) for (const r of await pub.publishBatch(data.map((d) => ({ key: `k${p}`, data: d })))) expect(r.ok).toBe(true);
    };
    const written = (p: string, seq: number) => aStore.writes.some((w) => w.partition === p && w.sequenceNumber === seq && w.outcome === "written");
    await publishEach([0, 1, 2]);
    await waitFor(() => written("0", 2) && written("1", 2), 20_000, "A's checkpoints at sequence number 2");

    // A handles one more message per partition; its commit's ownership read answers (A owns
    // both) and is then held, as a slow read would be.
    // Released in `finally` too, so a failed check does not leave the members waiting.
    let release = (): void => undefined;
    let open = (): void => undefined;
    let joining: Promise<Subscription> | undefined;
    try {
      aStore.hold = new Promise<void>((r) => (release = r));
      await publishEach([3]);
      await waitFor(() => aStore.held > 0 && handled.filter((h) => h.data === 3).length === 2, 20_000, "A's commit waiting on its ownership read");
      // B joins, claims one partition and fences it; its receiver waits.
      bStore.gate = new Promise<void>((r) => (open = r));
      joining = b.subscribe<number>(hub, { group: "g", startFrom: "earliest", commitIntervalMs: 50, handler: record("b") });
      await waitFor(() => bStore.fenced.length > 0, 20_000, "B to start a partition");
      const moved = bStore.fenced[0]!;
      const kept = moved === "0" ? "1" : "0";
      // A's commit goes on with the read from before B's claim.
      aStore.hold = undefined;
      release();
      await waitFor(() => aStore.writes.some((w) => w.partition === moved && w.sequenceNumber === 3) && written(kept, 3), 20_000, "A's commit of both partitions");
      expect(aStore.writes.filter((w) => w.partition === moved && w.sequenceNumber === 3).map((w) => w.outcome)).toEqual(["refused"]);
      // The moved partition's checkpoint is still what B started from.
      const raw = new BlobCheckpointStore(blob);
      const cps = await raw.listCheckpoints("127.0.0.1", hub, "g");
      expect(cps.find((c) => c.partitionId === moved)?.sequenceNumber).toBe(2);
      expect(cps.find((c) => c.partitionId === kept)?.sequenceNumber).toBe(3);
    } finally {
      aStore.hold = undefined;
      release();
      open();
    }

    const sb = await joining!;
    await waitFor(() => sb.assignment().length === 1 && sa.assignment().length === 1, 20_000, "one partition each");
    // B handles from the checkpoint on: the moved partition's last message again, nothing lost.
    await waitFor(() => handled.some((h) => h.by === "b" && h.data === 3), 20_000, "B to handle the moved partition's message 3");
    for (const p of ["0", "1"]) expect([...new Set(handled.filter((h) => h.partition === p).map((h) => h.data))].sort()).toEqual([0, 1, 2, 3]);
    for (const pub of pubs) await pub.close();
    await sa.close();
    await sb.close();
  }, 120_000);
});
