/**
 * The real Kafka broker for the Kafka tests: the one the root test runner started
 * (BROOK_TEST_KAFKA_BROKERS), or one this test file starts itself.
 */
import { beforeAll } from "@jest/globals";
// @ts-ignore -- plain ESM script without type declarations; jest compiles it to CommonJS with swc
import { startKafka } from "../../scripts/backends/kafka.mjs";

interface StartedKafka {
  brokers: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * The Kafka driver every Kafka test runs on: BROOK_TEST_KAFKA_DRIVER ("kafkajs" when unset;
 * scripts/test-all.mjs sets "platformatic" for its @platformatic/kafka pass on Node 24).
 */
export const KAFKA_TEST_DRIVER = process.env.BROOK_TEST_KAFKA_DRIVER ?? "kafkajs";

/**
 * What a driver cannot do, by name, for tests to skip on (`testUnless(capability)`), so a skip
 * is always visible and named. Empty while both drivers pass everything.
 */
const DRIVER_LACKS: Record<string, ReadonlySet<string>> = {
  kafkajs: new Set(),
  platformatic: new Set(),
};

/** false when the driver under test lacks the named capability (see DRIVER_LACKS). */
export function driverHas(capability: string): boolean {
  return !(DRIVER_LACKS[KAFKA_TEST_DRIVER]?.has(capability) ?? false);
}

/** `kafka://` URL of `brokers` with `query` (no leading "?") and the driver under test. */
export function kafkaTestUrl(brokers: string, query = ""): string {
  const driver = KAFKA_TEST_DRIVER === "kafkajs" ? "" : `driver=${KAFKA_TEST_DRIVER}`;
  const params = [query, driver].filter((p) => p !== "").join("&");
  return `kafka://${brokers}${params === "" ? "" : `?${params}`}`;
}

export interface KafkaUnderTest {
  /** "host:port" of the broker; valid from the first test on */
  brokers(): string;
  /** `kafka://` URL of the broker with `query` (no leading "?") and the driver under test */
  url(query?: string): string;
  /** Stops the broker this file started (none when the runner gave one). Register it with
   * afterAll *after* every other afterAll that still talks to the broker: jest runs them in
   * declaration order. */
  stop(): Promise<void>;
}

export function useKafkaBroker(): KafkaUnderTest {
  let brokers = process.env.BROOK_TEST_KAFKA_BROKERS ?? "";
  let started: StartedKafka | undefined;
  beforeAll(async () => {
    if (brokers !== "") return;
    started = (await startKafka({})) as StartedKafka;
    brokers = started.brokers;
  }, 120_000);
  return {
    brokers: () => {
      if (brokers === "") throw new Error("the Kafka broker is not started yet");
      return brokers;
    },
    url(query = "") {
      return kafkaTestUrl(this.brokers(), query);
    },
    stop: async () => {
      await started?.stop();
      started = undefined;
    },
  };
}
