// One trace per order across the orders demo's services: checkout's publish → billing's process
// and its publish of OrderBilled → shipping's process. The demo runs unchanged on the embedded
// broker (memory:) with an OpenTelemetry SDK preloaded (otel-setup.mjs: in-memory exporter,
// async-hooks context manager); the spans it finished are read back and their links checked.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, expect, test } from "@jest/globals";

const root = join(__dirname, "..", "..");
const main = join(root, "examples/orders/dist/main.js");

interface SpanRecord {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  status: number;
  attributes: Record<string, unknown>;
}
const PRODUCER = 3;
const CONSUMER = 4;
const ERROR = 2;

beforeAll(() => {
  if (!existsSync(main)) expect(spawnSync("npx", ["tsc", "-b"], { cwd: root, stdio: "inherit" }).status).toBe(0);
}, 120_000);

test("with an OpenTelemetry SDK registered, each order of the demo is one trace: checkout publish → billing process → billing publish → shipping process", () => {
  const dir = mkdtempSync(join(tmpdir(), "brook-demo-trace-"));
  try {
    const file = join(dir, "spans.json");
    const run = spawnSync(process.execPath, ["--import", join(__dirname, "otel-setup.mjs"), main], {
      cwd: root,
      env: { ...process.env, BROOK_URL: "memory:", BROOK_DEMO_SPANS: file },
      encoding: "utf8",
      // SIGKILL: the demo drains on SIGTERM, and spawnSync blocks this worker until it exits.
      timeout: 170_000,
      killSignal: "SIGKILL",
    });
    expect(`${run.stdout}${run.stderr}`).toContain("demo OK");
    expect(run.status).toBe(0);
    const spans = JSON.parse(readFileSync(file, "utf8")) as SpanRecord[];
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const children = (parent: SpanRecord, name: string, group?: string): SpanRecord[] =>
      spans.filter((s) => s.parentSpanId === parent.spanId && s.name === name && (group === undefined || s.attributes["messaging.consumer.group.name"] === group));

    // Checkout: one root publish span per publish call (201 orders and the repeated one), each its own trace.
    const checkouts = spans.filter((s) => s.name === "publish orders" && s.parentSpanId === undefined);
    expect(checkouts).toHaveLength(202);
    expect(new Set(checkouts.map((s) => s.traceId)).size).toBe(202);
    expect(checkouts.every((s) => s.kind === PRODUCER && s.attributes["messaging.system"] === "brook")).toBe(true);

    let chains = 0;
    let retriedShipments = 0;
    let poison = 0;
    for (const checkout of checkouts) {
      const billing = children(checkout, "process orders", "billing");
      if (billing.length === 0) continue; // the repeated publish: dropped as a duplicate by the broker
      expect(billing).toHaveLength(1);
      const billed = children(billing[0]!, "publish orders");
      expect(billed).toHaveLength(1);
      const shipping = children(billed[0]!, "process orders", "shipping");
      expect(shipping.length).toBeGreaterThanOrEqual(1);
      // Every span of the chain is in the checkout's trace, linked parent → child through traceparent.
      for (const span of [billing[0]!, billed[0]!, ...shipping]) {
        expect(span.traceId).toBe(checkout.traceId);
        expect(byId.get(span.parentSpanId!)?.traceId).toBe(checkout.traceId);
      }
      expect(billing[0]!.kind).toBe(CONSUMER);
      expect(billed[0]!.kind).toBe(PRODUCER);
      expect(shipping.every((s) => s.kind === CONSUMER)).toBe(true);
      chains += 1;
      // Dead-lettering follows the last attempt's span: its publish continues the message's
      // context (a child of the publish span the shipping attempts also hang from).
      const deadLetters = children(billed[0]!, "publish orders.dlq");
      if (deadLetters.length > 0) {
        // The poison order: one failed attempt (PermanentError), its dead letter published in
        // the same trace, and audit's processing of it below that.
        poison += 1;
        expect(shipping.map((s) => s.status)).toEqual([ERROR]);
        expect(deadLetters).toHaveLength(1);
        const audit = children(deadLetters[0]!, "process orders.dlq", "audit");
        expect(audit).toHaveLength(1);
        expect([deadLetters[0]!.traceId, audit[0]!.traceId]).toEqual([checkout.traceId, checkout.traceId]);
        continue;
      }
      // A shipment that failed once ("carrier API timed out") shows both attempts, the first failed.
      if (shipping.length > 1) retriedShipments += 1;
      expect(shipping.map((s) => s.status === ERROR)).toEqual(shipping.map((_, i) => i < shipping.length - 1));
    }
    // 200 orders and the poison one: each billed and handed to shipping in its own trace.
    expect(chains).toBe(201);
    // The demo fails the first attempt of every tenth order (20) and dead-letters the poison one.
    expect(retriedShipments).toBe(20);
    expect(poison).toBe(1);
    // No stray traces: every span belongs to some checkout's trace, dead letters included.
    const traces = new Set(checkouts.map((s) => s.traceId));
    expect(spans.filter((s) => !traces.has(s.traceId))).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 180_000);
