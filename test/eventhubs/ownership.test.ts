/**
 * Ownership moves while work is in flight: a member that loses a partition to another member
 * (whose receiver takes it over) stops delivering it, drains what it had in flight, and never
 * writes a checkpoint for it once the other member's claim is in the store; the group's
 * checkpoint of that partition is the new owner's, and every message is handled.
 */
import { afterAll, expect, test } from "@jest/globals";
import { connect, type Broker } from "@brook/core";
import "@brook/adapter-eventhubs";
import { sleep, uniqueTopic, waitFor } from "@brook/contract-tests";
import type { Checkpoint, CheckpointStore, PartitionOwnership } from "@azure/event-hubs";
import { BlobCheckpointStore } from "@azure/eventhubs-checkpointstore-blob";
import { ContainerClient } from "@azure/storage-blob";
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
    // the claim landed may have answered without it; that race is inherent to a blob store).
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
});
