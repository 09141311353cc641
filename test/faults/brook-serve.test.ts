/**
 * `brook serve` behind the fault proxy: a publisher and a subscriber group (each on its own
 * brook:// connection, through the proxy) ride through delays, resets mid-stream, drops shorter
 * than the client's timeouts, half-open connections and refused reconnects, and nothing whose
 * publish resolved is lost. When a fault outlasts the client's bounds, a publish rejects with
 * UNAVAILABLE or TIMEOUT (measured) and the subscriber reports an error; after the fault heals,
 * still nothing acknowledged is lost.
 *
 * The server runs in this process on a file engine (fsync always: acknowledged means on disk)
 * with a short session (1 s), and the clients use short timeouts, so every bound is small:
 *   detection of a dead path: at most sessionTimeoutMs + heartbeat (1.33 s, PROTOCOL.md §7)
 *   one attempt of a request: requestTimeoutMs (1 s)
 *   a publish: its first attempt + core's 3 retries (maxRetries) + their backoff (< 1 s)
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, expect, test } from "@jest/globals";
import { connect, silentLogger, type Broker } from "@brook/core";
import { openDirectoryEngine, startServer, type BrookServer } from "@brook/local-broker";
import { sleep, uniqueTopic, waitFor } from "@brook/contract-tests";
import { startFaultProxy, type FaultProxy } from "./proxy.js";
import { Scenario, Workload, formatTable, outlast, type FaultRow } from "./workload.js";

const SESSION_TIMEOUT_MS = 1_000;
const REQUEST_TIMEOUT_MS = 1_000;
const CONNECT_TIMEOUT_MS = 500;
const PUBLISH_RETRIES = 3; // core's default maxRetries
/** the longest a publish may take to reject once the path is dead for good */
const PUBLISH_BOUND_MS = SESSION_TIMEOUT_MS + SESSION_TIMEOUT_MS / 3 + (PUBLISH_RETRIES + 1) * REQUEST_TIMEOUT_MS + 2_000;
/** a drop shorter than every client timeout */
const SHORT_DROP_MS = 600;

const rows: FaultRow[] = [];
const cleanups: Array<() => Promise<unknown> | void> = [];
const proxies: FaultProxy[] = [];
afterEach(async () => {
  // Healed first (also after a failed test): closing clients behind a dead path would wait for their timeouts.
  for (const proxy of proxies.splice(0)) await proxy.heal();
  for (const fn of cleanups.splice(0).reverse()) await fn();
});
afterAll(() => {
  // The table of the run (also in the test log of CI).
  console.log(`fault tests, brook serve:\n${formatTable(rows)}`);
});

/** A server on a fresh file engine, the proxy in front, and a workload running through it. */
async function scenario(label: string, fault: string, options: { idempotencyKeys?: boolean } = {}): Promise<Scenario> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "brook-faults-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const engine = await openDirectoryEngine(dir, { fsync: "always" });
  cleanups.push(() => engine.close());
  const server = await startServer({ engine, port: 0, sessionTimeoutMs: SESSION_TIMEOUT_MS, logger: silentLogger });
  cleanups.push(() => server.close());
  const proxy = await startFaultProxy({ targetPort: server.port });
  cleanups.push(() => proxy.close());
  proxies.push(proxy);
  const url = `brook://127.0.0.1:${proxy.port}?requestTimeoutMs=${REQUEST_TIMEOUT_MS}&connectTimeoutMs=${CONNECT_TIMEOUT_MS}`;
  const open = async (): Promise<Broker> => {
    const broker = await connect(url, { logger: silentLogger });
    cleanups.push(() => broker.close());
    return broker;
  };
  // Two connections, as a publishing and a consuming process would have.
  const publisherBroker = await open();
  const subscriberBroker = await open();
  const topic = uniqueTopic(`faults-${label}`);
  await publisherBroker.admin.createTopic(topic, { partitions: 3 });
  const workload = new Workload(publisherBroker, subscriberBroker, topic, { concurrency: 4, maxMessages: 3_000, paceMs: 5, ...options });
  await workload.start(`group-${label}`);
  cleanups.push(() => workload.stopPublishing());
  await workload.waitForMoreAcked(40, 10_000, "warm-up");
  return new Scenario("brook serve", fault, proxy, workload, rows);
}

test("delays of 20 ms and 250 ms each way: every acknowledged message is handled, no publish fails", async () => {
  const s = await scenario("delay", "delay 20 ms, then 250 ms each way");
  s.proxy.delay(20);
  await s.workload.waitForMoreAcked(100, 10_000, "20 ms delay");
  s.proxy.delay(250);
  await s.workload.waitForMoreAcked(20, 10_000, "250 ms delay");
  await s.proxy.heal();
  await s.workload.waitForMoreAcked(40, 10_000, "after the delay");
  const report = await s.finish();
  expect(report.rejected).toBe(0);
});

test("three resets mid-stream: publishers and subscribers reconnect, nothing acknowledged is lost", async () => {
  const s = await scenario("reset", "reset (RST) mid-stream");
  for (let i = 0; i < 3; i++) {
    expect(s.proxy.reset()).toBe(2); // the publisher's and the subscriber's connection
    await s.workload.waitForMoreAcked(60, 10_000, `after reset ${i + 1}`);
  }
  const report = await s.finish();
  // Publishes in flight at a reset fail with UNAVAILABLE and core retries them: none is reported failed.
  expect(report.rejected).toBe(0);
});

test("ten resets in quick succession, no idempotency keys: retried publishes may be stored twice (counted), none is lost", async () => {
  const s = await scenario("reset-storm", "10 resets, no idempotency keys", { idempotencyKeys: false });
  for (let i = 0; i < 10; i++) {
    s.proxy.reset();
    await s.workload.waitForMoreAcked(12, 10_000, `after reset ${i + 1}`);
  }
  const report = await s.finish();
  expect(report.rejected).toBe(0);
});

test(`two drops of ${SHORT_DROP_MS} ms (both ways, shorter than every timeout): held requests complete, nothing fails`, async () => {
  const s = await scenario("drop", `blackhole ${SHORT_DROP_MS} ms (both ways)`);
  const errorsBefore = s.workload.subscriberErrors.length;
  for (let i = 0; i < 2; i++) {
    s.proxy.blackhole("both");
    const ackedAtDrop = s.workload.acked.size;
    await sleep(SHORT_DROP_MS); // the fault's duration, not a wait for work
    const duringDrop = s.workload.acked.size - ackedAtDrop;
    await s.proxy.heal();
    await s.workload.waitForMoreAcked(40, 10_000, `after drop ${i + 1}`);
    // Nothing got through while the path was dead (the proxy held it).
    expect(duringDrop).toBeLessThanOrEqual(4);
  }
  const report = await s.finish();
  expect(report.rejected).toBe(0);
  // The connections survived: the subscriber saw no error, no connection was replaced.
  expect(s.workload.subscriberErrors.length).toBe(errorsBefore);
  expect(s.proxy.stats.accepted).toBe(2);
});

test("half-open connections (server side gone, client side silent): clients notice within the session bound and carry on", async () => {
  const s = await scenario("half-open", "half-open connections");
  const at = Date.now();
  expect(s.proxy.halfOpen()).toBe(2);
  // The clients must notice on their own (no FIN, no RST): a server silent for sessionTimeoutMs.
  await waitFor(() => s.proxy.openConnections() === 2, SESSION_TIMEOUT_MS * 3, "both clients to reconnect");
  const noticedMs = Date.now() - at;
  expect(noticedMs).toBeLessThan(SESSION_TIMEOUT_MS + SESSION_TIMEOUT_MS / 3 + 1_000);
  await s.workload.waitForMoreAcked(100, 10_000, "after the half-open connections");
  const report = await s.finish(`— (noticed in ${(noticedMs / 1000).toFixed(1)} s)`);
  expect(report.rejected).toBe(0);
});

test("reset, then refused reconnects for 800 ms: clients back off and come back", async () => {
  const s = await scenario("refused", "reset + refuse 800 ms");
  await s.proxy.refuse(800);
  s.proxy.reset();
  await waitFor(() => s.proxy.openConnections() === 2, 5_000, "both clients to reconnect once the proxy accepts again");
  await s.workload.waitForMoreAcked(100, 10_000, "after the refusal");
  await s.finish();
});

const BOUNDS = { publishMs: PUBLISH_BOUND_MS, subscriberMs: SESSION_TIMEOUT_MS + REQUEST_TIMEOUT_MS + 2_000, recoverMs: 15_000 };

test("outlasting blackhole (both ways, old and new connections): publishes reject in bounds, then recover", async () => {
  const s = await scenario("outlast-blackhole", "blackhole outlasting the timeouts");
  await s.finish(await outlast(s, (p) => p.blackhole("both"), BOUNDS));
});

test("outlasting refusal (connections reset, reconnects refused): publishes reject in bounds, then recover", async () => {
  const s = await scenario("outlast-refused", "reset + refuse outlasting the timeouts");
  const unavailable = await outlast(
    s,
    async (p) => {
      await p.refuse();
      p.reset();
    },
    BOUNDS,
  );
  await s.finish(unavailable);
});

test("outlasting half-open (connections half-open, new ones blackholed): publishes reject in bounds, then recover", async () => {
  const s = await scenario("outlast-half-open", "half-open + blackhole outlasting the timeouts");
  const unavailable = await outlast(
    s,
    (p) => {
      p.blackhole("both");
      p.halfOpen();
    },
    BOUNDS,
  );
  await s.finish(unavailable);
});
