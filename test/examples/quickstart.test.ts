/**
 * The README's quickstart is examples/quickstart/src/main.ts, shown verbatim: this runs that
 * file (built) as a user would, on each backend, and checks that it printed the message it
 * published and exited by itself.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "@jest/globals";
import { connect, silentLogger } from "@brook/core";
import "@brook/local-broker";
import { createHubs, eventHubsStarted, eventHubsUrl, ownEventHubs, uniqueContainer } from "../eventhubs/backend.js";
import { takingTurns } from "./turns.js";

const root = join(__dirname, "..", "..");
const source = join(root, "examples/quickstart/src/main.ts");
const main = join(root, "examples/quickstart/dist/main.js");

beforeAll(() => {
  const build = spawnSync("npx", ["tsc", "-b", "examples/quickstart"], { cwd: root, encoding: "utf8" });
  if (build.status !== 0 && !existsSync(main)) throw new Error(`tsc -b examples/quickstart failed:\n${build.stdout}${build.stderr}`);
}, 120_000);

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the quickstart in `cwd` (default URL local:./data there) unless BROOK_URL is given. */
function runQuickstart(cwd: string, url?: string): Run {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.BROOK_URL;
  if (url !== undefined) env.BROOK_URL = url;
  // process.execPath: the quickstart runs on the Node under test (the root runner tests Node 20 and 24).
  const r = spawnSync(process.execPath, [main], { cwd, env, encoding: "utf8", timeout: 60_000, killSignal: "SIGKILL" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * stderr lines that are not a failure: Brook's own warnings (the Pub/Sub emulator's history
 * note) and Node 24's TimeoutNegativeWarning that KafkaJS 2.2.4 triggers (clamped to 1 ms).
 */
const EXPECTED_STDERR = [/^\[brook\] /, /TimeoutNegativeWarning/, /^Timeout duration was set to 1\.$/, /^\(Use `node --trace-warnings/];

function expectBilled(run: Run): void {
  // console.log breaks a long position (Kinesis' shard ids and sequence numbers) over lines.
  const published = /^published \{\s+partition: '(\S+)',\s+offset: '(\S+)'\s+\}$/m.exec(run.stdout);
  const unexpected = run.stderr.split("\n").filter((line) => line !== "" && !EXPECTED_STDERR.some((re) => re.test(line)));
  expect({ status: run.status, stderr: unexpected, published: published !== null }).toEqual({ status: 0, stderr: [], published: true });
  // The handler printed the message that was published (same position), before the process ended.
  const literal = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); // Pub/Sub's partition is "*"
  expect(run.stdout).toMatch(new RegExp(`^billed cust-42 12 \\{\\s+partition: '${literal(published![1]!)}',\\s+offset: '${literal(published![2]!)}'\\s+\\}$`, "m"));
}

function withTempDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "brook-quickstart-"));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("the data directories the README, the quickstart and the demo create are git-ignored", () => {
  // quickstart: local:./data (from the root, or examples/quickstart's `npm start`); demo:
  // local:./.brook-data; README: brook serve --dir ./data.
  const paths = ["data/orders/0/00000000000000000000.log", "examples/quickstart/data/LOCK", ".brook-data/LOCK", "examples/orders/.brook-data/LOCK"];
  const r = spawnSync("git", ["check-ignore", "--no-index", ...paths], { cwd: root, encoding: "utf8" });
  expect(r.stdout.trim().split("\n").sort()).toEqual([...paths].sort());
  // and the sources are not
  const sources = spawnSync("git", ["check-ignore", "--no-index", "examples/quickstart/src/main.ts", "packages/local-broker/src/index.ts"], { cwd: root, encoding: "utf8" });
  expect(sources.stdout).toBe("");
});

describe("the README quickstart", () => {
  test("the README shows examples/quickstart/src/main.ts verbatim", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## Quickstart"));
    const block = /```ts\n([\s\S]*?)```/.exec(section);
    expect(block).not.toBeNull();
    expect(block![1]).toBe(readFileSync(source, "utf8"));
  });

  test("on its default URL (local:./data in the working directory) it prints the billed order, twice in a row", () => {
    withTempDir((dir) => {
      expectBilled(runQuickstart(dir));
      expect(existsSync(join(dir, "data"))).toBe(true);
      // A second run on the same data (group "billing" has a committed position) bills its own order.
      const again = runQuickstart(dir);
      expectBilled(again);
      expect(again.stdout.match(/^billed /gm)).toHaveLength(1);
    });
  }, 120_000);

  test("on memory:", () => {
    withTempDir((dir) => expectBilled(runQuickstart(dir, "memory:")));
  }, 60_000);

  test("SIGTERM drains: the handled messages are committed, the broker closes and the process exits 0", async () => {
    const dir = mkdtempSync(join(tmpdir(), "brook-quickstart-"));
    const url = `local:${dir}/data`;
    try {
      // A backlog for group "billing" on one key (one partition): the quickstart is still working
      // through it when SIGTERM comes, so the drain is what ends it (without a backlog the
      // process could be ending by itself as the signal lands, and Node's teardown restores the
      // default SIGTERM action).
      const backlog = 100_000;
      const seed = await connect(url, { logger: silentLogger });
      await seed.admin.createTopic("orders", { partitions: 4 });
      let first!: () => void;
      const seeded = new Promise<void>((resolve) => (first = resolve));
      const seedSub = await seed.subscribe<{ total: number }>("orders", { group: "billing", handler: () => first() });
      const pub = seed.publisher<{ total: number }>("orders");
      const { position: head } = await pub.publish({ key: "cust-1", data: { total: 1 } });
      await seeded;
      await seedSub.close({ drain: true });
      for (let i = 0; i < backlog; i += 10_000) {
        const results = await pub.publishBatch(Array.from({ length: 10_000 }, () => ({ key: "cust-1", data: { total: 1 } })));
        expect(results.every((r) => r.ok)).toBe(true);
      }
      expect(await seed.admin.groupPositions("orders", "billing")).toContainEqual({ partition: head.partition, committed: head.offset });
      await seed.close();

      const child = spawn(process.execPath, [main], { cwd: dir, env: { ...process.env, BROOK_URL: url }, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      let signalled = false;
      child.stdout.on("data", (d) => {
        out += d;
        // The SIGTERM handler is installed before the publish: send it once "published" shows.
        if (!signalled && out.includes("published")) {
          signalled = true;
          child.kill("SIGTERM");
        }
      });
      child.stderr.on("data", (d) => (err += d));
      const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (c, s) => resolve({ code: c, signal: s })));
      expect({ signalled, code, signal, err }).toEqual({ signalled: true, code: 0, signal: null, err: "" });
      expect(out).toMatch(/^SIGTERM: draining$/m);
      const handled = out.match(/^billed cust-1 1 /gm)?.length ?? 0;
      expect(handled).toBeLessThan(backlog); // it was stopped mid-backlog, not at its end
      // The directory lock is released: the broker was closed, not abandoned.
      expect(existsSync(join(dir, "data", "LOCK"))).toBe(false);
      // Drained means committed: the group stands exactly after the messages the handler finished.
      const after = await connect(url, { logger: silentLogger });
      try {
        const committed = (await after.admin.groupPositions("orders", "billing")).find((p) => p.partition === head.partition)?.committed;
        expect(BigInt(committed ?? "-1")).toBe(BigInt(head.offset) + BigInt(handled));
      } finally {
        await after.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

// The same file on the real backends the root test runner starts (skipped, and reported as
// skipped, when a developer runs this file alone without them).
const kafka = process.env.BROOK_TEST_KAFKA_BROKERS;
const pubsubHost = process.env.BROOK_TEST_PUBSUB_HOST;

(kafka === undefined ? test.skip : test)("the quickstart runs unchanged on Kafka", () => {
  // Turns: the orders demo's test uses the same topic and group on this Kafka.
  takingTurns(`kafka ${kafka}`, () => withTempDir((dir) => expectBilled(runQuickstart(dir, `kafka://${kafka}?clientId=quickstart`))));
}, 400_000);

(pubsubHost === undefined ? test.skip : test)("the quickstart runs unchanged on Pub/Sub (emulator)", () => {
  withTempDir((dir) => expectBilled(runQuickstart(dir, `pubsub://brook-quickstart?emulatorHost=${pubsubHost}`)));
}, 90_000);

const kinesisEndpoint = process.env.BROOK_TEST_KINESIS_ENDPOINT;
const dynamoEndpoint = process.env.BROOK_TEST_DYNAMO_ENDPOINT;
(kinesisEndpoint === undefined || dynamoEndpoint === undefined ? test.skip : test)("the quickstart runs unchanged on Kinesis (kinesis-local + dynalite)", () => {
  const url = `kinesis://us-east-1?endpoint=${encodeURIComponent(kinesisEndpoint!)}&dynamoEndpoint=${encodeURIComponent(dynamoEndpoint!)}&pollIntervalMs=200`;
  takingTurns(`kinesis ${kinesisEndpoint}`, () => withTempDir((dir) => expectBilled(runQuickstart(dir, url))));
}, 400_000);

// Event Hubs: a test server of this file's own (the orders demo uses the same hub and group names
// on the root runner's). The hubs are made beforehand, as in Azure; the quickstart's
// createTopic(…, { ifNotExists: true }) accepts them without a hubManager.
const eventhubs = ownEventHubs();
(eventHubsStarted ? test : test.skip)("the quickstart runs unchanged on Event Hubs (test server + Azurite)", async () => {
  await createHubs(eventhubs.controlUrl, { orders: 4, "orders.dlq": 1 });
  const url = eventHubsUrl(eventhubs, uniqueContainer("quickstart"));
  withTempDir((dir) => expectBilled(runQuickstart(dir, url)));
}, 120_000);
