/** Type-level checks of subscribe() and consume(): each @ts-expect-error line must fail to compile. */
import type { Broker } from "@brook/core";

export async function subscribeTypes(broker: Broker): Promise<void> {
  await broker.subscribe<number>("t", { group: "g", handler: (m) => void m.data.toFixed() });
  await broker.subscribe<number>("t", { group: "g", batchHandler: (ms) => void ms.length, maxBatchSize: 10 });
  // @ts-expect-error neither handler nor batchHandler
  await broker.subscribe("t", { group: "g" });
  // @ts-expect-error both handler and batchHandler
  await broker.subscribe("t", { group: "g", handler: () => undefined, batchHandler: () => undefined });
  // @ts-expect-error maxBatchSize goes with a batchHandler only
  await broker.subscribe("t", { group: "g", handler: () => undefined, maxBatchSize: 10 });
  for await (const m of broker.consume<{ total: number }>("t", { group: "g" })) void m.data.total;
  // @ts-expect-error consume() takes no handler: the loop body is the handler
  broker.consume("t", { group: "g", handler: () => undefined });
  {
    await using pub = broker.publisher<string>("t");
    await pub.publish({ data: "x" }, { signal: AbortSignal.timeout(1_000) });
  }
}
