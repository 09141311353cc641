/**
 * Event Hubs for the tests: the AMQP test server (test/servers/eventhubs-amqp) and Azurite that
 * the root runner started (BROOK_TEST_EVENTHUBS_*), or ones this test file starts itself
 * (scripts/backends/eventhubs.mjs) and stops by pid. Skipped with BROOK_SKIP_BACKENDS=eventhubs.
 */
import { afterAll, beforeAll, describe } from "@jest/globals";
import { randomBytes } from "node:crypto";
import type { EventHubsHubManager } from "@brook/adapter-eventhubs";
// @ts-ignore -- plain ESM script without type declarations; jest compiles it to CommonJS with swc
import { startEventHubs } from "../../scripts/backends/eventhubs.mjs";

const skip = (process.env.BROOK_SKIP_BACKENDS ?? "").split(",").includes("eventhubs");

export interface EventHubsUnderTest {
  /** Endpoint=sb://127.0.0.1:<port>;…;UseDevelopmentEmulator=true */
  connectionString: string;
  /** the test server's control plane (hubs, faults) */
  controlUrl: string;
  /** Azurite's blob service */
  blobConnectionString: string;
}

/** A describe() block with the backend around it, ready before the body's beforeAll hooks. */
export function describeEventHubs(name: string, body: (eh: EventHubsUnderTest) => void): void {
  (skip ? describe.skip : describe)(name, () => {
    const eh = useEventHubs();
    describe("on the test server", () => body(eh));
  });
}

export function useEventHubs(): EventHubsUnderTest {
  const handle: EventHubsUnderTest = {
    connectionString: process.env.BROOK_TEST_EVENTHUBS_CONNECTION_STRING ?? "",
    controlUrl: process.env.BROOK_TEST_EVENTHUBS_CONTROL_URL ?? "",
    blobConnectionString: process.env.BROOK_TEST_EVENTHUBS_BLOB ?? "",
  };
  let started: { stop(): Promise<void> } | undefined;
  beforeAll(async () => {
    if (handle.connectionString !== "") return;
    const eh = (await startEventHubs({})) as EventHubsUnderTest & { stop(): Promise<void> };
    started = eh;
    Object.assign(handle, { connectionString: eh.connectionString, controlUrl: eh.controlUrl, blobConnectionString: eh.blobConnectionString });
  }, 60_000);
  afterAll(async () => {
    await started?.stop();
  }, 30_000);
  return handle;
}

/** Whether the root runner started Event Hubs (tests of other directories run on it only then). */
export const eventHubsStarted = !skip && process.env.BROOK_TEST_EVENTHUBS_CONNECTION_STRING !== undefined;

/**
 * A test server and Azurite of this test file's own, started when the root runner runs Event
 * Hubs (eventHubsStarted): for examples that use fixed hub and group names ("orders",
 * "billing"), which would meet another file's run of the same example on the shared server
 * (the receivers of one group take partitions from each other by owner level).
 */
export function ownEventHubs(): EventHubsUnderTest {
  const handle: EventHubsUnderTest = { connectionString: "", controlUrl: "", blobConnectionString: "" };
  let started: { stop(): Promise<void> } | undefined;
  beforeAll(async () => {
    if (!eventHubsStarted) return;
    const eh = (await startEventHubs({})) as EventHubsUnderTest & { stop(): Promise<void> };
    started = eh;
    Object.assign(handle, { connectionString: eh.connectionString, controlUrl: eh.controlUrl, blobConnectionString: eh.blobConnectionString });
  }, 60_000);
  afterAll(async () => {
    await started?.stop();
  }, 30_000);
  return handle;
}

/** Makes hubs through the control plane beforehand, as an Azure deployment does (exists: fine). */
export async function createHubs(controlUrl: string, hubs: Record<string, number>): Promise<void> {
  for (const [name, partitions] of Object.entries(hubs)) {
    const res = await fetch(`${controlUrl}/hubs`, { method: "POST", body: JSON.stringify({ name, partitions }) });
    if (res.status !== 201 && res.status !== 409) throw new Error(`create hub ${name}: HTTP ${res.status} ${await res.text()}`);
  }
}

/** Creates and deletes hubs through the test server's control plane (what ARM does in Azure). */
export function testServerHubManager(controlUrl: string): EventHubsHubManager {
  return {
    async createHub(name, { partitions }) {
      const res = await fetch(`${controlUrl}/hubs`, { method: "POST", body: JSON.stringify({ name, partitions: partitions ?? 4 }) });
      if (res.status === 201) return true;
      if (res.status === 409) return false;
      throw new Error(`create hub ${name}: HTTP ${res.status} ${await res.text()}`);
    },
    async deleteHub(name) {
      const res = await fetch(`${controlUrl}/hubs/${encodeURIComponent(name)}`, { method: "DELETE" });
      if (res.status === 204) return true;
      if (res.status === 404) return false;
      throw new Error(`delete hub ${name}: HTTP ${res.status}`);
    },
    async listHubs() {
      return (await (await fetch(`${controlUrl}/hubs`)).json()) as string[];
    },
  };
}

/** A blob container of its own (blob names drop the port: parallel files must not share one). */
export function uniqueContainer(prefix: string): string {
  return `${prefix}-${randomBytes(6).toString("hex")}`.toLowerCase().slice(0, 63);
}

/**
 * The URL of the test backend with fast load balancing (ownership renewed every 300 ms, expired
 * after 3 s) and a blob checkpoint container of its own.
 */
export function eventHubsUrl(eh: EventHubsUnderTest, container: string, params = ""): string {
  const q = new URLSearchParams({
    connectionString: eh.connectionString,
    checkpointStore: "blob",
    blobConnectionString: eh.blobConnectionString,
    container,
    updateIntervalMs: "300",
    ownershipExpirationMs: "3000",
    maxWaitTimeMs: "200",
    partitionPropertiesIntervalMs: "1000",
  });
  return `eventhubs://?${q.toString()}${params}`;
}

export async function fault(eh: EventHubsUnderTest, body: Record<string, unknown>): Promise<unknown> {
  const res = await fetch(`${eh.controlUrl}/faults`, { method: "POST", body: JSON.stringify(body) });
  return res.json();
}
