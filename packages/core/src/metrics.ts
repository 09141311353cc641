// OpenTelemetry metrics, following the messaging semantic conventions where they name a metric
// (messaging.client.sent.messages, messaging.client.consumed.messages,
// messaging.client.operation.duration, messaging.process.duration) and `brook.*` for the rest.
// Like the spans, they exist only when `@opentelemetry/api` is installed and a MeterProvider is
// registered; otherwise every call here is one cheap check.
import type { Attributes, Histogram, Counter, Meter } from "@opentelemetry/api";

import { otelApi } from "./tracing.js";
import type { PartitionHealth } from "./contract.js";
import type { SubscriptionStats } from "./subscription/handler-runner.js";

const SECONDS = 1_000;

interface Instruments {
  meter: Meter;
  sent: Counter;
  sendDuration: Histogram;
  processDuration: Histogram;
}

/** What the observable instruments read from a live subscription. */
export interface MeteredSubscription {
  stats(): SubscriptionStats;
  health(): PartitionHealth[];
}

interface Registered {
  subscription: MeteredSubscription;
  attributes: Attributes;
}

const live = new Set<Registered>();
let instruments: Instruments | undefined;
let instrumentsFrom: unknown;
let checkedAt = 0;
let active = false;

/** Whether a MeterProvider is registered (checked at most once a second). */
export function metricsActive(): boolean {
  const api = otelApi();
  if (api === undefined) return false;
  const now = Date.now();
  if (now - checkedAt > SECONDS) {
    checkedAt = now;
    const provider = api.metrics.getMeterProvider() as { constructor?: { name?: string } };
    active = provider.constructor?.name !== "NoopMeterProvider";
  }
  return active;
}

/** The instruments, created on the registered provider (again if the provider changed). */
function meter(): Instruments | undefined {
  if (!metricsActive()) return undefined;
  const api = otelApi()!;
  const provider = api.metrics.getMeterProvider();
  if (instruments !== undefined && instrumentsFrom === provider) return instruments;
  const m = provider.getMeter("@brook/core");
  const counts: Array<[string, string, keyof SubscriptionStats]> = [
    ["messaging.client.consumed.messages", "Messages delivered to handlers", "delivered"],
    ["brook.messages.acked", "Messages settled (handled, deduplicated or dead-lettered)", "acked"],
    ["brook.messages.retried", "Failed handler attempts that were retried", "retried"],
    ["brook.messages.dead_lettered", "Messages moved to the dead-letter topic after their last attempt", "deadLettered"],
    ["brook.messages.deduplicated", "Messages acknowledged without running the handler (dedupe store)", "duplicates"],
  ];
  for (const [name, description, field] of counts) {
    m.createObservableCounter(name, { description, unit: "{message}" }).addCallback((result) => {
      for (const r of live) result.observe(r.subscription.stats()[field], r.attributes);
    });
  }
  m.createObservableGauge("brook.subscription.in_flight", { description: "Messages delivered and not yet settled", unit: "{message}" }).addCallback((result) => {
    for (const r of live) {
      for (const p of r.subscription.health()) result.observe(p.inFlight, { ...r.attributes, "messaging.destination.partition.id": p.partition });
    }
  });
  m.createObservableGauge("brook.subscription.lag", { description: "Messages published and not yet settled by the group, per partition (when known)", unit: "{message}" }).addCallback(
    (result) => {
      for (const r of live) {
        for (const p of r.subscription.health()) {
          if (p.lag !== undefined) result.observe(p.lag, { ...r.attributes, "messaging.destination.partition.id": p.partition });
        }
      }
    },
  );
  instruments = {
    meter: m,
    sent: m.createCounter("messaging.client.sent.messages", { description: "Messages a publisher sent (error.type set when the send failed)", unit: "{message}" }),
    sendDuration: m.createHistogram("messaging.client.operation.duration", { description: "Duration of a send to the backend (one batch)", unit: "s" }),
    processDuration: m.createHistogram("messaging.process.duration", { description: "Duration of a handler call", unit: "s" }),
  };
  instrumentsFrom = provider;
  return instruments;
}

/** Counts one send of `ok + failed` messages that took `ms`. */
export function recordSend(system: string, topic: string, ok: number, failed: Map<string, number>, ms: number): void {
  const m = meter();
  if (m === undefined) return;
  const attributes: Attributes = { "messaging.system": system, "messaging.destination.name": topic, "messaging.operation.name": "send", "messaging.operation.type": "send" };
  if (ok > 0) m.sent.add(ok, attributes);
  for (const [code, count] of failed) m.sent.add(count, { ...attributes, "error.type": code });
  m.sendDuration.record(ms / SECONDS, failed.size > 0 ? { ...attributes, "error.type": [...failed.keys()][0]! } : attributes);
}

/** Times a handler call (messaging.process.duration); error.type is the thrown error's code or name. */
export function timeHandler<A extends unknown[]>(system: string, topic: string, group: string, fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  const attributes: Attributes = {
    "messaging.system": system,
    "messaging.destination.name": topic,
    "messaging.consumer.group.name": group,
    "messaging.operation.name": "process",
    "messaging.operation.type": "process",
  };
  return async (...args: A) => {
    const m = meter();
    if (m === undefined) return fn(...args);
    const started = performance.now();
    try {
      await fn(...args);
      m.processDuration.record((performance.now() - started) / SECONDS, attributes);
    } catch (err) {
      const type = (err as { code?: unknown } | null)?.code ?? (err as Error | null)?.name ?? "Error";
      m.processDuration.record((performance.now() - started) / SECONDS, { ...attributes, "error.type": String(type) });
      throw err;
    }
  };
}

/** Observes the subscription's counts, in-flight and lag until the returned function is called. */
export function meterSubscription(subscription: MeteredSubscription, system: string, topic: string, group: string): () => void {
  const entry: Registered = {
    subscription,
    attributes: { "messaging.system": system, "messaging.destination.name": topic, "messaging.consumer.group.name": group },
  };
  live.add(entry);
  meter(); // creates the observable instruments when a provider is registered
  return () => void live.delete(entry);
}
