/**
 * OpenTelemetry on Firehose, against the tests' fake endpoint (what the record holds is what
 * matters): the publish span says messaging.system "aws_firehose"; with tracing on, a plain
 * publish still works without the envelope (the injected traceparent is dropped, not refused),
 * and with envelope "json" the traceparent is written in the line's headers, so a reader of the
 * bucket can join the trace.
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { context, propagation, trace, type Span } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { connect } from "@brook/core";
import type { FirehoseBroker } from "@brook/adapter-kinesis";
import { uniqueTopic } from "@brook/contract-tests";
import { startFakeKinesis, type FakeKinesis } from "../kinesis/fake-kinesis.js";

describe("Firehose tracing", () => {
  const exporter = new InMemorySpanExporter();
  let fake: FakeKinesis;
  let broker: FirehoseBroker;

  beforeAll(async () => {
    const manager = new AsyncLocalStorageContextManager();
    manager.enable();
    context.setGlobalContextManager(manager);
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    fake = await startFakeKinesis();
    let id = 0;
    fake.on("PutRecordBatch", (body) => {
      const records = body.Records as unknown[];
      return { body: { FailedPutCount: 0, Encrypted: false, RequestResponses: records.map(() => ({ RecordId: `rec-${id++}` })) } };
    });
    broker = await connect(`firehose://us-east-1?endpoint=${encodeURIComponent(fake.endpoint)}`);
  });
  afterAll(async () => {
    await broker?.close();
    await fake?.close();
    trace.disable();
    propagation.disable();
    context.disable();
  });

  const lines = (): string[] =>
    fake.requests.filter((r) => r.operation === "PutRecordBatch").flatMap((r) => (r.body.Records as Array<{ Data: string }>).map((e) => Buffer.from(e.Data, "base64").toString()));

  test('the publish span says "aws_firehose"; traceparent is dropped from a bare record and kept in the JSON envelope', async () => {
    const stream = uniqueTopic("fh-traced");
    fake.requests.length = 0;
    const traceId = await trace.getTracer("test").startActiveSpan("checkout", async (span: Span) => {
      await broker.publisher<unknown>(stream).publish({ data: { total: 12 } });
      await broker.publisher<unknown>(stream, { envelope: "json" }).publish({ data: { total: 13 } });
      span.end();
      return span.spanContext().traceId;
    });
    const [bare, enveloped] = lines();
    expect(bare).toBe('{"total":12}\n');
    const line = JSON.parse(enveloped!) as { data: unknown; headers: Record<string, string> };
    expect(line.data).toEqual({ total: 13 });
    expect(line.headers["content-type"]).toBe("application/json");
    expect(line.headers.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-0[01]$`));
    const publishes = exporter.getFinishedSpans().filter((s) => s.name === `publish ${stream}`);
    expect(publishes.length).toBe(2);
    for (const s of publishes) {
      expect(s.attributes["messaging.system"]).toBe("aws_firehose");
      expect(s.spanContext().traceId).toBe(traceId);
    }
  });
});
