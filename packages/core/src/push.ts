// Push delivery: a Node HTTP request handler that takes Pub/Sub push requests and runs a Brook
// handler under the same rules as a pull subscriber (retries, dead letters, dedupe), and a
// forwarder that pushes any Brook subscription to an HTTP endpoint in the same envelope, so one
// push service runs against Pub/Sub and offline against the local broker alike.
import type { IncomingMessage, ServerResponse } from "node:http";

import { BrookError, invalidArgument, toBrookError } from "./errors.js";
import { IDEMPOTENCY_HEADER } from "./headers.js";
import { DeadLetterer } from "./subscription/dead-letter.js";
import { HandlerRunner } from "./subscription/handler-runner.js";
import { resolveSubscribeOptions } from "./subscription/options.js";
import type { Broker, Headers, MessageHandler, Publisher, ReceivedMessage, Subscription } from "./contract.js";
import type { CodecName, Codec } from "./codec.js";
import type { DedupeStore } from "./dedupe.js";
import type { RetryPolicy } from "./retry.js";
import type { SourceRecord } from "./spi.js";

/** The JSON body of a Pub/Sub push request (what the service POSTs to a push endpoint). */
export interface PushEnvelope {
  message: {
    /** base64 */
    data?: string;
    attributes?: Record<string, string>;
    messageId?: string;
    publishTime?: string;
    orderingKey?: string;
  };
  subscription?: string;
  /** present when the subscription has a dead-letter policy */
  deliveryAttempt?: number;
}

export interface PushHandlerOptions<T> {
  codec?: CodecName | Codec<T>;
  /** in-process retries within the request, as for a pull subscriber */
  retry?: Partial<RetryPolicy>;
  /**
   * After the last failed attempt: `{ topic, publisher }` republishes to a dead-letter topic
   * (brook-* headers) and answers 2xx; "native" makes one attempt per delivery and answers
   * non-2xx, so the provider redelivers and its dead-letter policy counts the attempts.
   * Without it, the failure is reported through `onError` and answered 500: the sender keeps
   * the message and redelivers it (a pull subscriber without a dead-letter topic has no one to
   * hand it back to and acks it; a push endpoint has).
   */
  deadLetter?: { topic: string; publisher: Publisher<Uint8Array> } | "native";
  dedupe?: { store: DedupeStore; ttlMs?: number };
  /**
   * Checks the request before anything else (e.g. the OIDC token Pub/Sub sends in
   * `Authorization: Bearer …`). Resolve false or throw to refuse it with 403.
   */
  verify?: (request: IncomingMessage) => boolean | Promise<boolean>;
  /** the topic named in dead-letter headers; default: the subscription's name */
  topic?: string;
  /** largest request body accepted, in bytes (default 16 MiB: a 10 MB message in base64 + JSON) */
  maxBodyBytes?: number;
  /** errors that answered non-2xx or were dropped without a dead-letter topic */
  onError?: (error: BrookError) => void;
}

/** A request handler for `http.createServer`, Express, Fastify (raw) and the like. */
export type PushRequestHandler = (request: IncomingMessage, response: ServerResponse) => void;

const DEFAULT_MAX_BODY = 16 * 1024 * 1024;

/**
 * Accepts push requests: answers 204 when the handler succeeded (or the message was a duplicate,
 * or was dead-lettered), 500 when it should be redelivered, 400 for a body that is not a push
 * envelope, 403 when `verify` refused, 405 for other methods and 413 for an oversize body.
 */
export function createPushHandler<T = unknown>(handler: MessageHandler<T>, options: PushHandlerOptions<T> = {}): PushRequestHandler {
  if (typeof handler !== "function") throw invalidArgument("handler", "a function", handler);
  if (typeof options !== "object" || options === null) throw invalidArgument("options", "an object", options);
  const dl = options.deadLetter;
  if (dl !== undefined && dl !== "native" && (typeof dl !== "object" || dl === null || typeof dl.publisher?.publishBatch !== "function")) {
    throw invalidArgument("deadLetter", '{ topic, publisher } or "native"', dl);
  }
  if (options.verify !== undefined && typeof options.verify !== "function") throw invalidArgument("verify", "a function", options.verify);
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  if (!Number.isInteger(maxBody) || maxBody < 1) throw invalidArgument("maxBodyBytes", "an integer >= 1", maxBody);
  const resolved = resolveSubscribeOptions<T>(
    {
      group: "push",
      handler,
      ...(options.codec === undefined ? {} : { codec: options.codec }),
      ...(options.retry === undefined ? {} : { retry: options.retry }),
      ...(options.dedupe === undefined ? {} : { dedupe: options.dedupe }),
      ...(dl === undefined ? {} : { deadLetter: dl === "native" ? "native" : { topic: dl.topic } }),
    },
    { nativeDeadLetter: true },
  );
  const report = (error: BrookError): void => options.onError?.(error);
  const closed = new AbortController();

  return (request, response) => {
    void handle(request).then(
      ({ status, body }) => answer(response, status, body),
      (err: unknown) => {
        const error = toBrookError(err);
        report(error);
        answer(response, 500, error.message);
      },
    );
  };

  async function handle(request: IncomingMessage): Promise<{ status: number; body?: string }> {
    if (request.method !== "POST") return { status: 405, body: "push requests are POST" };
    if (options.verify !== undefined) {
      let ok = false;
      try {
        ok = await options.verify(request);
      } catch (err) {
        report(new BrookError("UNAUTHENTICATED", `push request refused by verify: ${(err as Error).message}`, { cause: err }));
      }
      if (!ok) {
        request.resume();
        return { status: 403, body: "refused" };
      }
    }
    const body = await readBody(request, maxBody);
    if (body === undefined) return { status: 413, body: `body over ${maxBody} bytes` };
    let record: SourceRecord;
    let subscription: string;
    try {
      ({ record, subscription } = parseEnvelope(body));
    } catch (err) {
      const error = toBrookError(err, "INVALID_ARGUMENT");
      report(error);
      return { status: 400, body: error.message };
    }
    let outcome: "settled" | "redeliver" | "failed" | undefined;
    const deadLetterer =
      dl === undefined || dl === "native" ? undefined : new DeadLetterer(options.topic ?? subscription, dl.topic, () => dl.publisher, report);
    const runner = new HandlerRunner<T>(options.topic ?? subscription, resolved, closed.signal, "gcp_pubsub", {
      settle: () => void (outcome ??= "settled"),
      redeliver: () => void (outcome ??= "redeliver"),
      deadLetter: async (records, failure, attempts) => {
        if (deadLetterer === undefined) {
          // Unlike a pull subscriber without a dead-letter topic, the sender can take it back.
          outcome ??= "redeliver";
          report(new BrookError("INTERNAL", `push message ${record.offset} failed after ${attempts} attempt(s); answered 500 for redelivery (no deadLetter configured): ${failure instanceof Error ? failure.message : String(failure)}`, { cause: failure }));
          return;
        }
        await deadLetterer.deadLetter(records, failure, attempts);
      },
      error: (error) => {
        outcome ??= "failed";
        report(error);
      },
      isClosed: () => false,
    });
    await runner.runMessage(handler, record, 0);
    if (outcome === "settled") return { status: 204 };
    return { status: 500, body: outcome === "redeliver" ? "handler failed; redeliver" : "not handled; redeliver" };
  }
}

function answer(response: ServerResponse, status: number, body?: string): void {
  if (response.headersSent) return;
  response.statusCode = status;
  if (body === undefined) {
    response.end();
    return;
  }
  response.setHeader("content-type", "text/plain; charset=utf-8");
  response.end(body);
}

function readBody(request: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    request.on("data", (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > max) {
        over = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    request.once("end", () => resolve(over ? undefined : Buffer.concat(chunks)));
    request.once("error", reject);
  });
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** A push request's body → the record the handler runner takes; every problem names the field. */
export function parseEnvelope(body: Uint8Array): { record: SourceRecord; subscription: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body).toString("utf8"));
  } catch (err) {
    throw new BrookError("INVALID_ARGUMENT", "push body: expected JSON (a Pub/Sub push envelope)", { cause: err });
  }
  const envelope = parsed as Partial<PushEnvelope> | null;
  const message = envelope?.message;
  if (typeof message !== "object" || message === null) throw invalidArgument("push body.message", "an object", message);
  const data = message.data ?? "";
  if (typeof data !== "string" || data.length % 4 !== 0 || !BASE64.test(data)) throw invalidArgument("push body.message.data", "base64", data);
  const attributes = message.attributes ?? {};
  if (typeof attributes !== "object" || attributes === null || Array.isArray(attributes)) {
    throw invalidArgument("push body.message.attributes", "an object of strings", attributes);
  }
  const headers: Headers = {};
  for (const [name, value] of Object.entries(attributes)) {
    if (typeof value !== "string") throw invalidArgument(`push body.message.attributes["${name}"]`, "a string", value);
    Object.defineProperty(headers, name, { value, enumerable: true, writable: true, configurable: true });
  }
  const id = message.messageId ?? (message as { message_id?: unknown }).message_id;
  if (typeof id !== "string" || id.length === 0) throw invalidArgument("push body.message.messageId", "a non-empty string", id);
  const time = message.publishTime ?? (message as { publish_time?: unknown }).publish_time;
  const publishTime = typeof time === "string" ? new Date(time) : new Date();
  if (Number.isNaN(publishTime.getTime())) throw invalidArgument("push body.message.publishTime", "an RFC 3339 time", time);
  const attempt = envelope?.deliveryAttempt;
  if (attempt !== undefined && !(Number.isInteger(attempt) && attempt >= 1)) throw invalidArgument("push body.deliveryAttempt", "an integer >= 1", attempt);
  const subscription = typeof envelope?.subscription === "string" && envelope.subscription.length > 0 ? envelope.subscription : "push";
  const key = typeof message.orderingKey === "string" && message.orderingKey.length > 0 ? message.orderingKey : undefined;
  const record: SourceRecord = {
    partition: "*",
    offset: id,
    id,
    key,
    idempotencyKey: headers[IDEMPOTENCY_HEADER],
    headers,
    value: new Uint8Array(Buffer.from(data, "base64")),
    publishTime,
  };
  if (attempt !== undefined) record.deliveryAttempt = attempt;
  return { record, subscription };
}

/** The envelope a message is pushed in, the same shape Pub/Sub sends. */
export function toPushEnvelope(message: ReceivedMessage<Uint8Array>, subscription: string): PushEnvelope {
  const attributes: Record<string, string> = { ...message.headers };
  if (message.idempotencyKey !== undefined) attributes[IDEMPOTENCY_HEADER] = message.idempotencyKey;
  const envelope: PushEnvelope = {
    message: {
      data: Buffer.from(message.data).toString("base64"),
      attributes,
      messageId: message.id,
      publishTime: message.publishTime.toISOString(),
    },
    subscription,
    deliveryAttempt: message.deliveryAttempt,
  };
  if (message.key !== undefined) envelope.message.orderingKey = message.key;
  return envelope;
}

export interface PushForwardOptions {
  group: string;
  /** where to POST each message (the push endpoint) */
  endpoint: string | URL;
  /** extra request headers, e.g. an Authorization header the endpoint verifies */
  headers?: Record<string, string>;
  /** per request (default 30 s, Pub/Sub's default push deadline is 10 s to 600 s) */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  deadLetter?: { topic: string };
  ordering?: "key" | "partition" | "none";
  maxInFlight?: number;
  startFrom?: "earliest" | "latest";
}

/**
 * Push delivery from any Brook backend: subscribes `group` to `topic` and POSTs each message to
 * `endpoint` in a Pub/Sub push envelope. A 2xx answer acks it; anything else (or no answer
 * within `timeoutMs`) is a failed attempt, retried with back-off and dead-lettered after the
 * last, exactly as for a handler. Per-key order holds with `ordering: "key"` (the default).
 */
export async function forwardToPush(broker: Broker, topic: string, options: PushForwardOptions): Promise<Subscription> {
  if (typeof options !== "object" || options === null) throw invalidArgument("options", "an object with group and endpoint", options);
  let endpoint: URL;
  try {
    endpoint = new URL(options.endpoint);
  } catch (err) {
    throw new BrookError("INVALID_URL", `endpoint: not a URL: ${String(options.endpoint)}`, { cause: err });
  }
  if (endpoint.protocol !== "http:" && endpoint.protocol !== "https:") throw invalidArgument("endpoint", "an http: or https: URL", String(options.endpoint));
  const timeoutMs = options.timeoutMs ?? 30_000;
  if (!(typeof timeoutMs === "number" && timeoutMs > 0)) throw invalidArgument("timeoutMs", "a number > 0", timeoutMs);
  const subscription = `${topic}/${options.group}`;
  return broker.subscribe<Uint8Array>(topic, {
    group: options.group,
    codec: "bytes",
    ...(options.retry === undefined ? {} : { retry: options.retry }),
    ...(options.deadLetter === undefined ? {} : { deadLetter: options.deadLetter }),
    ...(options.ordering === undefined ? {} : { ordering: options.ordering }),
    ...(options.maxInFlight === undefined ? {} : { maxInFlight: options.maxInFlight }),
    ...(options.startFrom === undefined ? {} : { startFrom: options.startFrom }),
    handler: async (message) => {
      let response: Response;
      try {
        response = await fetch(endpoint, {
          method: "POST",
          headers: { "content-type": "application/json", ...options.headers },
          body: JSON.stringify(toPushEnvelope(message, subscription)),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        throw new BrookError("UNAVAILABLE", `push to ${endpoint.origin}${endpoint.pathname} failed: ${(err as Error).message}`, { cause: err });
      }
      await response.arrayBuffer().catch(() => undefined);
      if (response.status < 200 || response.status > 299) {
        throw new BrookError("UNAVAILABLE", `push endpoint ${endpoint.origin}${endpoint.pathname} answered ${response.status}`);
      }
    },
  });
}
