/**
 * A member leaves promptly even when the service does not answer its goodbye: the AMQP peer
 * ignores the detach of its receivers' links and the end of their sessions (the test server's
 * dropOnSessionEnd fault), which the SDK's subscription.close() and client.close() would wait
 * for without a bound. sub.close() still resolves within a bound, warns naming what did not
 * close, and gives up the member's partitions, so the other member takes them over at once
 * (ownership expiry is set far beyond the test) and every message is handled. (The SDK's own
 * close, left in the background, ends at its fixed 60 s AMQP operation timeout: jest reports the
 * worker's timer past the end of the file.)
 */
import { afterAll, expect, test } from "@jest/globals";
import { connect, type Broker, type Logger } from "@brook/core";
import "@brook/adapter-eventhubs";
import { uniqueTopic, waitFor } from "@brook/contract-tests";
import { describeEventHubs, eventHubsUrl, fault, testServerHubManager, uniqueContainer } from "./backend.js";

/** A leaving member's close: 5 s for the subscription, 5 s for the client, core's drain and commit, slack for a loaded machine. */
const CLOSE_BOUND_MS = 20_000;
/** Far beyond the test: a partition moves early only if its owner gave it up. */
const OWNERSHIP_EXPIRATION_MS = 120_000;

/** "closed", or "still closing" after `ms` (the timer is cleared either way). */
async function closedWithin(closing: Promise<void>, ms: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([closing.then(() => "closed"), new Promise<string>((resolve) => (timer = setTimeout(() => resolve("still closing"), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function recordingLogger(warnings: string[]): Logger {
  return { debug() {}, info() {}, warn: (m: string) => void warnings.push(m), error: (m: string) => void warnings.push(m) };
}

describeEventHubs("a member leaves while the service does not answer", (eh) => {
  const brokers: Broker[] = [];
  let faultedHub: string | undefined;
  afterAll(async () => {
    if (faultedHub !== undefined) await fault(eh, { dropOnSessionEnd: false });
    await Promise.allSettled(brokers.map((b) => b.close()));
  });

  test("sub.close() resolves within its bound, warns, and the other member takes the partitions over with nothing lost", async () => {
    const url = eventHubsUrl(eh, uniqueContainer("leave"));
    const warnings: string[] = [];
    const a = await connect(url, { hubManager: testServerHubManager(eh.controlUrl), ownershipExpirationMs: OWNERSHIP_EXPIRATION_MS, logger: recordingLogger(warnings) });
    const b = await connect(url, { ownershipExpirationMs: OWNERSHIP_EXPIRATION_MS });
    brokers.push(a, b);
    const hub = uniqueTopic("leave");
    await a.admin.createTopic(hub, { partitions: 4 });
    const handled = new Map<number, string[]>();
    const record = (by: string) => (m: { data: number }) => void handled.set(m.data, [...(handled.get(m.data) ?? []), by]);
    const leaving = await a.subscribe<number>(hub, { group: "g", startFrom: "earliest", commitIntervalMs: 100, handler: record("a") });
    const staying = await b.subscribe<number>(hub, { group: "g", startFrom: "earliest", commitIntervalMs: 100, handler: record("b") });
    await waitFor(() => leaving.assignment().length === 2 && staying.assignment().length === 2, 30_000, "two partitions each");

    const pub = b.publisher<number>(hub);
    const publish = async (from: number, count: number): Promise<void> => {
      const results = await pub.publishBatch(Array.from({ length: count }, (_, i) => ({ key: `k${from + i}`, data: from + i })));
      expect(results.every((r) => r.ok)).toBe(true);
    };
    await publish(0, 100);
    await waitFor(() => handled.size === 100, 30_000, `the first 100 messages (got ${handled.size})`);

    // From here the peer never answers the leaving member's detach and session end.
    faultedHub = hub;
    await fault(eh, { dropOnSessionEnd: { hub } });
    const started = Date.now();
    const closing = leaving.close();
    // Messages keep coming while the member leaves.
    await publish(100, 100);
    const outcome = await closedWithin(closing, CLOSE_BOUND_MS);
    expect(`${outcome} after ${Date.now() - started} ms`).toMatch(/^closed after/);
    const dropped = (await fault(eh, { dropOnSessionEnd: { hub } })) as { dropOnSessionEnd: Record<string, number> };
    // The fault was hit: the close did meet a silent peer.
    expect(dropped.dropOnSessionEnd[hub]).toBeGreaterThan(0);
    expect(warnings.some((w) => w.includes(hub) && /did not close/.test(w))).toBe(true);

    // The partitions move now, not after the ownership expiry.
    await waitFor(() => staying.assignment().length === 4, 30_000, `the staying member to own all 4 partitions (owns ${staying.assignment().join(", ")})`);
    await publish(200, 100);
    await waitFor(() => handled.size === 300, 30_000, `all 300 messages (got ${handled.size})`);
    for (let i = 0; i < 300; i++) expect(handled.has(i) ? "handled" : `${i} lost`).toBe("handled");

    await fault(eh, { dropOnSessionEnd: false });
    faultedHub = undefined;
    await pub.close();
    await staying.close();
  }, 120_000);
});
