/**
 * OpenTelemetry on Kinesis: the publish and process spans name the system the way the semantic
 * conventions do ("aws_kinesis"), and the trace travels through the record (the traceparent
 * header rides in the KPL envelope, since a Kinesis record has no headers).
 */
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { context, propagation, trace, type Span } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { connect } from "@brook/core";
import type { KinesisBroker } from "@brook/adapter-kinesis";
import { uniqueTopic, waitFor } from "@brook/contract-tests";
import { FAST_LEASES, describeKinesis, stopAfterAll, useKinesis } from "./emulator.js";

describeKinesis("tracing", () => {
  const k = useKinesis();
  const exporter = new InMemorySpanExporter();
  let broker: KinesisBroker;

  beforeAll(async () => {
    const manager = new AsyncLocalStorageContextManager();
    manager.enable();
    context.setGlobalContextManager(manager);
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    broker = await connect(k.url(FAST_LEASES));
  });
  afterAll(async () => {
    await broker?.close();
    trace.disable();
    propagation.disable();
    context.disable();
  });
  stopAfterAll(k);

  test('publish and process spans say messaging.system "aws_kinesis" and share one trace through the record', async () => {
    const stream = uniqueTopic("traced");
    await broker.admin.createTopic(stream, { partitions: 1 });
    const got: Array<string | undefined> = [];
    const sub = await broker.subscribe<string>(stream, {
      group: "tracers",
      codec: "string",
      startFrom: "earliest",
      handler: () => void got.push(trace.getActiveSpan()?.spanContext().traceId),
    });
    const traceId = await trace.getTracer("test").startActiveSpan("checkout", async (span: Span) => {
      await broker.publisher<string>(stream, { codec: "string" }).publish({ data: "order-1", key: "k" });
      span.end();
      return span.spanContext().traceId;
    });
    await waitFor(() => got.length === 1, 30_000, "the traced message");
    await sub.close();
    expect(got[0]).toBe(traceId);
    const spans = exporter.getFinishedSpans();
    const publish = spans.find((s) => s.name === `publish ${stream}`);
    const processed = spans.find((s) => s.name === `process ${stream}`);
    expect(publish?.attributes["messaging.system"]).toBe("aws_kinesis");
    expect(processed?.attributes["messaging.system"]).toBe("aws_kinesis");
    expect(processed?.attributes["messaging.destination.name"]).toBe(stream);
  });
});
