import { BrookError } from "@brook/core";
import {
  DescribeStreamConsumerCommand,
  RegisterStreamConsumerCommand,
  SubscribeToShardCommand,
  type KinesisClient,
  type ShardIteratorType,
  type StartingPosition,
  type SubscribeToShardEvent,
  type SubscribeToShardEventStream,
} from "@aws-sdk/client-kinesis";
import { awsErrorName, streamNotFound, toKinesisBrookError } from "./errors.js";
import { isOpen, listAllShards } from "./shard-map.js";
import { PollingFetcher, sleep, type FetchResult, type PollingOptions, type RecordFetcher, type StartPosition } from "./shard-reader.js";

const CONSUMER_ACTIVE_TIMEOUT_MS = 120_000;
/** How often an idle subscription asks whether its shard was closed (fan-out may not say). */
const CLOSED_CHECK_MS = 5_000;
const MAX_BACKOFF_MS = 10_000;

/**
 * The group's enhanced fan-out consumer on the stream: registered when missing, and ACTIVE
 * before this resolves. Returns its ARN.
 */
export async function ensureStreamConsumer(kinesis: KinesisClient, streamArn: string, name: string): Promise<string> {
  const deadline = Date.now() + CONSUMER_ACTIVE_TIMEOUT_MS;
  for (let delay = 100; ; delay = Math.min(delay * 2, 1_000)) {
    let status: string | undefined;
    let arn: string | undefined;
    try {
      const d = await kinesis.send(new DescribeStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: name }));
      status = d.ConsumerDescription?.ConsumerStatus;
      arn = d.ConsumerDescription?.ConsumerARN;
    } catch (err) {
      if (awsErrorName(err) !== "ResourceNotFoundException") throw toKinesisBrookError(err, `describe stream consumer "${name}"`);
      try {
        const r = await kinesis.send(new RegisterStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: name }));
        status = r.Consumer?.ConsumerStatus;
        arn = r.Consumer?.ConsumerARN;
      } catch (registerErr) {
        // Another worker of the group registered it first.
        if (awsErrorName(registerErr) !== "ResourceInUseException") throw toKinesisBrookError(registerErr, `register stream consumer "${name}"`);
      }
    }
    if (status === "ACTIVE" && arn !== undefined) return arn;
    if (Date.now() > deadline) throw new BrookError("TIMEOUT", `stream consumer "${name}" was not ACTIVE within ${CONSUMER_ACTIVE_TIMEOUT_MS} ms (status ${status ?? "unknown"})`);
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

/**
 * Enhanced fan-out reading of one shard: SubscribeToShard over HTTP/1.1, events pushed by the
 * service (records within ~70 ms, 2 MB/s per consumer and shard, not shared with other groups).
 * Subscriptions are renewed before their 5-minute end from the last continuation sequence
 * number. Where fan-out does not report a shard's end (kinesis-local never does), an idle
 * subscription looks at the shard list now and then, and once the shard is closed the rest of
 * it is read by polling, which sees the end and the children.
 */
export class EfoFetcher implements RecordFetcher {
  private events: AsyncIterator<SubscribeToShardEventStream> | undefined;
  private subscription: AbortController | undefined;
  private subscribedAt = 0;
  /** the position to resume from: the last continuation sequence number */
  private continuation: string | undefined;
  private lastClosedCheck = 0;
  private polling: PollingFetcher | undefined;
  private failures = 0;

  constructor(
    private readonly kinesis: KinesisClient,
    private readonly stream: string,
    private readonly consumerArn: string,
    private readonly shardId: string,
    private readonly start: StartPosition,
    private readonly pollingOptions: PollingOptions,
    /** renew the subscription after this long (a subscription lasts 5 minutes) */
    private readonly renewMs: number,
  ) {}

  async prepare(signal: AbortSignal): Promise<void> {
    if (this.events === undefined && this.polling === undefined) await this.subscribe(signal);
  }

  async fetch(signal: AbortSignal): Promise<FetchResult> {
    for (;;) {
      if (this.polling !== undefined) return this.polling.fetch(signal);
      if (this.events === undefined || Date.now() - this.subscribedAt > this.renewMs) await this.subscribe(signal);
      let next: IteratorResult<SubscribeToShardEventStream>;
      try {
        next = await this.events!.next();
      } catch (err) {
        if (signal.aborted) throw new BrookError("CLOSED", "shard reader stopped");
        this.events = undefined;
        await this.backoff(err, signal);
        continue;
      }
      if (next.done === true) {
        // The service ended the subscription (after 5 minutes, or it moved): resume from the continuation.
        this.events = undefined;
        continue;
      }
      const event = next.value;
      if (event.SubscribeToShardEvent === undefined) {
        const [name, error] = Object.entries(event).find(([, v]) => v !== undefined) ?? ["UnknownEvent", undefined];
        this.events = undefined;
        await this.backoff(Object.assign(new Error((error as { message?: string } | undefined)?.message ?? name), { name }), signal);
        continue;
      }
      this.failures = 0;
      return this.fromEvent(event.SubscribeToShardEvent);
    }
  }

  close(): void {
    this.subscription?.abort();
    this.subscription = undefined;
    this.events = undefined;
    this.polling?.close();
  }

  private async fromEvent(e: SubscribeToShardEvent): Promise<FetchResult> {
    const records = e.Records ?? [];
    const last = records[records.length - 1]?.SequenceNumber;
    if (e.ContinuationSequenceNumber !== undefined) this.continuation = e.ContinuationSequenceNumber;
    else if (last !== undefined) this.continuation = last;
    const childShards = e.ChildShards !== undefined && e.ChildShards.length > 0 ? e.ChildShards : undefined;
    // The service says the shard ended: no continuation, children named.
    const end = e.ContinuationSequenceNumber === undefined && childShards !== undefined;
    if (end) this.close();
    else if (records.length === 0 && Date.now() - this.lastClosedCheck > CLOSED_CHECK_MS) {
      this.lastClosedCheck = Date.now();
      if (await this.shardClosed()) this.switchToPolling();
    }
    return { records, millisBehindLatest: e.MillisBehindLatest, end, childShards: end ? childShards : undefined };
  }

  private position(): StartingPosition {
    const p: StartPosition = this.continuation === undefined ? this.start : { type: "AFTER_SEQUENCE_NUMBER", sequence: this.continuation };
    return {
      Type: p.type as ShardIteratorType,
      ...("time" in p ? { Timestamp: p.time } : {}),
      ...("sequence" in p ? { SequenceNumber: p.sequence } : {}),
    };
  }

  private async subscribe(signal: AbortSignal): Promise<void> {
    this.subscription?.abort();
    for (;;) {
      if (signal.aborted) throw new BrookError("CLOSED", "shard reader stopped");
      const controller = new AbortController();
      const onAbort = (): void => controller.abort();
      signal.addEventListener("abort", onAbort, { once: true });
      try {
        const response = await this.kinesis.send(new SubscribeToShardCommand({ ConsumerARN: this.consumerArn, ShardId: this.shardId, StartingPosition: this.position() }), {
          abortSignal: controller.signal,
        });
        if (response.EventStream === undefined) throw new BrookError("UNAVAILABLE", `SubscribeToShard for shard ${this.shardId} returned no event stream`);
        this.events = response.EventStream[Symbol.asyncIterator]();
        this.subscription = controller;
        this.subscribedAt = Date.now();
        controller.signal.addEventListener("abort", () => signal.removeEventListener("abort", onAbort), { once: true });
        return;
      } catch (err) {
        signal.removeEventListener("abort", onAbort);
        if (signal.aborted) throw new BrookError("CLOSED", "shard reader stopped");
        if (awsErrorName(err) === "ResourceNotFoundException") throw streamNotFound(this.stream, err);
        // Right after a subscription ends the service refuses a new one for a moment (ResourceInUseException).
        await this.backoff(err, signal);
      }
    }
  }

  private async backoff(err: unknown, signal: AbortSignal): Promise<void> {
    this.failures += 1;
    const name = awsErrorName(err);
    if (this.failures > 8 && name !== "ResourceInUseException") throw toKinesisBrookError(err, `subscribe to shard ${this.shardId} of stream "${this.stream}"`);
    await sleep(Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.min(this.failures, 6)), signal);
  }

  private async shardClosed(): Promise<boolean> {
    try {
      const shard = (await listAllShards(this.kinesis, this.stream)).find((s) => s.ShardId === this.shardId);
      return shard !== undefined && !isOpen(shard);
    } catch {
      return false; // asked again at the next idle event
    }
  }

  /** The shard is closed: read its rest by polling from the last record fan-out delivered. */
  private switchToPolling(): void {
    const from: StartPosition = this.continuation === undefined ? this.start : { type: "AFTER_SEQUENCE_NUMBER", sequence: this.continuation };
    this.subscription?.abort();
    this.subscription = undefined;
    this.events = undefined;
    this.polling = new PollingFetcher(this.kinesis, this.stream, this.shardId, from, this.pollingOptions);
  }
}
