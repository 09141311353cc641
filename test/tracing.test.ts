import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { context, propagation, trace, type Span } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { connect, PermanentError, type Broker } from "@brook/core";
import { parseTraceparent } from "@brook/core/spi";
import "@brook/local-broker";
import { waitFor } from "@brook/contract-tests";

const exporter = new InMemorySpanExporter();
let broker: Broker;

beforeAll(async () => {
  const manager = new AsyncLocalStorageContextManager();
  manager.enable();
  context.setGlobalContextManager(manager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  broker = await connect("memory:");
});

afterAll(async () => {
  await broker.close();
  trace.disable();
  propagation.disable();
  context.disable();
});

test("publish and process spans share one trace through the traceparent header", async () => {
  await broker.admin.createTopic("traced", { partitions: 2 });
  const got: Array<{ traceparent: string | undefined; activeTraceId: string | undefined }> = [];
  const sub = await broker.subscribe<string>("traced", {
    group: "g",
    startFrom: "earliest",
    handler: (m) => void got.push({ traceparent: m.headers.traceparent, activeTraceId: trace.getActiveSpan()?.spanContext().traceId }),
  });
  const tracer = trace.getTracer("test");
  const checkoutTraceId = await tracer.startActiveSpan("checkout", async (span: Span) => {
    await broker.publisher<string>("traced").publish({ data: "order-1", key: "k" });
    span.end();
    return span.spanContext().traceId;
  });
  await waitFor(() => got.length === 1, 10_000, "the traced message");
  await sub.close();
  const header = parseTraceparent(got[0]!.traceparent);
  expect(header?.traceId).toBe(checkoutTraceId);
  expect(got[0]!.activeTraceId).toBe(checkoutTraceId);
  const spans = exporter.getFinishedSpans();
  const publish = spans.find((s) => s.name === "publish traced")!;
  const processSpan = spans.find((s) => s.name === "process traced")!;
  expect(publish.spanContext().traceId).toBe(checkoutTraceId);
  expect(header?.spanId).toBe(publish.spanContext().spanId);
  expect(processSpan.parentSpanContext?.spanId ?? (processSpan as unknown as { parentSpanId?: string }).parentSpanId).toBe(publish.spanContext().spanId);
  expect(processSpan.attributes["messaging.destination.name"]).toBe("traced");
  // The local broker is its own system; the Kafka and Pub/Sub adapters say "kafka" and "gcp_pubsub".
  expect(processSpan.attributes["messaging.system"]).toBe("brook");
  expect(publish.attributes["messaging.system"]).toBe("brook");
});

test("a traceparent the application set travels untouched", async () => {
  await broker.admin.createTopic("carried", { partitions: 1 });
  const seen: string[] = [];
  const sub = await broker.subscribe<string>("carried", { group: "g", startFrom: "earliest", handler: (m) => void seen.push(m.headers.traceparent ?? "") });
  const given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  await broker.publisher<string>("carried").publish({ data: "x", headers: { traceparent: given } });
  await waitFor(() => seen.length === 1, 10_000, "the message");
  await sub.close();
  expect(seen[0]).toBe(given);
});

test("a process span names its consumer group; a dead letter is published in the failed message's trace and carries its own span", async () => {
  await broker.admin.createTopic("failing", { partitions: 1 });
  await broker.admin.createTopic("failing.dlq", { partitions: 1 });
  const dead: Array<{ traceparent: string | undefined }> = [];
  const dlq = await broker.subscribe<string>("failing.dlq", { group: "ops", startFrom: "earliest", handler: (m) => void dead.push({ traceparent: m.headers.traceparent }) });
  const sub = await broker.subscribe<string>("failing", {
    group: "payments",
    startFrom: "earliest",
    deadLetter: { topic: "failing.dlq" },
    handler: () => {
      throw new PermanentError("card declined");
    },
  });
  exporter.reset();
  await broker.publisher<string>("failing").publish({ data: "order-9" });
  await waitFor(() => dead.length === 1, 10_000, "the dead letter");
  await Promise.all([sub.close(), dlq.close()]);
  const spans = exporter.getFinishedSpans();
  const parentOf = (s: (typeof spans)[number]): string | undefined => s.parentSpanContext?.spanId;
  const publish = spans.find((s) => s.name === "publish failing")!;
  const processSpan = spans.find((s) => s.name === "process failing")!;
  const deadPublish = spans.find((s) => s.name === "publish failing.dlq")!;
  const deadProcess = spans.find((s) => s.name === "process failing.dlq")!;
  expect(processSpan.attributes["messaging.consumer.group.name"]).toBe("payments");
  expect(deadProcess.attributes["messaging.consumer.group.name"]).toBe("ops");
  const traceId = publish.spanContext().traceId;
  expect([processSpan, deadPublish, deadProcess].map((s) => s.spanContext().traceId)).toEqual([traceId, traceId, traceId]);
  expect(parentOf(processSpan)).toBe(publish.spanContext().spanId);
  expect(parentOf(deadPublish)).toBe(publish.spanContext().spanId);
  expect(parseTraceparent(dead[0]!.traceparent)?.spanId).toBe(deadPublish.spanContext().spanId);
  expect(parentOf(deadProcess)).toBe(deadPublish.spanContext().spanId);
});
