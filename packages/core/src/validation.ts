/**
 * Message and topic validation: leaf functions with no machinery behind them, so that
 * `@brook/core/base` (the server side: the local broker, kafka-wire, `brook serve`) can import
 * them without loading the publisher, codecs, retries, metrics or tracing.
 */
import { invalidArgument } from "./errors.js";
import { setHeader } from "./headers.js";
import type { Headers } from "./contract.js";
import type { WireMessage } from "./spi.js";

const encoder = new TextEncoder();

/** Byte size of a message as the backends count it: value, key and headers. */
export function wireSize(message: WireMessage): number {
  let size = message.value.byteLength;
  if (message.key !== undefined) size += byteLength(message.key);
  if (message.idempotencyKey !== undefined) size += byteLength(message.idempotencyKey);
  for (const name in message.headers) size += byteLength(name) + byteLength(message.headers[name]!);
  return size;
}

function byteLength(text: string): number {
  // ASCII fast path: most keys and header values are ASCII.
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return encoder.encode(text).byteLength;
  return text.length;
}

export function validateHeaders(headers: unknown, field = "headers"): Headers {
  if (headers === undefined) return {};
  if (typeof headers !== "object" || headers === null || Array.isArray(headers)) {
    throw invalidArgument(field, "an object of string values", headers);
  }
  const out: Headers = {};
  const given = headers as Record<string, unknown>;
  // for-in over own names: no [name, value] array per header as Object.entries makes.
  for (const name in given) {
    if (!Object.hasOwn(given, name)) continue;
    const value = given[name];
    if (name.length === 0) throw invalidArgument(field, "non-empty header names", name);
    if (typeof value !== "string") throw invalidArgument(`${field}.${name}`, "a string", value);
    setHeader(out, name, value);
  }
  return out;
}

export function validateTopicName(topic: unknown, field = "topic"): string {
  if (typeof topic !== "string" || topic.length === 0) throw invalidArgument(field, "a non-empty string", topic);
  if (topic.length > 249) throw invalidArgument(field, "at most 249 characters", topic);
  if (!/^[A-Za-z0-9._-]+$/.test(topic)) throw invalidArgument(field, "only letters, digits, '.', '_' and '-'", topic);
  return topic;
}
