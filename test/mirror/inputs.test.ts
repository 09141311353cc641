// Bad input to mirror / translate, a message the target cannot hold, and the CLI (progress,
// translate --dry-run, SIGINT drains and commits), on the local broker.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { DLQ_HEADERS, connect, type Broker, type ReceivedMessage } from "@brook/core";
import "@brook/local-broker";
import { uniqueTopic, waitFor } from "@brook/contract-tests";
import { mirror, translate } from "@brook/mirror";

let from: Broker;
let to: Broker;
let small: Broker;
beforeAll(() => {
  // The CLI runs from the compiled packages.
  const root = path.resolve(__dirname, "..", "..");
  execFileSync(process.execPath, [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-b"], { cwd: root, stdio: "inherit" });
}, 120_000);
beforeAll(async () => {
  from = await connect("memory:");
  to = await connect("memory:");
  small = await connect("memory:?maxMessageBytes=2000");
});
afterAll(async () => {
  await Promise.all([from?.close(), to?.close(), small?.close()]);
});

test("unknown topic on either side, the same topic on the same broker, bad options: each a BrookError naming it", async () => {
  const topic = uniqueTopic("in");
  await from.admin.createTopic(topic);
  await expect(mirror({ from, to, topics: [topic], once: true })).rejects.toMatchObject({ code: "TOPIC_NOT_FOUND", message: expect.stringContaining("to:") });
  await expect(mirror({ from, to, topics: ["no-such-topic"], toTopic: topic, once: true })).rejects.toMatchObject({ code: "TOPIC_NOT_FOUND", message: expect.stringContaining("from:") });
  await expect(mirror({ from, to: from, topics: [topic], once: true })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("toTopic") });
  await expect(mirror({ from, to, topics: [], once: true })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("topics") });
  await expect(mirror({ from, to, topics: [topic], syncEvery: 0 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("syncEvery") });
  await expect(mirror({ from, to, topics: [topic, `${topic}x`], toTopic: "x" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("toTopic") });
  await to.admin.createTopic(topic);
  await expect(mirror({ from, to, topics: [topic], deadLetterTopic: "no-such-dlq", once: true })).rejects.toMatchObject({ code: "TOPIC_NOT_FOUND" });
  await expect(translate({ from, to, topic, group: "never-consumed" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("group") });
  await expect(translate({ from, to, topic: "no-such-topic", group: "g" })).rejects.toMatchObject({ code: "TOPIC_NOT_FOUND" });
});

test("a message the target cannot hold: MESSAGE_TOO_LARGE naming its source position, and it stays unacked; with a DLQ topic it is recorded there and the copy goes on", async () => {
  const topic = uniqueTopic("big");
  await from.admin.createTopic(topic);
  await small.admin.createTopic(topic);
  const pub = from.publisher<Uint8Array>(topic, { codec: "bytes" });
  const sent = await pub.publishBatch([new Uint8Array(10), new Uint8Array(5_000), new Uint8Array(20)].map((data, i) => ({ key: `k${i}`, data })));
  const big = sent[1]!.ok ? sent[1]!.position : undefined;
  await expect(mirror({ from, to: small, topics: [topic], once: true })).rejects.toMatchObject({
    code: "MESSAGE_TOO_LARGE",
    message: expect.stringContaining(`partition ${big!.partition} offset ${big!.offset}`),
  });
  // Not acknowledged on the source: the mirror's group did not pass it.
  const positions = await from.admin.groupPositions(topic, `brook-mirror.${topic}`);
  expect(positions.every((p) => p.committed === undefined || BigInt(p.committed) < BigInt(big!.offset))).toBe(true);

  const dlq = uniqueTopic("big-dlq");
  await small.admin.createTopic(dlq);
  const result = await mirror({ from, to: small, topics: [topic], once: true, deadLetterTopic: dlq });
  expect(result.deadLettered).toBe(1);
  const copies: ReceivedMessage<Uint8Array>[] = [];
  const dead: ReceivedMessage<Uint8Array>[] = [];
  await small.subscribe<Uint8Array>(topic, { group: "v", startFrom: "earliest", codec: "bytes", handler: (m) => void copies.push(m) });
  await small.subscribe<Uint8Array>(dlq, { group: "v", startFrom: "earliest", codec: "bytes", handler: (m) => void dead.push(m) });
  await waitFor(() => dead.length === 1 && new Set(copies.map((c) => c.key)).size === 2, 10_000, "two copies and one dead letter");
  expect([...new Set(copies.map((c) => c.key))].sort()).toEqual(["k0", "k2"]);
  expect(dead[0]!.headers[DLQ_HEADERS.originalTopic]).toBe(topic);
  expect(dead[0]!.headers[DLQ_HEADERS.originalPosition]).toBe(`${big!.partition}/${big!.offset}`);
  expect(dead[0]!.headers[DLQ_HEADERS.reason]).toContain("MESSAGE_TOO_LARGE");
  await pub.close();
});

test("brook mirror: progress lines, --once ends with a summary; translate --dry-run prints the plan; SIGINT drains and commits", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "brook-mirror-cli-"));
  try {
    const src = `local:${path.join(dir, "src")}`;
    const dst = `local:${path.join(dir, "dst")}`;
    const a = await connect(src);
    await a.admin.createTopic("t", { partitions: 2 });
    await a.publisher<{ i: number }>("t").publishBatch(Array.from({ length: 2_000 }, (_, i) => ({ key: `k${i % 5}`, data: { i } })));
    const g = await a.subscribe<{ i: number }>("t", { group: "g", startFrom: "earliest", commitIntervalMs: 10, handler: (m) => (m.data.i < 500 ? undefined : new Promise<void>(() => undefined)) });
    await waitFor(async () => (await a.admin.groupPositions("t", "g")).length > 0, 10_000, "g's position");
    await g.close({ drain: false });
    await a.close();
    const b = await connect(dst);
    await b.admin.createTopic("t", { partitions: 3 });
    await b.close();

    const once = await brook(["mirror", "--from", src, "--to", dst, "--topic", "t", "--once", "--sync-every", "100"]);
    expect(once.code).toBe(0);
    expect(once.stdout).toMatch(/mirrored \d+ \(\d+ msg\/s\) lag .* done/);
    expect(once.stdout).toContain("mirrored 2000 messages");

    const plan = await brook(["mirror", "translate", "--from", src, "--to", dst, "--topic", "t", "--group", "g", "--dry-run"]);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/partition\s+source position/);
    expect(plan.stdout).toContain("dry run: nothing changed");

    const usage = await brook(["mirror", "translate", "--from", src, "--to", dst, "--topic", "t"]);
    expect(usage.code).toBe(1);
    expect(usage.stderr).toContain("--group");

    // A continuous mirror stops on SIGINT after draining: what it copied is committed on the source.
    const running = brook(["mirror", "--from", src, "--to", dst, "--topic", "t", "--group", "second"], (child, out) => {
      if (out.includes("mirrored") && !child.killed) child.kill("SIGINT");
    });
    const stopped = await running;
    expect(stopped.code).toBe(0);
    expect(stopped.stderr).toContain("draining");
    const check = await connect(src);
    const committed = await check.admin.groupPositions("t", "second");
    await check.close();
    const copied = Number(/mirrored (\d+) messages/.exec(stopped.stdout)?.[1] ?? "-1");
    expect(copied).toBeGreaterThan(0);
    expect(committed.reduce((n, p) => n + (p.committed === undefined ? 0 : Number(p.committed) + 1), 0)).toBe(copied);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);

const CLI = path.resolve(__dirname, "..", "..", "packages", "cli", "dist", "main.js");

function brook(args: string[], onOutput?: (child: ReturnType<typeof spawn>, stdout: string) => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const guard = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`brook ${args.join(" ")} did not finish in 60 s:\n${stdout}\n${stderr}`));
    }, 60_000);
    child.stdout!.on("data", (c: Buffer) => {
      stdout += c.toString();
      onOutput?.(child, stdout);
    });
    child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
    child.once("exit", (code) => {
      clearTimeout(guard);
      resolve({ code, stdout, stderr });
    });
  });
}
