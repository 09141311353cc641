import type { Headers } from "./contract.js";

/**
 * W3C trace context. When `@opentelemetry/api` is installed, publish and process spans are
 * created and the active context is injected into / extracted from message headers; without
 * it, an existing `traceparent` header still travels untouched with the message.
 */
type OtelApi = typeof import("@opentelemetry/api");

let otel: OtelApi | null | undefined;
let cachedTracer: ReturnType<OtelApi["trace"]["getTracer"]> | undefined;

function tracer(api: OtelApi): ReturnType<OtelApi["trace"]["getTracer"]> {
  cachedTracer ??= api.trace.getTracer("@brook/core");
  return cachedTracer;
}

/** The OpenTelemetry API once loadOtel() found it; undefined before or without it. */
export function otelApi(): OtelApi | undefined {
  return otel ?? undefined;
}

/** Loads the optional OpenTelemetry API once; null when it is not installed. */
export async function loadOtel(): Promise<OtelApi | null> {
  if (otel !== undefined) return otel;
  try {
    otel = (await import("@opentelemetry/api")) as OtelApi;
  } catch {
    otel = null;
  }
  return otel;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export interface TraceParent {
  version: string;
  traceId: string;
  spanId: string;
  flags: string;
}

export function parseTraceparent(value: string | undefined): TraceParent | undefined {
  if (value === undefined) return undefined;
  const match = TRACEPARENT.exec(value.trim());
  if (match === null) return undefined;
  const [, version, traceId, spanId, flags] = match as unknown as [string, string, string, string, string];
  if (version === "ff" || /^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { version, traceId, spanId, flags };
}

export function formatTraceparent(tp: TraceParent): string {
  return `${tp.version}-${tp.traceId}-${tp.spanId}-${tp.flags}`;
}

let activeCheckedAt = 0;
let active = false;

/**
 * Whether an OpenTelemetry SDK is registered, checked at most once a second: without one every
 * span is a no-op, and skipping them keeps the per-message path lean.
 */
export function tracingActive(): boolean {
  const api = otel;
  if (api === null || api === undefined) return false;
  const now = Date.now();
  if (now - activeCheckedAt > 1_000) {
    activeCheckedAt = now;
    const provider = api.trace.getTracerProvider() as { getDelegate?: () => object };
    const delegate = provider.getDelegate?.() ?? provider;
    active = delegate.constructor?.name !== "NoopTracerProvider";
  }
  return active;
}

/** Injects the active OpenTelemetry context into `headers` (a no-op without the API). */
export function injectTraceContext(headers: Headers): void {
  if (otel === null || otel === undefined) return;
  otel.propagation.inject(otel.context.active(), headers);
}

/**
 * Runs `fn` in the trace context carried in `headers` (a no-op without the API), so what it
 * publishes (a dead letter) continues the message's trace.
 */
export function withContextOf<R>(headers: Headers, fn: () => Promise<R>): Promise<R> {
  const api = otel;
  if (api === null || api === undefined) return fn();
  return api.context.with(api.propagation.extract(api.context.active(), headers), fn);
}

/** Awaits `fn`, marks the span failed if it throws, and always ends it. */
async function endSpanAfter<R>(api: OtelApi, span: import("@opentelemetry/api").Span, fn: () => Promise<R>): Promise<R> {
  try {
    return await fn();
  } catch (err) {
    span.setStatus({ code: api.SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
    throw err;
  } finally {
    span.end();
  }
}

/**
 * Runs `fn` inside a consumer span whose parent is the context carried in `headers`; `group`
 * (the consumer group) tells apart the process spans of groups reading one topic.
 */
export async function withProcessSpan<R>(topic: string, headers: Headers, fn: () => Promise<R>, system = "brook", group?: string): Promise<R> {
  const api = otel;
  if (api === null || api === undefined) return fn();
  const parent = api.propagation.extract(api.context.active(), headers);
  const attributes: Record<string, string> = { "messaging.system": system, "messaging.destination.name": topic, "messaging.operation.type": "process" };
  if (group !== undefined) attributes["messaging.consumer.group.name"] = group;
  return tracer(api).startActiveSpan(
    `process ${topic}`,
    { kind: api.SpanKind.CONSUMER, attributes },
    parent,
    (span) => endSpanAfter(api, span, fn),
  );
}

/**
 * Runs `fn` inside a producer span "publish <topic>"; messages encoded inside it carry that
 * span's context in their `traceparent` header, so consumers' process spans become its children.
 */
export async function withPublishSpan<R>(topic: string, fn: () => Promise<R>, system = "brook"): Promise<R> {
  const api = otel;
  if (api === null || api === undefined) return fn();
  return tracer(api).startActiveSpan(
    `publish ${topic}`,
    { kind: api.SpanKind.PRODUCER, attributes: { "messaging.system": system, "messaging.destination.name": topic, "messaging.operation.type": "publish" } },
    (span) => endSpanAfter(api, span, fn),
  );
}
