// The pattern examples (examples/patterns) on every backend the root runner started: the same
// code, only the URL changes. Each example checks what it promises and says so in its report.
import { afterAll, describe, expect, test } from "@jest/globals";
import { connect, type Broker } from "@brook/core";
import "@brook/local-broker";
import "@brook/adapter-kafka";
import "@brook/adapter-pubsub";
import "@brook/adapter-kinesis";
import "@brook/adapter-eventhubs";
import { eventHubsUrl, testServerHubManager, uniqueContainer } from "../eventhubs/backend.js";
import { burst } from "../../examples/patterns/src/fanout.js";
import { logLines, statistics, transactions } from "../../examples/patterns/src/ordering.js";
import type { Report } from "../../examples/patterns/src/util.js";

const env = process.env;
const kinesisUrl =
  env.BROOK_TEST_KINESIS_ENDPOINT === undefined || env.BROOK_TEST_DYNAMO_ENDPOINT === undefined
    ? undefined
    : `kinesis://us-east-1?endpoint=${encodeURIComponent(env.BROOK_TEST_KINESIS_ENDPOINT)}&dynamoEndpoint=${encodeURIComponent(env.BROOK_TEST_DYNAMO_ENDPOINT)}&failoverTimeMs=6000&takeIntervalMs=2000&pollIntervalMs=200`;

// Event Hubs: the project's AMQP test server and Azurite that the root runner started. Hubs are
// made by the management plane, here the test server's control URL passed as connect options
// (what @azure/arm-eventhub is in Azure); the examples' code is the same.
const eventhubs =
  env.BROOK_TEST_EVENTHUBS_CONNECTION_STRING === undefined || env.BROOK_TEST_EVENTHUBS_CONTROL_URL === undefined || env.BROOK_TEST_EVENTHUBS_BLOB === undefined
    ? undefined
    : {
        url: eventHubsUrl(
          { connectionString: env.BROOK_TEST_EVENTHUBS_CONNECTION_STRING, controlUrl: env.BROOK_TEST_EVENTHUBS_CONTROL_URL, blobConnectionString: env.BROOK_TEST_EVENTHUBS_BLOB },
          uniqueContainer("patterns"),
        ),
        options: { hubManager: testServerHubManager(env.BROOK_TEST_EVENTHUBS_CONTROL_URL) },
      };

const backends: Array<{ name: string; url: string | undefined; options?: Record<string, unknown>; scale: number; crash?: boolean }> = [
  { name: "memory", url: "memory:", scale: 1 },
  { name: "kafka", url: env.BROOK_TEST_KAFKA_BROKERS === undefined ? undefined : `kafka://${env.BROOK_TEST_KAFKA_BROKERS}?clientId=patterns`, scale: 1 },
  // No mid-stream crash on the emulator: after a subscriber closed without draining, it once
  // redelivered one ordering key's messages out of order (a withdrawal before its deposit), which
  // the service does not do; the crash step runs on every other backend.
  { name: "pubsub", url: env.BROOK_TEST_PUBSUB_HOST === undefined ? undefined : `pubsub://brook-patterns?emulatorHost=${env.BROOK_TEST_PUBSUB_HOST}`, scale: 1, crash: false },
  // kinesis-local takes ~700 records/s: fewer messages, the same checks.
  { name: "kinesis", url: kinesisUrl, scale: 0.25 },
  { name: "eventhubs", url: eventhubs?.url, options: eventhubs?.options, scale: 1 },
];

const expectOk = (report: Report): void => {
  // The report's lines name the check that failed.
  expect(report.lines.filter((l) => l.startsWith("FAIL"))).toEqual([]);
  expect(report.ok).toBe(true);
};

for (const backend of backends) {
  // Skipped, and reported as skipped, when the backend is not running (a file run on its own).
  (backend.url === undefined ? describe.skip : describe)(`patterns on ${backend.name}`, () => {
    let broker: Broker;
    const withBroker = (fn: (b: Broker) => Promise<Report>) => async () => {
      broker ??= await connect(backend.url!, backend.options);
      expectOk(await fn(broker));
    };
    afterAll(async () => broker?.close());
    const n = (count: number): number => Math.max(20, Math.round(count * backend.scale));

    test("order irrelevant: statistics counted with full concurrency", withBroker((b) => statistics(b, n(300) - (n(300) % 4))), 120_000);
    test("final order matters: log lines handled concurrently, written in the order they were logged", withBroker((b) => logLines(b, n(200) - (n(200) % 20))), 120_000);
    test(`processing order matters: account transactions in key order through retries${backend.crash === false ? "" : " and a crash"}, each applied once`, withBroker((b) => transactions(b, 5, 41, { crash: backend.crash ?? true })), 180_000);
    test("buffering and fan-out: a burst absorbed, lag rises and drains, three groups each get every message once", withBroker((b) => burst(b, n(2_000))), 180_000);
  });
}
