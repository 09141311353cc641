import type { Logger, PublishBatchResult } from "@brook/core";
import { BrookError, CONTENT_TYPE_HEADER } from "@brook/core";
import { IDEMPOTENCY_HEADER, partitionForKey, type BackendLimits, type PublishTransport, type WireMessage } from "@brook/core/spi";
import type { EventDataBatch, EventHubProducerClient } from "@azure/event-hubs";
import { notFound } from "./admin.js";
import { eventHubsErrorCode, toEventHubsBrookError } from "./errors.js";

/** What EventDataBatch.tryAdd takes: an AMQP annotated message (so the partition key can ride on it). */
type BatchEntry = Parameters<EventDataBatch["tryAdd"]>[0];

/**
 * Sends encoded batches to one event hub. Brook chooses the partition: a key by Kafka's
 * partitioner (murmur2 mod partitions, core's partitionForKey, so a key lands on the same
 * partition number as on Kafka and the local broker), messages without a key of one call on one
 * partition (rotating per call). Each event still carries its key as the partition key
 * (`x-opt-partition-key`), so a raw consumer sees it.
 *
 * Per partition the messages are packed in order into EventDataBatches with tryAdd (the size
 * comes from the service when the sender link attaches) and sent one batch at a time; partitions
 * are sent in parallel. The service does not say where a sent event landed, so each batch is
 * bracketed by two reads of the partition's last enqueued sequence number: when the partition
 * grew by exactly the batch, the events are the sequence numbers in between. When another
 * producer wrote in the same instant the position cannot be told: the result is still ok, with
 * the partition and an empty offset (the README says so).
 */
export class EventHubsPublishTransport implements PublishTransport {
  /** OpenTelemetry `messaging.system` of Azure Event Hubs */
  readonly system = "eventhubs";
  private partitionIds: Promise<string[]> | undefined;
  private nextKeyless = Math.floor(Math.random() * 1_000);
  /** per partition: the last sequence number read right after this publisher's last batch */
  private readonly lastKnown = new Map<string, number>();
  /** per partition: this publisher's batches being sent */
  private readonly sending = new Map<string, number>();

  constructor(
    readonly topic: string,
    private readonly client: EventHubProducerClient,
    readonly limits: BackendLimits,
    private readonly logger: Logger,
    /** the publisher's fixed partition, if it has one */
    private readonly partitionId?: string | undefined,
    /** "none": no reads around batches, results carry an empty offset */
    private readonly positions: "exact" | "none" = "exact",
  ) {}

  async send(messages: WireMessage[]): Promise<PublishBatchResult[]> {
    let ids: string[];
    try {
      ids = await this.ids();
    } catch (err) {
      this.partitionIds = undefined;
      const error = eventHubsErrorCode(err) === "MessagingEntityNotFoundError" ? notFound(this.topic, err) : toEventHubsBrookError(err, `publish to event hub "${this.topic}"`);
      return messages.map(() => ({ ok: false as const, error }));
    }
    if (this.partitionId !== undefined && !ids.includes(this.partitionId)) {
      const error = new BrookError("INVALID_ARGUMENT", `partitionId: event hub "${this.topic}" has partitions ${ids.join(", ")}, not "${this.partitionId}"`);
      return messages.map(() => ({ ok: false as const, error }));
    }
    const keyless = ids[this.nextKeyless++ % ids.length]!;
    const byPartition = new Map<string, number[]>();
    messages.forEach((m, i) => {
      const partition =
        this.partitionId ?? (m.key === undefined ? keyless : ids[partitionForKey(Buffer.from(m.key, "utf8"), ids.length)]!);
      let list = byPartition.get(partition);
      if (list === undefined) byPartition.set(partition, (list = []));
      list.push(i);
    });
    const results: PublishBatchResult[] = new Array(messages.length);
    await Promise.all([...byPartition].map(([partition, indices]) => this.sendToPartition(partition, indices, messages, results)));
    return results;
  }

  async close(): Promise<void> {
    // The producer client belongs to the broker (shared by the hub's publishers and admin).
  }

  private ids(): Promise<string[]> {
    this.partitionIds ??= this.client.getPartitionIds();
    return this.partitionIds;
  }

  /** Packs and sends one partition's messages in order; a failed batch fails the rest of them. */
  private async sendToPartition(partition: string, indices: number[], messages: WireMessage[], results: PublishBatchResult[]): Promise<void> {
    let batch: EventDataBatch | undefined;
    let inBatch: number[] = [];
    let failed: BrookError | undefined;
    const flush = async (): Promise<void> => {
      if (batch === undefined || inBatch.length === 0) return;
      const sent = inBatch;
      const current = batch;
      batch = undefined;
      inBatch = [];
      try {
        const positions = await this.sendBatch(partition, current);
        sent.forEach((i, n) => (results[i] = { ok: true, position: { partition, offset: positions === undefined ? "" : String(positions + n) }, duplicate: false }));
      } catch (err) {
        failed = toEventHubsBrookError(err, `publish to event hub "${this.topic}" partition ${partition}`);
        for (const i of sent) results[i] = { ok: false, error: failed };
      }
    };
    for (const i of indices) {
      if (failed !== undefined) {
        // Later messages of the partition wait for the failed ones: core retries them in order.
        results[i] = { ok: false, error: failed };
        continue;
      }
      const entry = toBatchEntry(messages[i]!);
      try {
        batch ??= await this.client.createBatch({ partitionId: partition });
      } catch (err) {
        failed = eventHubsErrorCode(err) === "MessagingEntityNotFoundError" ? notFound(this.topic, err) : toEventHubsBrookError(err, `publish to event hub "${this.topic}"`);
        results[i] = { ok: false, error: failed };
        continue;
      }
      if (batch.tryAdd(entry)) {
        inBatch.push(i);
        continue;
      }
      if (inBatch.length > 0) {
        await flush();
        if (failed !== undefined) {
          results[i] = { ok: false, error: failed };
          continue;
        }
        batch = await this.client.createBatch({ partitionId: partition });
        if (batch.tryAdd(entry)) {
          inBatch.push(i);
          continue;
        }
      }
      results[i] = {
        ok: false,
        error: new BrookError("MESSAGE_TOO_LARGE", `publish to event hub "${this.topic}": the event does not fit in an empty batch of ${batch.maxSizeInBytes} bytes (the service's limit)`),
      };
    }
    await flush();
  }

  /**
   * Sends one batch; resolves with the first event's sequence number when it can be told. The
   * partition's last sequence number read after a batch is the "before" of the next one when no
   * other send of this publisher to that partition ran meanwhile (one read per batch instead of
   * two); a write by anyone else in between shows as a count that does not add up.
   */
  private async sendBatch(partition: string, batch: EventDataBatch): Promise<number | undefined> {
    if (this.positions === "none") {
      await this.client.sendBatch(batch);
      return undefined;
    }
    const alone = (this.sending.get(partition) ?? 0) === 0;
    this.sending.set(partition, (this.sending.get(partition) ?? 0) + 1);
    try {
      let before = alone ? this.lastKnown.get(partition) : undefined;
      this.lastKnown.delete(partition);
      before ??= await this.lastEnqueued(partition);
      await this.client.sendBatch(batch);
      const after = await this.lastEnqueued(partition);
      if (after !== undefined && this.sending.get(partition) === 1) this.lastKnown.set(partition, after);
      if (before !== undefined && after !== undefined && after - before === batch.count) return before + 1;
      this.logger.debug(`event hub "${this.topic}" partition ${partition}: another producer wrote while a batch of ${batch.count} was sent; its positions are unknown`);
      return undefined;
    } finally {
      this.sending.set(partition, this.sending.get(partition)! - 1);
    }
  }

  private async lastEnqueued(partition: string): Promise<number | undefined> {
    try {
      return (await this.client.getPartitionProperties(partition)).lastEnqueuedSequenceNumber;
    } catch (err) {
      this.logger.debug(`event hub "${this.topic}" partition ${partition}: cannot read the last sequence number (${String(err)})`);
      return undefined;
    }
  }
}

function toBatchEntry(m: WireMessage): BatchEntry {
  const value = m.value;
  const entry: { body: Buffer; bodyType: "data"; applicationProperties?: Record<string, string>; messageAnnotations?: Record<string, string>; properties?: Record<string, string> } = {
    body: Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength),
    bodyType: "data",
  };
  // Only the sections an event uses: an empty application-properties map still costs its
  // encoding on both ends, per event.
  let applicationProperties: Record<string, string> | undefined;
  for (const name in m.headers) {
    applicationProperties ??= {};
    applicationProperties[name] = m.headers[name]!;
  }
  if (m.idempotencyKey !== undefined) (applicationProperties ??= {})[IDEMPOTENCY_HEADER] = m.idempotencyKey;
  if (applicationProperties !== undefined) entry.applicationProperties = applicationProperties;
  if (m.key !== undefined) entry.messageAnnotations = { "x-opt-partition-key": m.key };
  // The idempotency key is also the AMQP message-id, the content-type header also the AMQP
  // content-type (what raw Event Hubs consumers and Schema Registry read).
  const contentType = m.headers[CONTENT_TYPE_HEADER];
  if (m.idempotencyKey !== undefined || contentType !== undefined) {
    const properties: Record<string, string> = {};
    if (m.idempotencyKey !== undefined) properties.messageId = m.idempotencyKey;
    if (contentType !== undefined) properties.contentType = contentType;
    entry.properties = properties;
  }
  return entry as BatchEntry;
}
