// `brook serve --push topic:group=url`: the local broker server itself pushes a group's messages
// to an HTTP endpoint in the Pub/Sub push envelope. The receiving side is the same push service
// as on Pub/Sub (createPushHandler behind plain node http). What is checked: every message
// arrives, a failing or silent endpoint is retried with growing back-off and then dead-lettered,
// one key's messages arrive in order, the token is sent, and a server killed and restarted
// resumes at the group's committed positions without losing a message.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import { connect, createPushHandler, DLQ_HEADERS, silentLogger, type Broker, type MessageHandler, type ReceivedMessage } from "@brook/core";
import { startServer } from "@brook/local-broker";
import { LogEngine, MemoryStore } from "@brook/local-broker/engine";
import { waitFor } from "@brook/contract-tests";

const root = join(__dirname, "..", "..");
const main = join(root, "packages/cli/dist/main.js");
const TOKEN = "push-secret";

interface Endpoint {
  url: string;
  server: Server;
  /** requests answered, by status */
  statuses: number[];
}

/**
 * The push service: createPushHandler (one attempt per request: the server retries) behind node
 * http, checking the token. `holdMs(body)` may delay a request's answer (a silent endpoint).
 */
async function pushService<T>(handler: MessageHandler<T>, holdMs: (body: string) => number = () => 0): Promise<Endpoint> {
  const push = createPushHandler<T>(handler, { retry: { maxAttempts: 1 }, verify: (req) => req.headers.authorization === `Bearer ${TOKEN}` });
  const statuses: number[] = [];
  const server = createServer((req, res) => {
    res.once("finish", () => statuses.push(res.statusCode));
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.once("end", () => {
      const body = Buffer.concat(chunks);
      // The handler reads the body we already took: hand it a replay with the same method and headers.
      const replay = Object.assign(Readable.from([body]), { method: req.method, headers: req.headers, url: req.url }) as unknown as IncomingMessage;
      const hold = holdMs(body.toString());
      if (hold === 0) return push(replay, res);
      // A hung service: it answers late, or never if the caller gave up (closed the connection) first.
      const timer = setTimeout(() => push(replay, res), hold);
      res.once("close", () => clearTimeout(timer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, statuses, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/push` };
}

/** The number in a push body's JSON data ({ n }). */
const nOf = (body: string): number => (JSON.parse(Buffer.from((JSON.parse(body) as { message: { data: string } }).message.data, "base64").toString()) as { n: number }).n;

const stopEndpoint = (e: Endpoint | undefined): Promise<void> =>
  new Promise((resolve) => {
    if (e === undefined) return resolve();
    e.server.closeAllConnections();
    e.server.close(() => resolve());
  });

interface Serve {
  child: ChildProcess;
  url: string;
  out: () => string;
}

const running = new Set<ChildProcess>();

async function serve(args: string[]): Promise<Serve> {
  const child = spawn(process.execPath, [main, "serve", "--port", "0", ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  await waitFor(() => /listening on brook:\/\//.test(out) || child.exitCode !== null, 30_000, `brook serve to listen (${out})`);
  const m = /listening on (brook:\/\/\S+)/.exec(out);
  if (m === null) throw new Error(`brook serve did not start: ${out}`);
  return { child, url: m[1]!, out: () => out };
}

async function stopServe(s: Serve | undefined, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (s === undefined) return;
  const child = s.child;
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill(signal);
    await exited;
  }
  running.delete(child);
}

/** `brook serve …` expected to fail at start: its exit code and stderr. */
function serveFails(args: string[]): { code: number | null; stderr: string } {
  const run = spawnSync(process.execPath, [main, "serve", "--port", "0", ...args], { cwd: root, encoding: "utf8", timeout: 30_000 });
  return { code: run.status, stderr: run.stderr };
}

let dir = "";
let broker: Broker | undefined;
let endpoint: Endpoint | undefined;
let server: Serve | undefined;

beforeAll(async () => {
  const build = spawnSync("npx", ["tsc", "-b", "packages/cli"], { cwd: root, encoding: "utf8" });
  if (build.status !== 0 && !existsSync(main)) throw new Error(`tsc -b packages/cli failed:\n${build.stdout}${build.stderr}`);
  dir = mkdtempSync(join(tmpdir(), "brook-serve-push-"));
  // Push subscriptions need their topics at start: create them on a first run of the server.
  const first = await serve(["--dir", dir]);
  const admin = await connect(first.url, { logger: silentLogger });
  try {
    await admin.admin.createTopic("orders", { partitions: 3 });
    await admin.admin.createTopic("orders.dlq");
    await admin.admin.createTopic("events", { partitions: 2 });
  } finally {
    await admin.close();
    await stopServe(first);
  }
}, 180_000);

afterEach(async () => {
  await broker?.close();
  broker = undefined;
  await stopServe(server, "SIGKILL");
  server = undefined;
  await stopEndpoint(endpoint);
  endpoint = undefined;
});

afterAll(async () => {
  for (const child of running) child.kill("SIGKILL");
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
});

describe("brook serve --push", () => {
  test("every message is pushed with its key, headers and idempotency key, one key's in order; a 500 or a silent endpoint is retried with growing back-off, then dead-lettered", async () => {
    type Order = { n: number };
    const delivered: ReceivedMessage<Order>[] = [];
    const attemptsAt = new Map<number, number[]>();
    let hangOnce = true;
    endpoint = await pushService<Order>((m) => {
      const times = attemptsAt.get(m.data.n) ?? [];
      times.push(Date.now());
      attemptsAt.set(m.data.n, times);
      if (m.data.n === 13 && times.length <= 2) throw new Error("busy"); // two failed attempts, then it goes through
      if (m.data.n === 29) throw new Error("cannot ship this one"); // fails every time
      delivered.push(m);
    }, (body) => {
      // The first push of n = 41 would be answered only after the server's 3 s timeout.
      if (nOf(body) !== 41 || !hangOnce) return 0;
      hangOnce = false;
      return 30_000;
    });

    server = await serve([
      "--dir", dir,
      "--push", `orders:shipping=${endpoint.url}`,
      "--push-token", TOKEN,
      "--push-attempts", "4",
      "--push-min-delay-ms", "50",
      "--push-max-delay-ms", "2000",
      "--push-timeout-ms", "3000",
      "--push-dead-letter", "orders.dlq",
    ]);
    expect(server.out()).toContain(`brook serve: pushing orders:shipping to ${endpoint.url}`);
    broker = await connect(server.url, { logger: silentLogger });
    const dead: ReceivedMessage<Order>[] = [];
    await broker.subscribe<Order>("orders.dlq", { group: "ops", startFrom: "earliest", handler: (m) => void dead.push(m) });
    const pub = broker.publisher<Order>("orders");
    const N = 60;
    const results = await pub.publishBatch(
      Array.from({ length: N }, (_, n) => ({ key: `k${n % 5}`, idempotencyKey: `order-${n}`, headers: { h: `v${n}` }, data: { n } })),
    );
    expect(results.every((r) => r.ok)).toBe(true);

    await waitFor(() => delivered.length >= N - 1 && dead.length >= 1, 60_000, "59 pushed and 1 dead letter");
    // Each message once (nothing failed after its handler ran), all but the poison one.
    expect(delivered.map((m) => m.data.n).sort((a, b) => a - b)).toEqual([...Array(N).keys()].filter((n) => n !== 29));
    for (const m of delivered) {
      // The envelope's orderingKey, attributes, messageId, publishTime and subscription, as createPushHandler reads them.
      expect(m).toMatchObject({ key: `k${m.data.n % 5}`, idempotencyKey: `order-${m.data.n}`, topic: "orders/shipping" });
      expect(m.id).toMatch(/^\d+\/\d+$/);
      expect(Math.abs(m.publishTime.getTime() - Date.now())).toBeLessThan(120_000);
      expect(m.headers.h).toBe(`v${m.data.n}`);
    }
    // ordering "key": a key's messages arrive in publish order, held back while one retries.
    for (let k = 0; k < 5; k++) {
      const ns = delivered.filter((m) => m.key === `k${k}`).map((m) => m.data.n);
      expect(ns).toEqual([...ns].sort((a, b) => a - b));
    }
    // Back-off grows: p-retry waits minDelay * 2^(attempt-1) times a factor from 1 to 2.
    const t13 = attemptsAt.get(13)!;
    expect(t13).toHaveLength(3);
    expect(t13[1]! - t13[0]!).toBeGreaterThanOrEqual(45);
    expect(t13[2]! - t13[1]!).toBeGreaterThanOrEqual(95);
    // The poison message: 4 attempts, then the dead-letter topic with the reason and the attempts.
    expect(attemptsAt.get(29)).toHaveLength(4);
    expect(dead).toHaveLength(1);
    expect(dead[0]!.data).toEqual({ n: 29 });
    expect(dead[0]!.headers[DLQ_HEADERS.originalTopic]).toBe("orders");
    expect(dead[0]!.headers[DLQ_HEADERS.attempts]).toBe("4");
    expect(dead[0]!.headers[DLQ_HEADERS.reason]).toMatch(/answered 500/);
    // The silent endpoint: the push timed out (3 s), the server gave up on it and pushed again.
    expect(hangOnce).toBe(false);
    expect(delivered.filter((m) => m.data.n === 41)).toHaveLength(1);
    expect(attemptsAt.get(41)).toHaveLength(1); // the hung request never reached the handler
    // Nothing was refused: the token went with every push.
    expect(endpoint.statuses).not.toContain(403);
  }, 120_000);

  test("stopped (SIGTERM) and restarted mid-stream, the push subscription resumes at its committed positions: every event pushed exactly once; killed (SIGKILL), none is lost", async () => {
    type Event = { n: number };
    const pushes = new Map<number, number>();
    const order: Array<{ key: string; n: number }> = [];
    endpoint = await pushService<Event>(async (m) => {
      await new Promise((r) => setTimeout(r, 20)); // a service that takes a while, so a stop lands mid-stream
      pushes.set(m.data.n, (pushes.get(m.data.n) ?? 0) + 1);
      order.push({ key: m.key!, n: m.data.n });
    });
    // At most 4 pushes outstanding: a stop drains those, not the whole backlog.
    const args = ["--dir", dir, "--push", `events:audit=${endpoint.url}`, "--push-token", TOKEN, "--push-max-in-flight", "4"];
    const publish = async (from: number, to: number): Promise<void> => {
      const b = await connect(server!.url, { logger: silentLogger });
      try {
        const results = await b.publisher<Event>("events").publishBatch(Array.from({ length: to - from }, (_, i) => ({ key: `e${(from + i) % 4}`, data: { n: from + i } })));
        expect(results.every((r) => r.ok)).toBe(true);
      } finally {
        await b.close();
      }
    };
    const total = (): number => [...pushes.values()].reduce((a, b) => a + b, 0);

    // 1. SIGTERM while pushing: in-flight pushes finish, positions are committed, the restart goes on from there.
    server = await serve(args);
    await publish(0, 200);
    await waitFor(() => pushes.size >= 40, 30_000, "40 events pushed before the stop");
    await stopServe(server, "SIGTERM");
    expect(server.child.exitCode).toBe(0);
    const beforeStop = pushes.size;
    expect(beforeStop).toBeLessThan(200); // the stop did land mid-stream
    server = await serve(args);
    await publish(200, 300);
    await waitFor(() => pushes.size >= 300, 60_000, "all 300 events pushed after the restart");
    expect([...pushes.keys()].sort((a, b) => a - b)).toEqual([...Array(300).keys()]);
    expect(total()).toBe(300); // none pushed again: the drained positions were committed

    // 2. SIGKILL while pushing: no drain, no final commit. At least once: nothing is lost, and
    // only what was pushed (or in flight) since the group's last durable commit is pushed again.
    await publish(300, 500);
    await waitFor(() => pushes.size >= 340, 30_000, "40 more events pushed before the kill");
    await stopServe(server, "SIGKILL");
    const beforeKill = new Set(pushes.keys());
    server = await serve(args);
    await publish(500, 600);
    await waitFor(() => pushes.size >= 600, 60_000, "all 600 events pushed after the kill");
    expect([...pushes.keys()].sort((a, b) => a - b)).toEqual([...Array(600).keys()]);
    const repeats = [...pushes].filter(([, count]) => count > 1);
    expect(repeats.every(([, count]) => count === 2)).toBe(true);
    // A repeat was pushed before the kill, or was one of the (at most 4) pushes in flight then.
    expect(repeats.filter(([n]) => !beforeKill.has(n)).length).toBeLessThanOrEqual(4);

    // Per key, the first push of each event is in publish order.
    for (let k = 0; k < 4; k++) {
      const firsts: number[] = [];
      const have = new Set<number>();
      for (const o of order) {
        if (o.key !== `e${k}` || have.has(o.n)) continue;
        have.add(o.n);
        firsts.push(o.n);
      }
      expect(firsts).toEqual([...firsts].sort((a, b) => a - b));
    }
  }, 180_000);

  test("bad --push input fails at start with a BrookError code naming the argument and field", () => {
    const cases: Array<[string[], RegExp]> = [
      [["--push", "orders"], /^error INVALID_ARGUMENT: --push: expected topic:group=http:\/\/host:port\/path, got "orders"$/m],
      [["--push", "orders:g=ftp://127.0.0.1/x"], /^error INVALID_ARGUMENT: --push orders:g=ftp:\/\/127\.0\.0\.1\/x: endpoint: expected an http: or https: URL, got scheme "ftp:"$/m],
      [["--push", "orders:g=not a url"], /^error INVALID_URL: --push orders:g=not a url: endpoint: expected an http: or https: URL/m],
      [["--push", "nope:g=http://127.0.0.1:9/"], /^error TOPIC_NOT_FOUND: --push nope:g=http:\/\/127\.0\.0\.1:9\/: topic: "nope" does not exist/m],
      [["--push", "orders:g=http://127.0.0.1:9/", "--push-dead-letter", "gone"], /^error TOPIC_NOT_FOUND: --push orders:g=http:\/\/127\.0\.0\.1:9\/: deadLetter\.topic: "gone" does not exist/m],
      [["--push-token", "x"], /^error INVALID_ARGUMENT: --push-token needs at least one --push topic:group=url$/m],
      [["--push", "orders:g=http://127.0.0.1:9/", "--push-header", "nocolon"], /^error INVALID_ARGUMENT: --push-header: expected "Name: value"/m],
      [["--push", "orders:g=http://127.0.0.1:9/", "--push-min-delay-ms", "500", "--push-max-delay-ms", "100"], /^error INVALID_ARGUMENT: --push orders:g=http:\/\/127\.0\.0\.1:9\/: retry\.maxDelayMs: expected a number >= minDelayMs \(500\), got 100$/m],
      [["--push", "orders:g=http://127.0.0.1:9/", "--push-ordering", "random"], /^error INVALID_ARGUMENT: .*--push-ordering must be key, partition or none/m],
    ];
    for (const [args, expected] of cases) {
      const run = serveFails(["--dir", dir, ...args]);
      expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: expect.any(Number), stderr: expect.stringMatching(expected) });
      expect(run.code).not.toBe(0);
    }
  }, 120_000);

  test("startServer's push option is validated the same way, naming push[i].field", async () => {
    const engine = await LogEngine.open(new MemoryStore());
    try {
      await engine.createTopic("t", { partitions: 1 });
      const start = (push: unknown) => startServer({ engine, port: 0, logger: silentLogger, push: push as never });
      await expect(start([{ topic: "t", group: "g", endpoint: "mailto:a@b" }])).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/^push\[0\]\.endpoint:/) });
      await expect(start([{ topic: "t", group: "g", endpoint: "http//nope" }])).rejects.toMatchObject({ code: "INVALID_URL", message: expect.stringMatching(/^push\[0\]\.endpoint:/) });
      await expect(start([{ topic: "t", group: "", endpoint: "http://127.0.0.1:9/" }])).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/^push\[0\]\.group:/) });
      await expect(start([{ topic: "t", group: "g", endpoint: "http://127.0.0.1:9/", timeoutMs: 0 }])).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/^push\[0\]\.timeoutMs:/) });
      await expect(start([{ topic: "t", group: "g", endpoint: "http://127.0.0.1:9/", token: "a\nb" }])).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/^push\[0\]\.token:/) });
      await expect(
        start([
          { topic: "t", group: "g", endpoint: "http://127.0.0.1:9/" },
          { topic: "t", group: "g", endpoint: "http://127.0.0.1:8/" },
        ]),
      ).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/^push\[1\]:/) });
      await expect(start([{ topic: "missing", group: "g", endpoint: "http://127.0.0.1:9/" }])).rejects.toMatchObject({ code: "TOPIC_NOT_FOUND", message: expect.stringMatching(/^push\[0\]\.topic:/) });
      // A failed start leaves the engine to its owner, open and usable.
      expect(engine.isClosed).toBe(false);
      const ok = await startServer({ engine, port: 0, logger: silentLogger });
      expect(ok.push).toEqual([]);
      await ok.close();
    } finally {
      await engine.close();
    }
    expect(engine.isClosed).toBe(true);
  });
});
