/**
 * A consumer process is killed with SIGKILL in the middle of its work. After a restart nothing is
 * lost, the committed position never passed a message the dead process had not acknowledged,
 * and nothing below that position is delivered again (only the window after the last commit
 * repeats).
 */
import { execFileSync, spawn } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { connect, type Broker } from "@brook/core";
import "@brook/adapter-kafka";
import { sleep, uniqueTopic, waitFor } from "@brook/contract-tests";
import kafkajs from "kafkajs";
import { useKafkaBroker } from "./broker.js";

const ROOT = path.resolve(__dirname, "..", "..");
const kafka = useKafkaBroker();
let broker: Broker;
let url: string;

beforeAll(() => {
  // The child runs the compiled packages.
  execFileSync(process.execPath, [path.join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-b"], { cwd: ROOT, stdio: "inherit" });
}, 120_000);
beforeAll(async () => {
  // A short session, so the group notices the killed member within seconds.
  url = kafka.url("clientId=crash-test&sessionTimeoutMs=6000");
  broker = await connect(url);
});
afterAll(async () => {
  await broker?.close();
});
afterAll(() => kafka.stop(), 30_000);

test("SIGKILL mid-batch: no loss, the commit never passed an unacknowledged message, nothing below it repeats", async () => {
  const topic = uniqueTopic("crash");
  const group = "crash-workers";
  const partitions = 3;
  const total = 8_000;
  const killAt = 3_000;
  await broker.admin.createTopic(topic, { partitions });
  const pub = broker.publisher<number>(topic);
  const published = new Map<string, number>(); // "p:o" -> data
  for (let i = 0; i < total; i += 1_000) {
    const results = await pub.publishBatch(Array.from({ length: 1_000 }, (_, j) => ({ key: `k${(i + j) % 200}`, data: i + j })));
    results.forEach((r, j) => {
      if (!r.ok) throw r.error;
      published.set(`${r.position.partition}:${r.position.offset}`, i + j);
    });
  }
  await pub.close();

  const acked = new Set<string>();
  const child = spawn(process.execPath, [path.join(__dirname, "crash-child.mjs"), url, topic, group], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  let buffered = "";
  child.stdout.on("data", (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split("\n");
    buffered = lines.pop() ?? "";
    for (const line of lines) {
      const [tag, p, o] = line.split(" ");
      if (tag === "ACK") acked.add(`${p}:${o}`);
    }
    // Killed from here, mid-stream: handlers are running and batches are half delivered.
    if (acked.size >= killAt && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
  try {
    await waitFor(() => acked.size >= killAt, 60_000, `the child to acknowledge ${killAt} messages (stderr: ${stderr})`);
  } finally {
    child.kill("SIGKILL");
  }
  expect(await exited).toBe("SIGKILL");
  expect(acked.size).toBeLessThan(total);

  // The group's committed offsets as the dead process left them.
  const admin = new kafkajs.Kafka({ clientId: "crash-test-admin", brokers: [kafka.brokers()], logLevel: kafkajs.logLevel.NOTHING }).admin();
  await admin.connect();
  const committed = new Map<number, bigint>();
  try {
    const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    for (const p of offsets!.partitions) committed.set(p.partition, BigInt(p.offset) < 0n ? 0n : BigInt(p.offset));
  } finally {
    await admin.disconnect();
  }
  expect([...committed.values()].some((o) => o > 0n)).toBe(true);
  // The commit never passed a message the child had not acknowledged.
  for (const [p, next] of committed) {
    for (let o = 0n; o < next; o++) expect(acked.has(`${p}:${o}`) ? "acked" : `${p}:${o} committed but never acknowledged`).toBe("acked");
  }

  // Restart: a new member of the same group takes over once the dead one's session expires.
  const redelivered: string[] = [];
  const sub = await broker.subscribe<number>(topic, {
    group,
    startFrom: "earliest",
    maxInFlight: 64,
    handler: (m) => void redelivered.push(`${m.position.partition}:${m.position.offset}`),
  });
  await waitFor(() => new Set([...acked, ...redelivered]).size >= total, 90_000, `every message handled once (got ${new Set([...acked, ...redelivered]).size})`);
  await sleep(300);

  // No loss.
  const union = new Set([...acked, ...redelivered]);
  for (const position of published.keys()) expect(union.has(position) ? "handled" : `${position} lost`).toBe("handled");
  // Nothing below the last commit is delivered again; the restart begins exactly there.
  for (let p = 0; p < partitions; p++) {
    const offsets = redelivered.filter((x) => x.startsWith(`${p}:`)).map((x) => BigInt(x.split(":")[1]!));
    const next = committed.get(p) ?? 0n;
    if (offsets.length === 0) continue;
    expect(offsets.reduce((a, b) => (b < a ? b : a))).toBe(next);
  }
  // Repeats are exactly the child's acknowledgements after its last commit.
  const repeats = redelivered.filter((x) => acked.has(x));
  for (const x of repeats) {
    const [p, o] = x.split(":");
    expect(BigInt(o!) >= (committed.get(Number(p)) ?? 0n)).toBe(true);
  }
  expect(new Set(redelivered).size).toBe(redelivered.length);
  await sub.close();
}, 240_000);
