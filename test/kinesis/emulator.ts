/**
 * The Kinesis and DynamoDB emulators for the Kinesis tests: the ones the root test runner
 * started (BROOK_TEST_KINESIS_ENDPOINT, BROOK_TEST_DYNAMO_ENDPOINT), or ones this test file
 * starts itself (scripts/backends/kinesis.mjs) and stops by pid.
 */
import { afterAll, beforeAll, describe } from "@jest/globals";
// @ts-ignore -- plain ESM script without type declarations; jest compiles it to CommonJS with swc
import { startKinesis } from "../../scripts/backends/kinesis.mjs";

interface StartedKinesis {
  kinesisEndpoint: string;
  dynamoEndpoint: string;
  stop(): Promise<void>;
}

export interface KinesisUnderTest {
  /** http://127.0.0.1:<port> of kinesis-local; valid from the first test on */
  kinesisEndpoint(): string;
  /** http://127.0.0.1:<port> of dynalite */
  dynamoEndpoint(): string;
  /** kinesis://us-east-1?endpoint=…&dynamoEndpoint=… plus `params` ("&a=b…") */
  url(params?: string): string;
  /** Stops the emulators this file started (none when the runner gave them). Register it with
   * afterAll after every other afterAll that still talks to them (jest runs them in order). */
  stop(): Promise<void>;
}

export const skipKinesis = (process.env.BROOK_SKIP_BACKENDS ?? "").split(",").includes("kinesis");

/** describe(), skipped when BROOK_SKIP_BACKENDS names "kinesis" (then no emulator is started). */
export const describeKinesis = skipKinesis ? describe.skip : describe;

/** Lease timings for tests: a dead worker's leases are taken within seconds, workers rebalance quickly. */
export const FAST_LEASES = "&failoverTimeMs=6000&takeIntervalMs=2000&pollIntervalMs=200";

export function useKinesis(): KinesisUnderTest {
  let kinesis = process.env.BROOK_TEST_KINESIS_ENDPOINT ?? "";
  let dynamo = process.env.BROOK_TEST_DYNAMO_ENDPOINT ?? "";
  let started: StartedKinesis | undefined;
  beforeAll(async () => {
    if (skipKinesis || (kinesis !== "" && dynamo !== "")) return;
    started = (await startKinesis({})) as StartedKinesis;
    kinesis = started.kinesisEndpoint;
    dynamo = started.dynamoEndpoint;
  }, 90_000);
  const need = (value: string): string => {
    if (value === "") throw new Error("the Kinesis emulators are not started yet");
    return value;
  };
  return {
    kinesisEndpoint: () => need(kinesis),
    dynamoEndpoint: () => need(dynamo),
    url: (params = "") => `kinesis://us-east-1?endpoint=${encodeURIComponent(need(kinesis))}&dynamoEndpoint=${encodeURIComponent(need(dynamo))}${params}`,
    stop: async () => {
      await started?.stop();
      started = undefined;
    },
  };
}

/** Registers the emulators' stop as the file's last afterAll. */
export function stopAfterAll(k: KinesisUnderTest): void {
  afterAll(() => k.stop(), 30_000);
}
