/**
 * The Kafka subscription's own reports on its consumer, on a real broker: the watchdog of
 * unanswered requests (unavailableAfterMs, adapter-kafka/src/watchdog.ts) stays quiet while the
 * cluster answers, also through a rebalance whose drain and JoinGroup take longer than its
 * bound; and a consumer the Kafka client gives up on for good (KafkaJS' CRASH event without
 * restart) is an "error" event, not silence. Outages themselves (blackhole, refused
 * connections) are in test/faults/kafka.test.ts.
 */
import { afterAll, afterEach, expect, test } from "@jest/globals";
import { connect, silentLogger, type Broker, type BrookError } from "@brook/core";
import { kafkajsDriver, type KafkaDriverFactory } from "@brook/adapter-kafka";
import { KafkaJSNonRetriableError } from "kafkajs";
import { sleep, uniqueTopic, waitFor } from "@brook/contract-tests";
import { useKafkaBroker } from "./broker.js";

const kafka = useKafkaBroker();
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => undefined);
});
afterAll(() => kafka.stop(), 30_000);

async function open(params: string, driver?: KafkaDriverFactory): Promise<Broker> {
  // The driver under test (BROOK_TEST_KAFKA_DRIVER) unless a driver factory is given.
  const broker = await connect(kafka.url(`sessionTimeoutMs=6000&heartbeatIntervalMs=500&logLevel=nothing&${params}`), {
    logger: silentLogger,
    ...(driver === undefined ? {} : { driver }),
  } as Parameters<typeof connect>[1]);
  cleanups.push(() => broker.close());
  return broker;
}

const UNAVAILABLE_AFTER_MS = 1_500;

test(`a member whose cluster answers is never reported UNAVAILABLE (unavailableAfterMs ${UNAVAILABLE_AFTER_MS}), idle or through a rebalance with a slow drain`, async () => {
  const broker = await open(`unavailableAfterMs=${UNAVAILABLE_AFTER_MS}`);
  const topic = uniqueTopic("health");
  await broker.admin.createTopic(topic, { partitions: 2 });
  const errors: BrookError[] = [];
  const handled: number[] = [];
  // The first member's handler holds a message for twice the bound: the rebalance below waits
  // for it (drain before JoinGroup), and the second member's JoinGroup waits for the first.
  const slow = await broker.subscribe<number>(topic, {
    group: "g",
    handler: async (m) => {
      if (m.data === 0) await sleep(UNAVAILABLE_AFTER_MS * 2);
      handled.push(m.data);
    },
  });
  slow.on("error", (e) => errors.push(e));
  await sleep(UNAVAILABLE_AFTER_MS * 2); // idle: only fetches and heartbeats answer
  const publisher = broker.publisher<number>(topic);
  cleanups.push(() => publisher.close());
  await publisher.publishBatch([0, 1, 2, 3].map((n) => ({ data: n, key: `k${n}` })));
  await waitFor(() => handled.length >= 1 || slow.health().some((p) => p.inFlight > 0), 15_000, "the slow message in flight");
  const second = await (await open(`unavailableAfterMs=${UNAVAILABLE_AFTER_MS}`)).subscribe<number>(topic, { group: "g", handler: (m) => void handled.push(m.data) });
  second.on("error", (e) => errors.push(e));
  await waitFor(() => handled.length >= 4, 30_000, "every message handled");
  await sleep(UNAVAILABLE_AFTER_MS * 2);
  expect(errors.map((e) => `${e.code}: ${e.message}`)).toEqual([]);
}, 60_000);

test("a consumer the Kafka client gives up on (CRASH without restart) emits an error, and no UNAVAILABLE after it", async () => {
  // The KafkaJS driver on either pass (the factory wins over the URL's driver=), with a records
  // hook that fails the way a non-retriable KafkaJS error does: KafkaJS stops the consumer and
  // does not restart it.
  let thrown = 0;
  const failing: KafkaDriverFactory = (config) => {
    const driver = kafkajsDriver(config);
    return {
      ...driver,
      admin: () => driver.admin(),
      producer: (options) => driver.producer(options),
      consumer: (options) => {
        const consumer = driver.consumer(options);
        return {
          ...consumer,
          commit: (t, o) => consumer.commit(t, o),
          seek: (t, p, o) => consumer.seek(t, p, o),
          pause: (t, p) => consumer.pause(t, p),
          resume: (t, p) => consumer.resume(t, p),
          stop: () => consumer.stop(),
          run: (topic, hooks) =>
            consumer.run(topic, {
              ...hooks,
              beforeJoin: () => hooks.beforeJoin(),
              assigned: (p) => hooks.assigned(p),
              crashed: (e, r) => hooks.crashed(e, r),
              answered: (b) => hooks.answered(b),
              joining: () => hooks.joining(),
              records: async (batch) => {
                if (batch.messages.length > 0) {
                  thrown += 1;
                  throw new KafkaJSNonRetriableError("injected: a failure the client does not retry");
                }
                await hooks.records(batch);
              },
            }),
        };
      },
    };
  };
  const broker = await open(`unavailableAfterMs=${UNAVAILABLE_AFTER_MS}`, failing);
  const topic = uniqueTopic("crash");
  await broker.admin.createTopic(topic, { partitions: 1 });
  const errors: BrookError[] = [];
  // A group of its own: the first test's group may still hold a member of the other driver
  // (its LeaveGroup can be lost mid-rebalance), whose assignor protocol KafkaJS' would not match.
  const sub = await broker.subscribe<string>(topic, { group: "g-crash", handler: () => undefined });
  sub.on("error", (e) => errors.push(e));
  const publisher = broker.publisher<string>(topic);
  cleanups.push(() => publisher.close());
  await publisher.publish({ data: "x" });
  await waitFor(() => errors.length > 0, 15_000, "the subscription's error");
  expect(thrown).toBe(1);
  expect(errors[0]!.message).toMatch(new RegExp(`consumer of topic "${topic}" \\(group "g-crash"\\) stopped.*injected`));
  // The consumer is gone for good; the watchdog does not add an UNAVAILABLE to the report.
  await sleep(UNAVAILABLE_AFTER_MS * 3);
  expect(errors).toHaveLength(1);
  expect(errors[0]!.message).not.toMatch(/no answer/);
}, 60_000);
