import { describe, expect, test } from "@jest/globals";
import type { BrookError, Logger } from "@brook/core";
import { BrokerWatchdog } from "./watchdog.js";

function setup(unavailableAfterMs = 1_000, rebalanceTimeoutMs = 5_000) {
  const errors: BrookError[] = [];
  const infos: string[] = [];
  const logger = { info: (m: string) => void infos.push(m), warn: () => undefined, error: () => undefined, debug: () => undefined } as unknown as Logger;
  const dog = new BrokerWatchdog({
    unavailableAfterMs,
    rebalanceTimeoutMs,
    what: 'consumer of topic "t" (group "g")',
    brokers: ["b1:9092"],
    logger,
    unavailable: (e) => void errors.push(e),
    checkEveryMs: 60_000, // checked by hand below
  });
  return { dog, errors, infos };
}

// check(now) takes the clock as an argument; answers are stamped with Date.now().
describe("BrokerWatchdog", () => {
  test("silence past the bound is reported once as UNAVAILABLE naming the broker and how long; the next answer ends the outage", () => {
    const { dog, errors, infos } = setup();
    const t0 = Date.now();
    dog.answered("127.0.0.1:9092");
    dog.check(t0 + 900);
    expect(errors).toEqual([]);
    dog.check(t0 + 2_500);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.code).toBe("UNAVAILABLE");
    expect(errors[0]!.message).toMatch(/consumer of topic "t" \(group "g"\): no answer from Kafka broker 127\.0\.0\.1:9092 for 2\.5 s/);
    expect(dog.isUnavailable).toBe(true);
    dog.check(t0 + 10_000);
    expect(errors).toHaveLength(1); // once per outage
    dog.answered("127.0.0.1:9092");
    expect(dog.isUnavailable).toBe(false);
    expect(infos.join("\n")).toMatch(/answered again/);
    // A second outage is reported again.
    dog.check(Date.now() + 1_500);
    expect(errors).toHaveLength(2);
    dog.stop();
  });

  test("never trips before the first answer (a driver that does not report answers), nor after stop()", () => {
    const { dog, errors } = setup();
    dog.check(Date.now() + 60_000);
    expect(errors).toEqual([]);
    dog.answered("b:1");
    dog.stop();
    dog.check(Date.now() + 60_000);
    expect(errors).toEqual([]);
  });

  test("the adapter's own waits hold the clock; a JoinGroup out allows the rebalance timeout on top", () => {
    const { dog, errors } = setup(1_000, 5_000);
    dog.answered("b:1");
    dog.hold();
    dog.check(Date.now() + 3_000);
    expect(errors).toEqual([]);
    dog.release(); // the held time is not silence
    dog.check(Date.now() + 900);
    expect(errors).toEqual([]);
    dog.joining();
    dog.check(Date.now() + 5_500);
    expect(errors).toEqual([]);
    dog.check(Date.now() + 6_500);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/Kafka broker b:1/);
    dog.stop();
  });
});
