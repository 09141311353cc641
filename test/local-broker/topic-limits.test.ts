/**
 * Topics with many partitions on the durable store: the partition count is bounded, segment
 * files are held open through a bounded pool (not one descriptor per partition for ever), a
 * large createTopic does not stall the event loop, and a createTopic that fails half-way
 * leaves nothing behind.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "@jest/globals";
import { openDirectoryEngine } from "@brook/local-broker";
import { LogEngine, MemoryStore } from "@brook/local-broker/engine";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "brook-topic-limits-"));
  dirs.push(dir);
  return dir;
}

const onLinux = existsSync("/proc/self/fd");
const openFds = (): number => readdirSync("/proc/self/fd").length;

/**
 * The longest the event loop was kept busy while `work` ran: between two runs of a 5 ms timer,
 * the CPU time the process spent (not the wall time, which on a machine shared with other
 * processes also counts the time this one waited for a core). A synchronous stretch of work
 * shows as CPU time between two ticks; time spent descheduled does not.
 */
async function longestStall(work: () => Promise<unknown>): Promise<number> {
  let longest = 0;
  let last = Date.now();
  let lastCpu = process.cpuUsage();
  const tick = (): void => {
    const now = Date.now();
    const cpu = process.cpuUsage(lastCpu);
    // CPU time of the libuv pool's threads counts too, but never beyond the wall time.
    longest = Math.max(longest, Math.min(now - last, (cpu.user + cpu.system) / 1000));
    last = now;
    lastCpu = process.cpuUsage();
  };
  const timer = setInterval(tick, 5);
  try {
    await work();
    tick();
  } finally {
    clearInterval(timer);
  }
  return longest;
}

describe("partitions per topic", () => {
  test("more than 1000 partitions is INVALID_ARGUMENT at once, embedded and on disk; nothing is created", async () => {
    const dir = tempDir();
    const engine = await openDirectoryEngine(dir, { fsync: "never" });
    try {
      const startedAt = Date.now();
      await expect(engine.createTopic("huge", { partitions: 10_000 })).rejects.toMatchObject({
        code: "INVALID_ARGUMENT",
        message: "partitions: expected an integer from 1 to 1000, got 10000",
      });
      expect(Date.now() - startedAt).toBeLessThan(1_000);
      expect(await engine.listTopics()).toEqual([]);
      expect(readdirSync(join(dir, "topics"))).toEqual([]);
    } finally {
      await engine.close();
    }
    const memory = await LogEngine.open(new MemoryStore());
    await expect(memory.createTopic("huge", { partitions: 1001 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await memory.close();
  });

  (onLinux ? test : test.skip)(
    "a topic of 1000 partitions holds at most maxOpenSegmentFiles descriptors, keeps the event loop moving while it is created, and reads back after a reopen",
    async () => {
      const dir = tempDir();
      const fdsBefore = openFds();
      let engine = await openDirectoryEngine(dir, { fsync: "interval" });
      const stall = await longestStall(() => engine.createTopic("wide", { partitions: 1000 }));
      expect(stall).toBeLessThan(250);
      expect(openFds() - fdsBefore).toBeLessThanOrEqual(256 + 16);
      // One record per partition (the keys are chosen so that every partition gets one).
      const byPartition = new Map<number, string>();
      for (let i = 0; byPartition.size < 1000 && i < 100_000; i++) {
        const [result] = await engine.append("wide", [{ key: `key-${i}`, idempotencyKey: undefined, headers: {}, value: Buffer.from(`value-${i}`) }]);
        if (!result!.ok) throw result!.error;
        const p = Number(result!.position.partition);
        if (!byPartition.has(p)) byPartition.set(p, `value-${i}`);
      }
      expect(byPartition.size).toBe(1000);
      expect(openFds() - fdsBefore).toBeLessThanOrEqual(256 + 16);
      await engine.close();
      expect(openFds()).toBeLessThanOrEqual(fdsBefore + 2);

      engine = await openDirectoryEngine(dir, { fsync: "interval" });
      try {
        expect(openFds() - fdsBefore).toBeLessThanOrEqual(256 + 16);
        for (let p = 0; p < 1000; p++) {
          const { records } = await engine.fetch("wide", p, 0, 1_000_000, 0);
          expect(records[0]?.value.toString()).toBe(byPartition.get(p));
        }
        expect(openFds() - fdsBefore).toBeLessThanOrEqual(256 + 16);
      } finally {
        await engine.close();
      }
    },
    120_000,
  );

  test("a createTopic that fails half-way leaves no topic, no open partitions and no files; a retry succeeds", async () => {
    const dir = tempDir();
    const engine = await openDirectoryEngine(dir, { fsync: "never" });
    try {
      const store = engine.store;
      const realOpen = store.openPartition.bind(store);
      let opened = 0;
      store.openPartition = async (topic, partition) => {
        if (partition === 5) throw new Error("simulated: too many open files");
        opened += 1;
        return realOpen(topic, partition);
      };
      await expect(engine.createTopic("half", { partitions: 8 })).rejects.toThrow(/simulated/);
      expect(opened).toBe(5);
      expect(await engine.listTopics()).toEqual([]);
      expect(readdirSync(join(dir, "topics")).filter((name) => !name.startsWith("."))).toEqual([]);
      store.openPartition = realOpen;
      await engine.createTopic("half", { partitions: 8 });
      expect((await engine.describeTopic("half")).partitions).toHaveLength(8);
    } finally {
      await engine.close();
    }
  });
});
