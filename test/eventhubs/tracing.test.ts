/** OpenTelemetry spans of the Event Hubs adapter name their system "eventhubs" (semantic conventions). */
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { context, propagation, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { connect, type Broker } from "@brook/core";
import "@brook/adapter-eventhubs";
import { uniqueTopic, waitFor } from "@brook/contract-tests";
import { describeEventHubs, eventHubsUrl, testServerHubManager, uniqueContainer } from "./backend.js";

describeEventHubs("tracing", (eh) => {
  const exporter = new InMemorySpanExporter();
  let broker: Broker;
  beforeAll(async () => {
    const manager = new AsyncLocalStorageContextManager();
    manager.enable();
    context.setGlobalContextManager(manager);
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    broker = await connect(eventHubsUrl(eh, uniqueContainer("traced")), { hubManager: testServerHubManager(eh.controlUrl) });
  });
  afterAll(async () => {
    await broker?.close();
    trace.disable();
    propagation.disable();
    context.disable();
  });

  test("publish and process spans say messaging.system eventhubs and share the trace", async () => {
    const hub = uniqueTopic("traced");
    await broker.admin.createTopic(hub, { partitions: 1 });
    const seen: Array<string | undefined> = [];
    const sub = await broker.subscribe<string>(hub, { group: "g", startFrom: "earliest", handler: () => void seen.push(trace.getActiveSpan()?.spanContext().traceId) });
    await broker.publisher<string>(hub).publish({ data: "x" });
    await waitFor(() => seen.length === 1, 20_000, "the message");
    await sub.close();
    const spans = exporter.getFinishedSpans();
    const publish = spans.find((s) => s.name === `publish ${hub}`);
    const processSpan = spans.find((s) => s.name === `process ${hub}`);
    expect(publish?.attributes["messaging.system"]).toBe("eventhubs");
    expect(processSpan?.attributes["messaging.system"]).toBe("eventhubs");
    expect(seen[0]).toBe(publish!.spanContext().traceId);
  });
});
