/**
 * kcat (librdkafka) against kafka-wire: metadata (-L), produce with keys and headers (-P),
 * reads by offset and by time (-C -o), and a consumer group of two kcat members (-G) that gets
 * every message once. kcat comes from Debian's `kcat` package (.ci/run installs it); without
 * it, outside CI, these tests are skipped with a note.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { startKafkaWire, type KafkaWireServer } from "@brook/kafka-wire";
import { LogEngine, MemoryStore } from "@brook/local-broker/engine";

const hasKcat = spawnSync("kcat", ["-V"], { encoding: "utf8" }).status === 0;
if (!hasKcat && process.env.CI !== undefined) throw new Error("kcat is not installed (Debian package kcat; .ci/run installs it)");
if (!hasKcat) console.warn("kcat is not installed: the kcat tests are skipped (apt-get install -y kcat)");
const maybe = hasKcat ? describe : describe.skip;

let engine: LogEngine;
let server: KafkaWireServer;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  engine = await LogEngine.open(new MemoryStore());
  server = await startKafkaWire({ engine, port: 0, logger: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined } });
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  await server.close();
  await engine.close();
});

/** Runs kcat to its exit (bounded) with `input` on stdin. */
function kcat(args: string[], input = ""): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("kcat", ["-b", server.address, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    children.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`kcat ${args.join(" ")} did not exit in 15 s: ${stdout} ${stderr}`));
    }, 15_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

async function waitFor(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

maybe("kcat against kafka-wire", () => {
  it("lists the broker and topics (-L), produces keys and headers (-P) into the engine, reads them back by offset and by time (-C)", async () => {
    await engine.createTopic("kc-basic", { partitions: 2 }, false);
    const meta = await kcat(["-L", "-t", "kc-basic"]);
    expect(meta.code).toBe(0);
    expect(meta.stdout).toContain(`broker 0 at ${server.address}`);
    expect(meta.stdout).toContain('topic "kc-basic" with 2 partitions');

    const produced = await kcat(["-P", "-t", "kc-basic", "-p", "1", "-K", ":", "-H", "trace=t1"], "k1:one\nk2:two\n");
    expect(produced.code).toBe(0);
    const stored = await engine.fetch("kc-basic", 1, 0, 10, 0);
    expect(stored.records.map((r) => [r.offset, r.key?.toString(), r.value.toString(), r.headers])).toEqual([
      [0, "k1", "one", { trace: "t1" }],
      [1, "k2", "two", { trace: "t1" }],
    ]);
    await new Promise((r) => setTimeout(r, 5));
    const later = Date.now();
    await engine.append("kc-basic", [{ key: "k3", idempotencyKey: undefined, headers: {}, value: Buffer.from("three") }], { partition: 1 });

    const all = await kcat(["-C", "-t", "kc-basic", "-p", "1", "-o", "beginning", "-e", "-f", "%o %k %s\\n"]);
    expect(all.stdout.trim().split("\n")).toEqual(["0 k1 one", "1 k2 two", "2 k3 three"]);
    const byOffset = await kcat(["-C", "-t", "kc-basic", "-p", "1", "-o", "1", "-c", "1", "-f", "%o %s\\n"]);
    expect(byOffset.stdout).toBe("1 two\n");
    const byTime = await kcat(["-C", "-t", "kc-basic", "-p", "1", "-o", `s@${later}`, "-e", "-f", "%o %s\\n"]);
    expect(byTime.stdout).toBe("2 three\n");
  }, 60_000);

  it("two kcat members of one group (-G) split the partitions and get every message once", async () => {
    await engine.createTopic("kc-group", { partitions: 4 }, false);
    const members = ["A", "B"].map((name) => {
      const child = spawn("kcat", ["-b", server.address, "-u", "-G", "kc-g", "-X", "auto.offset.reset=earliest", "-X", "session.timeout.ms=6000", "-f", `${name} %p %o %s\\n`, "kc-group"], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      children.add(child);
      const m = { name, child, out: "", assigned: [] as number[] };
      child.stdout.on("data", (d) => (m.out += d));
      child.stderr.on("data", (d: Buffer) => {
        for (const line of d.toString().split("\n")) {
          const match = /assigned: (.*)$/.exec(line);
          if (match) m.assigned = [...match[1]!.matchAll(/kc-group \[(\d+)\]/g)].map((x) => Number(x[1]));
          else if (/revoked/.test(line)) m.assigned = [];
        }
      });
      return m;
    });
    try {
      await waitFor("both kcat members assigned, disjoint, all four partitions", () => {
        const [a, b] = members.map((m) => m.assigned);
        return a!.length > 0 && b!.length > 0 && new Set([...a!, ...b!]).size === 4 && a!.length + b!.length === 4;
      });
      const results = await engine.append("kc-group", Array.from({ length: 40 }, (_, i) => ({ key: `key-${i}`, idempotencyKey: undefined, headers: {}, value: Buffer.from(`m${i}`) })));
      expect(results.every((r) => r.ok)).toBe(true);
      const lines = () => members.flatMap((m) => m.out.split("\n").filter((l) => l !== ""));
      await waitFor("40 messages through kcat", () => lines().length >= 40);
      await new Promise((r) => setTimeout(r, 300)); // a duplicate would show up here
      const got = lines().map((l) => l.split(" "));
      expect(got).toHaveLength(40);
      expect(new Set(got.map((g) => g[3])).size).toBe(40);
      for (const [name, partition] of got) expect(members.find((m) => m.name === name)!.assigned).toContain(Number(partition));
      expect(new Set(got.map((g) => g[0]))).toEqual(new Set(["A", "B"]));
    } finally {
      for (const m of members) {
        const exited = new Promise((r) => m.child.once("exit", r));
        m.child.kill("SIGTERM");
        await exited;
        children.delete(m.child);
      }
    }
  }, 60_000);
});
