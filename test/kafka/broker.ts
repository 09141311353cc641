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

export interface KafkaUnderTest {
  /** "host:port" of the broker; valid from the first test on */
  brokers(): string;
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
    stop: async () => {
      await started?.stop();
      started = undefined;
    },
  };
}
