// Preloaded into the orders demo (node --import) by orders-trace.test.ts: registers an
// OpenTelemetry SDK with an in-memory span exporter (W3C trace context, async-hooks context) and,
// when the process exits, writes the finished spans as JSON to $BROOK_DEMO_SPANS. The demo itself
// has no tracing code: @brook/core finds the registered SDK.
import { writeFileSync } from "node:fs";
import { context, propagation, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";

const out = process.env.BROOK_DEMO_SPANS;
if (out === undefined) throw new Error("otel-setup.mjs: set BROOK_DEMO_SPANS to the file the spans go to");
const exporter = new InMemorySpanExporter();
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));

process.on("exit", () => {
  const spans = exporter.getFinishedSpans().map((s) => ({
    name: s.name,
    kind: s.kind,
    traceId: s.spanContext().traceId,
    spanId: s.spanContext().spanId,
    parentSpanId: s.parentSpanContext?.spanId,
    status: s.status.code,
    attributes: s.attributes,
  }));
  writeFileSync(out, JSON.stringify(spans));
});
