/**
 * Workers in separate processes, as a team runs them. Three workers share a stream; one is
 * killed with SIGKILL: its leases are taken once they expire and nothing is lost (only what it
 * handled after its last checkpoint repeats). A fourth joins and steals until the group is
 * balanced, handing leases over without repeats. A worker that closes hands its shards over at
 * once (not after an expiry), again without repeats. Keys stay in order throughout.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { connect } from "@brook/core";
import type { KinesisBroker } from "@brook/adapter-kinesis";
import { compareSequence, parseOffset } from "@brook/adapter-kinesis";
import { sleep, uniqueTopic, waitFor } from "@brook/contract-tests";
import { describeKinesis, stopAfterAll, useKinesis } from "./emulator.js";
import { KeyLog, rawClients, scanTable } from "./helpers.js";

const ROOT = path.resolve(__dirname, "..", "..");
const FAILOVER_MS = 4_000;

interface Ack {
  worker: string;
  shard: string;
  offset: string;
  key: string;
  i: number;
  at: number;
}

class Worker {
  readonly owned: string[][] = [];
  /** when each assignment was reported (the parent's clock) */
  readonly ownedAt: number[] = [];
  readyAt = 0;
  closedAt = 0;
  private readonly child: ChildProcess;
  private stderr = "";
  readonly exited: Promise<NodeJS.Signals | null>;

  constructor(
    readonly name: string,
    url: string,
    topic: string,
    group: string,
    acks: Ack[],
    options: Record<string, unknown> = {},
  ) {
    this.child = spawn(process.execPath, [path.join(__dirname, "worker-child.mjs"), url, topic, group, name, JSON.stringify(options)], { stdio: ["ignore", "pipe", "pipe"] });
    this.child.stderr!.on("data", (chunk: Buffer) => (this.stderr += chunk.toString()));
    let buffered = "";
    this.child.stdout!.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) {
        const [tag, , a, b, c, d] = line.split(" ");
        if (tag === "ACK") acks.push({ worker: name, shard: a!, offset: b!, key: c!, i: Number(d), at: Date.now() });
        else if (tag === "OWN") {
          this.owned.push(JSON.parse(line.slice(line.indexOf("["))) as string[]);
          this.ownedAt.push(Date.now());
        }
        else if (tag === "READY") this.readyAt = Date.now();
        else if (tag === "CLOSED") this.closedAt = Date.now();
      }
    });
    this.exited = new Promise((resolve) => this.child.on("exit", (_code, signal) => resolve(signal)));
  }

  get shards(): string[] {
    return this.owned[this.owned.length - 1] ?? [];
  }

  get log(): string {
    return this.stderr;
  }

  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

describeKinesis("workers in separate processes", () => {
  const k = useKinesis();
  const workers: Worker[] = [];
  let broker: KinesisBroker;
  let raw: ReturnType<typeof rawClients>;

  beforeAll(() => {
    // The workers run the compiled packages.
    execFileSync(process.execPath, [path.join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-b"], { cwd: ROOT, stdio: "inherit" });
  }, 120_000);
  beforeAll(async () => {
    broker = (await connect(k.url())) as KinesisBroker;
    raw = rawClients(k);
  });
  afterAll(async () => {
    for (const w of workers) w.kill("SIGKILL");
    await Promise.all(workers.map((w) => w.exited));
    await broker?.close();
    raw?.close();
  });
  stopAfterAll(k);

  test("SIGKILL: leases taken after expiry, nothing lost; a fourth worker steals to balance; a closing worker hands over at once; keys in order", async () => {
    const topic = uniqueTopic("crash");
    const group = "crashers";
    const shardCount = 6;
    await broker.admin.createTopic(topic, { partitions: shardCount });
    const url = k.url(`&failoverTimeMs=${FAILOVER_MS}&takeIntervalMs=1000&pollIntervalMs=200&leaseTable={group}-{topic}`);
    const acks: Ack[] = [];
    const start = (name: string): Worker => {
      const w = new Worker(name, url, topic, group, acks);
      workers.push(w);
      return w;
    };
    const pub = broker.publisher<{ k: string; i: number }>(topic);
    const keys = 60;
    let round = 0;
    /** positions of every published message, "key#i" → shard and offset */
    const published = new Map<string, { shard: string; offset: string }>();
    const publishRounds = async (rounds: number): Promise<string[]> => {
      const ids: string[] = [];
      for (let r = 0; r < rounds; r++, round++) {
        const batch = Array.from({ length: keys }, (_, n) => ({ key: `key-${n}`, data: { k: `key-${n}`, i: round } }));
        const results = await pub.publishBatch(batch);
        results.forEach((res, n) => {
          if (!res.ok) throw res.error;
          published.set(`key-${n}#${round}`, { shard: res.position.partition, offset: res.position.offset });
          ids.push(`key-${n}#${round}`);
        });
        await sleep(20);
      }
      return ids;
    };
    const handled = (ids: string[]): boolean => {
      const seen = new Set(acks.map((a) => `${a.key}#${a.i}`));
      return ids.every((id) => seen.has(id));
    };
    const whoHandled = (id: string): string[] => acks.filter((a) => `${a.key}#${a.i}` === id).map((a) => a.worker);
    const allShards = (): string[] => [...new Set(live().flatMap((w) => w.shards))].sort();
    let killed: Worker | undefined;
    const live = (): Worker[] => workers.filter((w) => w !== killed && w.closedAt === 0);

    // Three workers share the stream.
    const [w1, w2, w3] = [start("w1"), start("w2"), start("w3")];
    await waitFor(() => [w1, w2, w3].every((w) => w.shards.length > 0) && allShards().length === shardCount, 60_000, `three workers owning all ${shardCount} shards (${workers.map((w) => `${w.name}: ${w.shards}`).join("; ")})`);
    // Killed while messages flow: handlers run and acknowledgements wait for the next commit.
    const publishingA = publishRounds(10);
    await waitFor(() => acks.length >= 150, 60_000, "the first messages handled");

    // SIGKILL one of them mid-stream.
    const victim = [w1, w2, w3].sort((a, b) => b.shards.length - a.shards.length)[0]!;
    const victimShards = victim.shards;
    victim.kill("SIGKILL");
    killed = victim;
    const killedAt = Date.now();
    expect(await victim.exited).toBe("SIGKILL");
    // Its checkpoints as it left them never pass a message it had not acknowledged.
    const table = `${group}-${topic}`;
    const items = await scanTable(raw.dynamo, table);
    for (const item of items) {
      if (item.leaseOwner?.S === undefined || !victimShards.includes(item.shardId!.S!)) continue;
      const checkpoint = item.checkpoint!.S!;
      if (!/^\d+$/.test(checkpoint)) continue;
      for (const [id, pos] of published) {
        if (pos.shard !== item.shardId!.S || compareSequence(parseOffset(pos.offset).sequence, checkpoint) > 0) continue;
        expect(whoHandled(id).length > 0 ? "acked" : `${id} checkpointed but never acknowledged`).toBe("acked");
      }
    }
    const phaseA = await publishingA;
    const phaseB = await publishRounds(10);
    await waitFor(() => handled([...phaseA, ...phaseB]), 90_000, "every message of the first two phases handled");
    await waitFor(() => allShards().length === shardCount, 30_000, "the live workers to own every shard");
    // The dead worker's shards moved only after its leases expired.
    const firstAfterKill = Math.min(...acks.filter((a) => a.worker !== victim.name && victimShards.includes(a.shard) && a.at > killedAt).map((a) => a.at));
    expect(firstAfterKill - killedAt).toBeGreaterThan(FAILOVER_MS / 2);

    // A fourth worker joins and steals until it has a share.
    const w4 = start("w4");
    await waitFor(() => w4.shards.length >= 1 && live().every((w) => w.shards.length >= 1) && allShards().length === shardCount, 60_000, `w4 to own a share (${live().map((w) => `${w.name}: ${w.shards}`).join("; ")})`);
    const phaseC = await publishRounds(5);
    await waitFor(() => handled(phaseC), 60_000, "the third phase handled");

    // A worker closes: its shards move at once, without repeats.
    const leaver = live().find((w) => w !== w4 && w.shards.length > 0)!;
    const leaverShards = leaver.shards;
    const leavingAt = Date.now();
    leaver.kill("SIGTERM");
    await leaver.exited;
    expect(leaver.closedAt).toBeGreaterThan(0);
    const publishingD = publishRounds(5);
    await waitFor(() => leaverShards.every((s) => live().some((w) => w.shards.includes(s))), 30_000, `the leaver's shards ${leaverShards} to be owned again`);
    // When each of its shards was first reported owned by another worker after it was told to
    // close (OWN lines carry their arrival time, so publishing meanwhile does not count; a
    // taker may report before the leaver's CLOSED line arrives).
    const takenAt = (shard: string): number =>
      Math.min(...live().flatMap((w) => w.owned.map((own, n) => (own.includes(shard) && w.ownedAt[n]! >= leavingAt ? w.ownedAt[n]! : Infinity))));
    const takenOverAt = Math.max(...leaverShards.map(takenAt));
    expect(takenOverAt - leaver.closedAt).toBeLessThan(FAILOVER_MS);
    const phaseD = await publishingD;
    await waitFor(() => handled(phaseD), 60_000, "the last phase handled");
    await sleep(500);

    // Nothing lost.
    for (const id of published.keys()) expect(whoHandled(id).length > 0 ? "handled" : `${id} lost`).toBe("handled");
    // Only what the killed worker handled after its last checkpoint repeats; steals and the
    // graceful close repeat nothing.
    const repeats = [...published.keys()].filter((id) => whoHandled(id).length > 1);
    for (const id of repeats) expect(whoHandled(id)).toContain(victim.name);
    for (const id of [...phaseC, ...phaseD]) expect(whoHandled(id)).toHaveLength(1);
    // Per key, no message ran before an earlier one (a repeat may follow; a jump ahead may not).
    const order = new KeyLog();
    for (const a of acks) order.record(a.key, a.i);
    expect(order.reordered()).toEqual([]);
    for (const w of workers) if (w !== victim && w.closedAt === 0 && w.log.length > 0) expect(w.log).not.toMatch(/Error/);
    await pub.close();
  }, 240_000);

  test("a group that starts from latest and dies before its first checkpoint loses nothing: the next owner starts where the first reader did", async () => {
    const topic = uniqueTopic("latest-crash");
    const group = "late-starters";
    await broker.admin.createTopic(topic, { partitions: 1 });
    const url = k.url(`&failoverTimeMs=${FAILOVER_MS}&takeIntervalMs=1000&pollIntervalMs=200&leaseTable={group}-{topic}`);
    const acks: Ack[] = [];
    // No checkpoint for a minute: everything it handles is uncommitted when it dies.
    const first = new Worker("first", url, topic, group, acks, { startFrom: "latest", commitIntervalMs: 60_000 });
    workers.push(first);
    await waitFor(() => first.shards.length === 1, 30_000, `the first worker to read the shard (${first.log})`);
    const pub = broker.publisher<{ k: string; i: number }>(topic);
    const results = await pub.publishBatch(Array.from({ length: 20 }, (_, i) => ({ key: `key-${i % 3}`, data: { k: `key-${i % 3}`, i } })));
    expect(results.every((r) => r.ok)).toBe(true);
    await waitFor(() => acks.length >= 20, 30_000, "the first worker to handle all 20");
    first.kill("SIGKILL");
    await first.exited;
    const again: number[] = [];
    const next = await connect(url);
    const second = await next.subscribe<{ k: string; i: number }>(topic, { group, startFrom: "latest", handler: (m) => void again.push(m.data.i) });
    try {
      await waitFor(() => again.length >= 20, 60_000, `the second worker to handle the 20 again (got ${again.length})`);
      expect([...again].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    } finally {
      await second.close();
      await next.close();
      await pub.close();
    }
  }, 120_000);
});
