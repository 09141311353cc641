import { metricsActive, recordSend } from "./metrics.js";
import { BrookError, abortable, abortedError, closedError, invalidArgument, toBrookError } from "./errors.js";
import { setHeader } from "./headers.js";
import { Batcher } from "./batcher.js";
import { CONTENT_TYPE_HEADER, resolveCodec } from "./codec.js";
import { runWithRetry } from "./retry.js";
import { injectTraceContext, otelApi, tracingActive, withPublishSpan } from "./tracing.js";
import type { Headers, OutgoingMessage, PublishBatchResult, PublishResult, Publisher, PublisherOptions, WaitOptions } from "./contract.js";
import type { PublishTransport, WireMessage } from "./spi.js";
import { validateHeaders, validateTopicName, wireSize } from "./validation.js";

// validation.js holds these (a leaf module the server side imports without the publisher); kept exported here too.
export { validateHeaders, validateTopicName, wireSize };

export interface CorePublisherOptions {
  onClose?: () => void;
}

/**
 * The one publisher implementation: validates and encodes each message, packs messages into
 * batches under the backend's limits, retries transient per-entry failures (p-retry), and
 * reports one result per entry. Batches go out one at a time, so order per key survives a
 * retry: later messages wait until the retried ones are settled.
 */
export class CorePublisher<T> implements Publisher<T> {
  readonly topic: string;
  private readonly codec;
  private readonly batcher: Batcher<WireMessage, PublishBatchResult>;
  private readonly maxMessageBytes: number;
  private readonly maxRetries: number;
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly transport: PublishTransport,
    options: PublisherOptions<T> = {},
    private readonly hooks: CorePublisherOptions = {},
  ) {
    this.topic = transport.topic;
    this.codec = resolveCodec<T>(options.codec);
    const limits = transport.limits;
    const maxBatchCount = Math.min(options.maxBatchCount ?? limits.maxBatchCount, limits.maxBatchCount);
    const maxBatchBytes = Math.min(options.maxBatchBytes ?? limits.maxBatchBytes, limits.maxBatchBytes);
    if (!(maxBatchCount >= 1)) throw invalidArgument("maxBatchCount", "an integer >= 1", options.maxBatchCount);
    if (!(maxBatchBytes >= 1)) throw invalidArgument("maxBatchBytes", "a number >= 1", options.maxBatchBytes);
    const lingerMs = options.lingerMs ?? 0;
    if (!(lingerMs >= 0)) throw invalidArgument("lingerMs", "a number >= 0", options.lingerMs);
    this.maxRetries = options.maxRetries ?? 3;
    if (!Number.isInteger(this.maxRetries) || this.maxRetries < 0) throw invalidArgument("maxRetries", "an integer >= 0", options.maxRetries);
    this.maxMessageBytes = limits.maxMessageBytes;
    this.batcher = new Batcher(
      { lingerMs, maxBatchCount, maxBatchBytes, maxInFlightBatches: limits.maxInFlightBatches ?? 1 },
      (batch) => this.sendWithRetry(batch),
    );
  }

  async publish(message: OutgoingMessage<T>, options?: WaitOptions): Promise<PublishResult> {
    if (options?.signal?.aborted === true) throw abortedError(options.signal, `publish to topic "${this.topic}"`);
    const sent = tracingActive() ? withPublishSpan(this.topic, () => this.enqueue(message), this.transport.system) : this.enqueue(message);
    const result = await abortable(sent, options?.signal, `publish to topic "${this.topic}"`);
    if (!result.ok) throw result.error;
    return { position: result.position, duplicate: result.duplicate };
  }

  async publishBatch(messages: readonly OutgoingMessage<T>[], options?: WaitOptions): Promise<PublishBatchResult[]> {
    if (!Array.isArray(messages)) throw invalidArgument("messages", "an array of messages", messages);
    if (this.closed) throw closedError(`publisher for topic "${this.topic}"`);
    if (options?.signal?.aborted === true) throw abortedError(options.signal, `publishBatch to topic "${this.topic}"`);
    const sent = tracingActive() ? withPublishSpan(this.topic, () => this.publishBatchNow(messages), this.transport.system) : this.publishBatchNow(messages);
    return abortable(sent, options?.signal, `publishBatch to topic "${this.topic}"`);
  }

  private async publishBatchNow(messages: readonly OutgoingMessage<T>[]): Promise<PublishBatchResult[]> {
    const count = messages.length;
    const wires: WireMessage[] = new Array(count);
    const sizes: number[] = new Array(count);
    let errors: Array<PublishBatchResult | undefined> | undefined;
    let kept = 0;
    // The active trace context is the same for every entry of this call: injected once.
    const trace = traceHeaders();
    for (let i = 0; i < count; i++) {
      const checked = this.check(messages[i]!, i, trace);
      if (checked instanceof BrookError) {
        errors ??= new Array(count);
        errors[i] = { ok: false, error: checked };
      } else {
        wires[kept] = checked;
        sizes[kept] = this.checkedSize;
        kept += 1;
      }
    }
    // Every message valid (the common case): the batcher's result array is the answer.
    if (errors === undefined) return this.batcher.addMany(wires, sizes);
    wires.length = kept;
    sizes.length = kept;
    const sent = await this.batcher.addMany(wires, sizes);
    const results: PublishBatchResult[] = new Array(count);
    for (let i = 0, j = 0; i < count; i++) results[i] = errors[i] ?? sent[j++]!;
    return results;
  }

  flush(options?: WaitOptions): Promise<void> {
    return abortable(this.batcher.flush(), options?.signal, `flush of the publisher for topic "${this.topic}"`);
  }

  /** Every call resolves when the publisher is closed (a second one waits for the first). */
  async close(options?: WaitOptions): Promise<void> {
    const first = this.closing === undefined;
    if (this.closing === undefined) {
      this.closed = true;
      this.closing = (async () => {
        await this.batcher.close();
        await this.transport.close?.();
      })();
    }
    try {
      await abortable(this.closing, options?.signal, `close of the publisher for topic "${this.topic}"`);
    } finally {
      if (first) this.hooks.onClose?.();
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private enqueue(message: OutgoingMessage<T>): Promise<PublishBatchResult> {
    if (this.closed) return Promise.reject(closedError(`publisher for topic "${this.topic}"`));
    const checked = this.check(message, -1, traceHeaders());
    if (checked instanceof BrookError) return Promise.resolve({ ok: false, error: checked });
    return this.batcher.add(checked, this.checkedSize);
  }

  /** Size of the message the last successful check() returned (no object per message). */
  private checkedSize = 0;

  /**
   * Validates, encodes and sizes one message (entry `index` of a batch, -1 for publish()); a bad
   * one becomes its error, never a throw. Field names are made only for errors.
   */
  private check(message: OutgoingMessage<T>, index: number, trace: Headers | undefined): WireMessage | BrookError {
    let wire: WireMessage;
    try {
      wire = this.encode(message, index, trace);
    } catch (err) {
      return toBrookError(err, "INVALID_ARGUMENT");
    }
    const size = wireSize(wire);
    if (size > this.maxMessageBytes) {
      return new BrookError(
        "MESSAGE_TOO_LARGE",
        `${fieldName(index)}: ${size} bytes (data, key and headers) exceeds the backend limit of ${this.maxMessageBytes} bytes for topic "${this.topic}"`,
      );
    }
    this.checkedSize = size;
    return wire;
  }

  private encode(message: OutgoingMessage<T>, index: number, trace: Headers | undefined): WireMessage {
    if (typeof message !== "object" || message === null) throw invalidArgument(fieldName(index), "an object with data", message);
    const { key, idempotencyKey } = message;
    if (key !== undefined && (typeof key !== "string" || key.length === 0)) throw invalidArgument(`${fieldName(index)}.key`, "a non-empty string", key);
    if (idempotencyKey !== undefined && (typeof idempotencyKey !== "string" || idempotencyKey.length === 0)) {
      throw invalidArgument(`${fieldName(index)}.idempotencyKey`, "a non-empty string", idempotencyKey);
    }
    // Headers are made only where a message has some: a message without headers, trace or
    // codec headers shares one frozen empty object, one with just the codec's content-type
    // shares a frozen one per type (a fresh object per message was ~10% of a publish's garbage).
    let headers = message.headers === undefined ? undefined : validateHeaders(message.headers, `${fieldName(index)}.headers`);
    if (trace !== undefined && headers?.traceparent === undefined) {
      headers ??= {};
      for (const name in trace) setHeader(headers, name, trace[name]!);
    }
    if (this.codec.contentType !== undefined && headers?.[CONTENT_TYPE_HEADER] === undefined) {
      const type = this.codec.contentType(message.data);
      if (type !== undefined) {
        if (headers === undefined) headers = contentTypeHeaders(type);
        else headers[CONTENT_TYPE_HEADER] = type;
      }
    }
    if (this.codec.headers !== undefined) {
      const extra = this.codec.headers(message.data);
      for (const name in extra) {
        if (headers === undefined || Object.isFrozen(headers)) headers = { ...headers };
        if (headers[name] === undefined) setHeader(headers, name, extra[name]!);
      }
    }
    headers ??= NO_HEADERS;
    let value: Uint8Array;
    try {
      value = this.codec.encode(message.data);
    } catch (err) {
      const e = toBrookError(err, "INVALID_ARGUMENT");
      throw new BrookError(e.code, `${fieldName(index)}.${e.message}`, { cause: err });
    }
    return { key, idempotencyKey, headers, value };
  }

  /** Sends a batch; entries that failed with a retriable error are resent alone, in order. */
  private async sendWithRetry(batch: WireMessage[]): Promise<PublishBatchResult[]> {
    const results = await this.sendOnce(batch);
    let failed = indexesToRetry(results);
    if (failed.length === 0 || this.maxRetries === 0) return results;
    try {
      await runWithRetry(
        { maxAttempts: this.maxRetries, minDelayMs: 50, maxDelayMs: 2_000 },
        async () => {
          const again = await this.sendOnce(failed.map((i) => batch[i]!));
          again.forEach((r, j) => (results[failed[j]!] = r));
          failed = indexesToRetry(results);
          if (failed.length > 0) throw (results[failed[0]!] as { error: BrookError }).error;
        },
      );
    } catch {
      // The entries still failing keep their last error in `results`.
    }
    return results;
  }

  /** A thrown transport error becomes that error for every entry, so results stay per entry. */
  private async sendOnce(batch: WireMessage[]): Promise<PublishBatchResult[]> {
    const started = metricsActive() ? performance.now() : undefined;
    let results: PublishBatchResult[];
    try {
      results = await this.transport.send(batch);
      if (results.length !== batch.length) {
        throw new BrookError("INTERNAL", `transport returned ${results.length} results for ${batch.length} messages`);
      }
    } catch (err) {
      const error = toBrookError(err, "UNAVAILABLE");
      results = batch.map(() => ({ ok: false as const, error }));
    }
    if (started !== undefined) {
      let ok = 0;
      const failed = new Map<string, number>();
      for (const r of results) {
        if (r.ok) ok++;
        else failed.set(r.error.code, (failed.get(r.error.code) ?? 0) + 1);
      }
      recordSend(this.transport.system ?? "brook", this.topic, ok, failed, performance.now() - started);
    }
    return results;
  }
}

/** `messages[i]`, or `message` for publish(): the field an entry's error names. */
function fieldName(index: number): string {
  return index < 0 ? "message" : `messages[${index}]`;
}

/** The headers the active trace context adds to a message (undefined without OpenTelemetry or a context to carry). */
function traceHeaders(): Headers | undefined {
  if (otelApi() === undefined) return undefined;
  const headers: Headers = {};
  injectTraceContext(headers);
  for (const _ in headers) return headers;
  return undefined;
}

/** The headers of a message that has none: shared, so frozen (nothing downstream changes wire headers). */
const NO_HEADERS: Headers = Object.freeze({}) as Headers;
const sharedContentTypes = new Map<string, Headers>();

/** `{ "content-type": type }`, one frozen object per type (a custom codec's types: at most 64 kept). */
function contentTypeHeaders(type: string): Headers {
  let headers = sharedContentTypes.get(type);
  if (headers === undefined) {
    headers = Object.freeze({ [CONTENT_TYPE_HEADER]: type }) as Headers;
    if (sharedContentTypes.size < 64) sharedContentTypes.set(type, headers);
  }
  return headers;
}

function indexesToRetry(results: PublishBatchResult[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < results.length; i++) {
    const r = results[i]!;
    if (!r.ok && r.error.retriable) out.push(i);
  }
  return out;
}
