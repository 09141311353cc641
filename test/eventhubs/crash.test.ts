/**
 * Members of one consumer group on the test server with blob checkpoints (Azurite):
 * - a member killed with SIGKILL mid-stream loses its partitions when its ownership expires;
 *   the other member takes them over from the last checkpoint: nothing is lost, no checkpoint
 *   ever passed a message that was not acknowledged, and only the window after the last
 *   checkpoint is delivered again;
 * - a member that closes hands its partitions over at once (long before ownership expiry);
 * - a member restarted after close({ drain: true }) resumes exactly after what was acknowledged.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { connect, type Broker, type ReceivedMessage, type Subscription } from "@brook/core";
import "@brook/adapter-eventhubs";
import { sleep, uniqueTopic, waitFor } from "@brook/contract-tests";
import { BlobCheckpointStore } from "@azure/eventhubs-checkpointstore-blob";
import { ContainerClient } from "@azure/storage-blob";
import { describeEventHubs, eventHubsUrl, testServerHubManager, uniqueContainer } from "./backend.js";

const ROOT = path.resolve(__dirname, "..", "..");

describeEventHubs("consumer group members", (eh) => {
  const brokers: Broker[] = [];
  const children: ChildProcess[] = [];
  beforeAll(() => {
    // The child runs the compiled packages.
    execFileSync(process.execPath, [path.join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-b"], { cwd: ROOT, stdio: "inherit" });
  }, 120_000);
  afterAll(async () => {
    for (const c of children) c.kill("SIGKILL");
    await Promise.allSettled(brokers.map((b) => b.close()));
  });

  async function open(url: string): Promise<Broker> {
    const broker = await connect(url, { hubManager: testServerHubManager(eh.controlUrl) });
    brokers.push(broker);
    return broker;
  }

  async function checkpoints(container: string, hub: string, group: string): Promise<Map<string, bigint>> {
    const store = new BlobCheckpointStore(new ContainerClient(eh.blobConnectionString, container));
    const list = await store.listCheckpoints("127.0.0.1", hub, group);
    return new Map(list.map((c) => [c.partitionId, BigInt(c.sequenceNumber)]));
  }

  test("SIGKILL of one of two members: the other takes its partitions over after ownership expiry, nothing is lost, only the window after the last checkpoint repeats", async () => {
    const container = uniqueContainer("crash");
    const url = eventHubsUrl(eh, container);
    const broker = await open(url);
    const hub = uniqueTopic("crash");
    const group = "crash-workers";
    const partitions = 4;
    const total = 3_000;
    await broker.admin.createTopic(hub, { partitions });

    // Member A: a child process.
    const acked = new Set<string>();
    const childAssigned = new Set<string>();
    const child = spawn(process.execPath, [path.join(__dirname, "member-child.mjs"), url, hub, group], { stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    let buffered = "";
    let killAt = Number.POSITIVE_INFINITY;
    child.stdout!.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) {
        const [tag, p, o] = line.split(" ");
        if (tag === "ACK") acked.add(`${p}:${o}`);
        else if (tag === "ASSIGNED") childAssigned.add(p!);
        else if (tag === "REVOKED") childAssigned.delete(p!);
      }
      // Killed from here, mid-stream: handlers are running and batches half delivered.
      if (acked.size >= killAt && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
    await waitFor(() => childAssigned.size > 0, 30_000, `the child to own a partition (stderr: ${stderr})`);

    // Member B: in this process.
    const handled: string[] = [];
    const member = await broker.subscribe<number>(hub, {
      group,
      startFrom: "earliest",
      maxInFlight: 32,
      commitIntervalMs: 100,
      handler: async (m: ReceivedMessage<number>) => {
        await sleep(1);
        handled.push(`${m.position.partition}:${m.position.offset}`);
      },
    });
    await waitFor(
      () => member.assignment().length > 0 && childAssigned.size > 0 && member.assignment().length + childAssigned.size === partitions,
      30_000,
      `both members to share the ${partitions} partitions (child ${[...childAssigned].join(",")}, member ${member.assignment().join(",")})`,
    );
    const fromChild = new Set(childAssigned);
    // The child's last ownership renewal as the store recorded it (the SDK judges expiry by it):
    // on a busy machine a starved child can miss renewals, and then it loses its partitions
    // before it is killed, legitimately.
    const store = new BlobCheckpointStore(new ContainerClient(eh.blobConnectionString, container));
    const childOwner = (await store.listOwnership("127.0.0.1", hub, group)).find((o) => fromChild.has(o.partitionId))!.ownerId;
    let childRenewedAt = 0;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        for (const o of await store.listOwnership("127.0.0.1", hub, group).catch(() => [])) {
          if (o.ownerId === childOwner) childRenewedAt = Math.max(childRenewedAt, o.lastModifiedTimeInMs ?? 0);
        }
        await sleep(100);
      }
    })();

    const pub = broker.publisher<number>(hub);
    const published = new Set<string>();
    killAt = 600;
    for (let i = 0; i < total; i += 500) {
      const results = await pub.publishBatch(Array.from({ length: 500 }, (_, j) => ({ key: `k${(i + j) % 200}`, data: i + j })));
      for (const r of results) {
        if (!r.ok) throw r.error;
        published.add(`${r.position.partition}:${r.position.offset}`);
      }
    }
    expect(published.size).toBe(total);
    try {
      await waitFor(() => child.signalCode !== null, 60_000, `the child to acknowledge ${killAt} messages (got ${acked.size}; stderr: ${stderr})`);
    } finally {
      child.kill("SIGKILL");
    }
    expect(await exited).toBe("SIGKILL");
    const atKill = await checkpoints(container, hub, group);

    // The survivor owns every partition once the dead member's ownership has expired (3 s).
    await waitFor(() => member.assignment().length === partitions, 30_000, `the member to own all ${partitions} partitions (has ${member.assignment().join(",")})`);
    watching = false;
    await watcher;
    // It waited for the expiry (3 s after the child's last recorded renewal), not less.
    expect(childRenewedAt).toBeGreaterThan(0);
    expect(Date.now() - childRenewedAt).toBeGreaterThanOrEqual(3_000);
    await waitFor(() => new Set([...acked, ...handled]).size >= total, 60_000, `every message handled (got ${new Set([...acked, ...handled]).size} of ${total})`);
    await sleep(300);

    // Nothing lost.
    const union = new Set([...acked, ...handled]);
    for (const position of published) expect(union.has(position) ? "handled" : `${position} lost`).toBe("handled");
    // The dead member had checkpointed (every 100 ms), and no checkpoint of its partitions
    // passed a message nobody acknowledged.
    expect([...fromChild].some((p) => atKill.has(p))).toBe(true);
    for (const p of fromChild) {
      const cp = atKill.get(p);
      if (cp === undefined) continue;
      for (let o = 0n; o <= cp; o++) expect(union.has(`${p}:${o}`) ? "acked" : `${p}:${o} checkpointed, never acknowledged`).toBe("acked");
    }
    // Only what the dead member acknowledged after its last checkpoint is handled again.
    for (const x of handled.filter((h) => acked.has(h))) {
      const [p, o] = x.split(":");
      expect(`${x} ${BigInt(o!) > (atKill.get(p!) ?? -1n) ? "after" : "at or before"} the checkpoint`).toBe(`${x} after the checkpoint`);
    }
    expect(new Set(handled).size).toBe(handled.length);
    await pub.close();
    await member.close();
  }, 180_000);

  test("a member that closes hands its partitions over at once, long before its ownership would expire", async () => {
    const container = uniqueContainer("handover");
    // Ownership would expire only after 60 s; a hand-over within seconds is the close's doing.
    const url = eventHubsUrl(eh, container).replace("ownershipExpirationMs=3000", "ownershipExpirationMs=60000");
    const a = await open(url);
    const b = await open(url);
    const hub = uniqueTopic("handover");
    await a.admin.createTopic(hub, { partitions: 4 });
    const got = new Map<number, string[]>();
    const record = (who: string) => (m: ReceivedMessage<number>) => void got.set(m.data, [...(got.get(m.data) ?? []), who]);
    const first = await a.subscribe<number>(hub, { group: "g", startFrom: "earliest", handler: record("a") });
    const second = await b.subscribe<number>(hub, { group: "g", startFrom: "earliest", handler: record("b") });
    await waitFor(() => first.assignment().length > 0 && second.assignment().length > 0, 30_000, "both members to own partitions");
    const pub = a.publisher<number>(hub);
    await pub.publishBatch(Array.from({ length: 200 }, (_, i) => ({ key: `k${i}`, data: i })));
    await waitFor(() => got.size >= 200, 30_000, "the first 200 messages");
    const closedAt = Date.now();
    await first.close({ drain: true });
    await waitFor(() => second.assignment().length === 4, 20_000, `the remaining member to own all partitions (has ${second.assignment().join(",")})`);
    expect(Date.now() - closedAt).toBeLessThan(20_000);
    await pub.publishBatch(Array.from({ length: 200 }, (_, i) => ({ key: `k${i}`, data: 200 + i })));
    await waitFor(() => got.size >= 400, 30_000, "the next 200 messages");
    await sleep(300);
    for (let i = 0; i < 400; i++) expect([i, got.get(i)?.length]).toEqual([i, 1]);
    for (let i = 200; i < 400; i++) expect(got.get(i)).toEqual(["b"]);
    await pub.close();
    await second.close();
  }, 120_000);

  test("a member restarted after close({ drain: true }) resumes after the last acknowledged message: nothing repeats, nothing is lost", async () => {
    const container = uniqueContainer("resume");
    const url = eventHubsUrl(eh, container);
    const broker = await open(url);
    const hub = uniqueTopic("resume");
    await broker.admin.createTopic(hub, { partitions: 2 });
    const pub = broker.publisher<number>(hub);
    const total = 1_000;
    for (let i = 0; i < total; i += 250) {
      const results = await pub.publishBatch(Array.from({ length: 250 }, (_, j) => ({ key: `k${(i + j) % 50}`, data: i + j })));
      expect(results.every((r) => r.ok)).toBe(true);
    }
    const seen: number[] = [];
    const subscribeOnce = async (on: Broker): Promise<Subscription> =>
      on.subscribe<number>(hub, {
        group: "resume",
        startFrom: "earliest",
        maxInFlight: 16,
        commitIntervalMs: 60_000, // only the close commits: the restart proves it did
        handler: async (m) => {
          await sleep(1);
          seen.push(m.data);
        },
      });
    const firstRun = await subscribeOnce(broker);
    await waitFor(() => seen.length >= 300, 30_000, "300 messages before the restart");
    await firstRun.close({ drain: true });
    const before = seen.length;
    expect(before).toBeLessThan(total);
    const again = await open(url);
    const secondRun = await subscribeOnce(again);
    await waitFor(() => seen.length >= total, 30_000, `all ${total} messages (got ${seen.length})`);
    await sleep(500);
    expect(seen.length).toBe(total);
    expect(new Set(seen).size).toBe(total);
    await secondRun.close();
    await pub.close();
  }, 120_000);
});
