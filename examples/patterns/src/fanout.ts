/**
 * Buffering and fan-out. A burst far above a consumer's pace is absorbed by the log: the
 * publisher never waits for consumers, the slow group's lag rises and drains, and nothing is
 * lost. Meanwhile two more groups read the same stream: one in real time (a message at a time)
 * and one in micro-batches (`batchHandler`), each getting every message once.
 */
import type { Broker, Subscription } from "@brook/core";
import { check, freshTopic, until, type Report } from "./util.js";

export async function burst(broker: Broker, messages = 2_000): Promise<Report> {
  const report: Report = { ok: true, lines: [`buffering and fan-out: a burst of ${messages} messages, three groups`] };
  const topic = await freshTopic(broker, "clicks");
  const slow = new Set<number>();
  const realtime = new Set<number>();
  const batched = new Set<number>();
  let repeats = 0;
  const add = (set: Set<number>, n: number): void => {
    if (set.has(n)) repeats++;
    set.add(n);
  };
  let batches = 0;
  let maxLag = 0;
  let lagKnown = false;
  const subs: Subscription[] = [
    await broker.subscribe<{ n: number }>(topic, {
      group: "slow-reports",
      startFrom: "earliest",
      maxInFlight: 4, // a consumer with a fixed pace: at most 4 at a time, 2 ms each
      handler: async (m) => {
        await new Promise((r) => setTimeout(r, 2));
        add(slow, m.data.n);
      },
    }),
    await broker.subscribe<{ n: number }>(topic, { group: "live-dashboard", startFrom: "earliest", handler: (m) => add(realtime, m.data.n) }),
    await broker.subscribe<{ n: number }>(topic, {
      group: "warehouse-loader",
      startFrom: "earliest",
      maxBatchSize: 100,
      batchHandler: (batch) => {
        batches++;
        for (const m of batch) add(batched, m.data.n);
      },
    }),
  ];
  const pub = broker.publisher<{ n: number }>(topic);
  const started = Date.now();
  for (let i = 0; i < messages; i += 500) {
    await pub.publishBatch(Array.from({ length: Math.min(500, messages - i) }, (_, j) => ({ key: `user-${(i + j) % 50}`, data: { n: i + j } })));
  }
  const publishedMs = Date.now() - started;
  const sampler = setInterval(() => {
    const health = subs[0]!.health();
    lagKnown ||= health.some((p) => p.lag !== undefined);
    maxLag = Math.max(maxLag, health.reduce((sum, p) => sum + (p.lag ?? 0), 0));
  }, 50);
  await until(() => slow.size >= messages && realtime.size >= messages && batched.size >= messages, 120_000);
  const slowMs = Date.now() - started;
  clearInterval(sampler);
  const drained = await until(() => subs[0]!.health().every((p) => (p.lag ?? 0) === 0), 10_000);
  await Promise.all(subs.map((s) => s.close()));
  await pub.close();
  check(report, slow.size === messages && realtime.size === messages && batched.size === messages, `every group got all ${messages} (slow ${slow.size}, live ${realtime.size}, batched ${batched.size})`);
  check(report, repeats === 0, `${repeats} repeats`);
  check(report, publishedMs < slowMs, `the publisher finished in ${publishedMs} ms, the slow group in ${slowMs} ms: it never waited for it`);
  if (lagKnown) check(report, maxLag > 0 && drained, `the slow group's lag rose to ${maxLag} and drained to 0`);
  else report.lines.push("-    this backend reports no lag figure (health().lag undefined)");
  check(report, batches < messages, `the loader took ${messages} messages in ${batches} batches`);
  return report;
}
