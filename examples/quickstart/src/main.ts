import { randomUUID } from "node:crypto";
import { connect, PermanentError } from "@brook/core";

// npm install @brook/core @brook/local-broker  (kafka://: @brook/adapter-kafka, pubsub://: @brook/adapter-pubsub)
const broker = await connect(process.env.BROOK_URL ?? "local:./data"); // or memory:, kafka://…, pubsub://…
await broker.admin.createTopic("orders", { partitions: 4, ifNotExists: true });
await broker.admin.createTopic("orders.dlq", { ifNotExists: true }); // where failed orders go

const orderId = `order-${randomUUID()}`;
let billed!: () => void;
const done = new Promise<void>((resolve) => (billed = resolve));

const sub = await broker.subscribe<{ total: number }>("orders", {
  group: "billing",                       // every group gets every message
  ordering: "key",                        // one key in order, keys in parallel
  maxInFlight: 256,
  retry: { maxAttempts: 5, minDelayMs: 100, maxDelayMs: 30_000 },
  deadLetter: { topic: "orders.dlq" },
  handler: async (msg) => {               // resolve = ack, throw = retry
    if (msg.data.total < 0) throw new PermanentError("negative total"); // straight to the DLQ
    console.log("billed", msg.key, msg.data.total, msg.position);
    if (msg.idempotencyKey === orderId) billed();
  },
});

// A deploy stops the service with SIGTERM: finish what is in flight, commit, leave the group.
process.once("SIGTERM", () => {
  console.log("SIGTERM: draining");
  void sub.close({ drain: true, timeoutMs: 10_000 }).then(() => broker.close()).then(() => process.exit(0));
});

const pub = broker.publisher<{ total: number }>("orders");
const r = await pub.publish({ key: "cust-42", idempotencyKey: orderId, data: { total: 12 } });
console.log("published", r.position);

const deadline = setTimeout(() => { console.error("not billed within 30 s"); process.exit(1); }, 30_000);
await done;                               // wait for the handler before closing
clearTimeout(deadline);
await sub.close({ drain: true });
await broker.close();
