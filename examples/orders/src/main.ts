/**
 * The orders demo: three small services on one broker URL.
 * - checkout publishes OrderPlaced events keyed by customer (with an idempotency key per order);
 * - billing (group "billing") totals every order per customer and publishes OrderBilled to the
 *   same stream;
 * - shipping (group "shipping") ships each billed order; it fails now and then and is retried,
 *   and a poison order is dead-lettered to "orders.dlq", where an audit service picks it up.
 *   Shipping is elastic: it starts as one instance, scales out to three while orders flow and
 *   back to one (the instances share the group: the backend balances partitions, shards or
 *   messages across them, and a leaving instance drains and hands its share over).
 * The code is the same for every backend: only BROOK_URL changes. With an OpenTelemetry SDK
 * registered (e.g. `node --import ./otel-setup.mjs dist/main.js`), each order is one trace:
 * checkout's publish → billing's process and publish → shipping's process (traceparent headers).
 */
import { randomUUID } from "node:crypto";
import { MemoryDedupeStore, PermanentError, connect, type Broker, type Subscription } from "@brook/core";

interface OrderPlaced {
  /** OrderPlaced (from checkout) or OrderBilled (from billing); absent means placed */
  event?: "billed";
  runId: string;
  orderId: string;
  customer: string;
  total: number;
}

const url = process.env.BROOK_URL ?? "local:./.brook-data";
const ORDERS = 200;
const CUSTOMERS = 20;
const POISON = "order-poison";
/** Checkout publishes in waves; shipping scales out after the first and back in after the third. */
const WAVES = 4;
/** Shipping instances at the peak (BROOK_DEMO_SHIPPING_PEAK; 1 turns scaling off). */
const SHIPPING_PEAK = Number(process.env.BROOK_DEMO_SHIPPING_PEAK ?? 3);

/** What the demo is doing, for the message of its overall time limit. */
let phase = "connecting";
/** The demo's own bound: a service that hangs (a close that never drains) fails it loudly. */
const DEMO_LIMIT_MS = Number(process.env.BROOK_DEMO_LIMIT_MS ?? 150_000);
if (!Number.isSafeInteger(DEMO_LIMIT_MS) || DEMO_LIMIT_MS < 1) {
  console.error(`BROOK_DEMO_LIMIT_MS: expected a positive integer, got "${process.env.BROOK_DEMO_LIMIT_MS}"`);
  process.exit(1);
}
setTimeout(() => {
  console.error(`demo FAILED: still ${phase} after ${DEMO_LIMIT_MS} ms`);
  process.exit(1);
}, DEMO_LIMIT_MS).unref();

/** Set by SIGTERM (a deploy stopping the demo): the services drain and close, and it exits 0. */
let terminated = false;
process.once("SIGTERM", () => {
  terminated = true;
});

async function main(): Promise<number> {
  if (!Number.isSafeInteger(SHIPPING_PEAK) || SHIPPING_PEAK < 1) throw new Error(`BROOK_DEMO_SHIPPING_PEAK: expected an integer >= 1, got "${process.env.BROOK_DEMO_SHIPPING_PEAK}"`);
  const runId = randomUUID().slice(0, 8);
  const broker = await connect(url);
  try {
    // A capacity hint: backends without partitions (Pub/Sub: order per ordering key) accept it.
    await broker.admin.createTopic("orders", { partitions: 4, ifNotExists: true });
    await broker.admin.createTopic("orders.dlq", { partitions: 1, ifNotExists: true });
    phase = "starting the services";
    return await runServices(broker, runId);
  } finally {
    await broker.close();
  }
}

async function runServices(broker: Broker, runId: string): Promise<number> {
  const billed = new Map<string, number>();
  const shipped = new Set<string>();
  const lastShippedPerCustomer = new Map<string, number>();
  let outOfOrder = 0;
  let shippingRetries = 0;
  let redelivered = 0;
  const deadLetters: string[] = [];

  const billedEvents = broker.publisher<OrderPlaced>("orders");
  const billing = await broker.subscribe<OrderPlaced>("orders", {
    group: "billing",
    startFrom: "latest",
    // Billing must never charge twice: a repeated order id reaches the handler once.
    dedupe: { store: new MemoryDedupeStore(), ttlMs: 3600_000 },
    ordering: "key", // billed events go on in each customer's order
    handler: async (m) => {
      if (m.data.runId !== runId || m.data.event === "billed") return;
      billed.set(m.data.customer, (billed.get(m.data.customer) ?? 0) + m.data.total);
      // Published inside the handler: its traceparent continues the order's trace.
      await billedEvents.publish({ key: m.data.customer, idempotencyKey: `${m.data.orderId}/billed`, data: { ...m.data, event: "billed" } });
    },
  });
  /** Orders each shipping instance handled (an instance's index is its position here). */
  const handledBy: number[] = [];
  const startShipping = async (): Promise<Subscription> => {
    const instance = handledBy.push(0) - 1;
    return broker.subscribe<OrderPlaced>("orders", {
      group: "shipping",
      startFrom: "latest",
      ordering: "key",
      retry: { maxAttempts: 3, minDelayMs: 20, maxDelayMs: 200 },
      deadLetter: { topic: "orders.dlq" },
      handler: async (m) => {
        if (m.data.runId !== runId || m.data.event !== "billed") return;
        if (m.data.orderId.endsWith(POISON)) throw new PermanentError(`order ${m.data.orderId} has no shipping address`);
        // The carrier's API times out on the first try for every tenth order.
        const n = Number(m.data.orderId.split("-").pop());
        if (n % 10 === 3 && m.deliveryAttempt === 1) {
          shippingRetries += 1;
          throw new Error("carrier API timed out");
        }
        // A repeat (a re-published order where the backend has no publish dedupe, or an
        // at-least-once redelivery, e.g. after an instance left before committing) is shipped
        // once, not again.
        if (shipped.has(m.data.orderId)) {
          redelivered += 1;
          return;
        }
        const previous = lastShippedPerCustomer.get(m.data.customer) ?? -1;
        if (n < previous) {
          outOfOrder += 1;
          if (process.env.BROOK_DEMO_DEBUG) console.error(`out of order: ${m.data.orderId} after ${previous} (attempt ${m.deliveryAttempt}, ${m.position.partition}/${m.position.offset})`);
        }
        lastShippedPerCustomer.set(m.data.customer, n);
        shipped.add(m.data.orderId);
        handledBy[instance]! += 1;
      },
    });
  };
  const shipping: Subscription[] = [await startShipping()];
  const audit = await broker.subscribe<OrderPlaced>("orders.dlq", {
    group: "audit",
    startFrom: "latest",
    handler: (m) => {
      if (m.data.runId === runId) deadLetters.push(`${m.data.orderId}: ${m.headers["brook-dlq-reason"] ?? "?"}`);
    },
  });

  console.log(`services running on ${url}: billing, shipping, audit; checkout publishes ${ORDERS + 1} orders in ${WAVES} waves`);

  // checkout
  const checkout = broker.publisher<OrderPlaced>("orders");
  const orders: OrderPlaced[] = [];
  for (let i = 0; i < ORDERS; i++) {
    orders.push({ runId, orderId: `${runId}-${i}`, customer: `cust-${i % CUSTOMERS}`, total: 10 + (i % 7) });
  }
  orders.push({ runId, orderId: `${runId}-${POISON}`, customer: "cust-0", total: 99 });
  // One publish per order, as one checkout request each (the publisher batches them): with
  // tracing on, each order starts its own trace. Between waves shipping scales while the
  // previous wave is still being shipped: out to SHIPPING_PEAK instances after the first wave,
  // back to one after the third (a leaving instance drains: its in-flight orders finish and
  // their positions are committed before its share moves to the others).
  let failedPublishes = 0;
  const perWave = Math.ceil(orders.length / WAVES);
  phase = "publishing wave 1";
  for (let wave = 0; wave < WAVES; wave++) {
    const results = await Promise.allSettled(orders.slice(wave * perWave, (wave + 1) * perWave).map((o) => checkout.publish({ key: o.customer, idempotencyKey: o.orderId, data: o })));
    failedPublishes += results.filter((r) => r.status === "rejected").length;
    phase = `scaling shipping after wave ${wave + 1}`;
    if (wave === 0) while (shipping.length < SHIPPING_PEAK) shipping.push(await startShipping());
    if (wave === 2) await Promise.all(shipping.splice(1).map((instance) => instance.close({ drain: true })));
    phase = `publishing wave ${wave + 2}`;
  }
  // A retried checkout request publishes the same order again; the idempotency key catches it.
  const repeat = await checkout.publish({ key: orders[0]!.customer, idempotencyKey: orders[0]!.orderId, data: orders[0]! });
  await checkout.close();

  const expectedBilled = new Map<string, number>();
  for (const o of orders) expectedBilled.set(o.customer, (expectedBilled.get(o.customer) ?? 0) + o.total);
  const billedCount = (): number => [...billed.values()].reduce((a, b) => a + b, 0);
  const expectedTotal = [...expectedBilled.values()].reduce((a, b) => a + b, 0);
  phase = "waiting for the services";
  const deadline = Date.now() + 60_000;
  while (!terminated && Date.now() < deadline && (shipped.size < ORDERS || deadLetters.length < 1 || billedCount() < expectedTotal)) {
    await new Promise((r) => setTimeout(r, 50));
  }
  // Drain: in-flight handlers finish, positions are committed, the groups are left.
  phase = "draining the services";
  await Promise.all([billing.close({ drain: true }), ...shipping.map((instance) => instance.close({ drain: true })), audit.close({ drain: true })]);
  await billedEvents.close();
  if (terminated) {
    console.log(`SIGTERM: services drained and closed (${shipped.size} of ${ORDERS} shipped so far); stopping`);
    return 0;
  }

  const billingOk = [...expectedBilled].every(([c, total]) => billed.get(c) === total);
  const ok = failedPublishes === 0 && shipped.size === ORDERS && deadLetters.length === 1 && outOfOrder === 0 && billingOk;
  console.log(`Brook orders demo on ${url} (run ${runId})`);
  console.table({
    checkout: { detail: `${orders.length} orders published, ${failedPublishes} failed, repeat publish duplicate=${repeat.duplicate}` },
    billing: { detail: `${billed.size} customers billed, ${billedCount()} of ${expectedTotal} total` },
    shipping: { detail: `${shipped.size} of ${ORDERS} shipped, ${shippingRetries} retried, ${redelivered} repeats skipped, ${outOfOrder} out of order` },
    "shipping instances": { detail: SHIPPING_PEAK > 1 ? `1 → ${SHIPPING_PEAK} → 1 while orders flowed; shipped per instance: ${handledBy.join(", ")}` : "1 (scaling off: BROOK_DEMO_SHIPPING_PEAK=1)" },
    audit: { detail: `${deadLetters.length} dead-lettered: ${deadLetters.join("; ")}` },
  });
  console.log(ok ? "demo OK" : "demo FAILED");
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? `${(err as { code?: string }).code ?? "ERROR"}: ${err.message}` : err);
    process.exit(1);
  },
);
