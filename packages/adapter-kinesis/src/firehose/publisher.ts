import { BrookError, type PublishBatchResult } from "@brook/core";
import type { BackendLimits, PublishTransport, WireMessage } from "@brook/core/spi";
import { PutRecordBatchCommand, type FirehoseClient } from "@aws-sdk/client-firehose";
import { PUT_RECORD_BATCH_MAX_BYTES, PUT_RECORD_BATCH_MAX_COUNT, firehoseLimits } from "./capabilities.js";
import { firehoseRecordError, toFirehoseBrookError } from "./errors.js";
import { toRecord, type RecordFormat } from "./framing.js";

/** One record of a PutRecordBatch call and the message (index into the send) it carries. */
interface OutRecord {
  data: Uint8Array;
  message: number;
}

/**
 * Sends encoded batches with PutRecordBatch: one record per message, framed as the publisher
 * says (framing.ts), at most 500 records and 4 MiB per call, 1,000 KiB per record. Results are
 * per message: an entry Firehose failed (its ErrorCode: throttled, internal failure) fails that
 * message alone with a retriable error, and core resends only those. A failed call fails its
 * messages and the calls after it in this send (core retries them).
 * Position: Firehose's RecordId, on partition "*" (a delivery stream has no partitions).
 */
export class FirehosePublishTransport implements PublishTransport {
  readonly system = "aws_firehose";
  readonly limits: BackendLimits = firehoseLimits();
  private format: RecordFormat = { framing: "newline", envelope: "none", codec: "auto" };

  constructor(
    readonly topic: string,
    private readonly firehose: FirehoseClient,
  ) {}

  /** Sets how this publisher's messages become records (before the first send). */
  configure(format: RecordFormat): void {
    this.format = format;
  }

  async send(messages: WireMessage[]): Promise<PublishBatchResult[]> {
    const results: Array<PublishBatchResult | undefined> = new Array(messages.length);
    const now = new Date();
    const records: OutRecord[] = [];
    for (let i = 0; i < messages.length; i++) {
      const data = toRecord(messages[i]!, this.format, now);
      if (data instanceof BrookError) results[i] = { ok: false, error: data };
      else records.push({ data, message: i });
    }
    const calls = chunkCalls(records);
    const what = `publish to delivery stream "${this.topic}"`;
    for (let c = 0; c < calls.length; c++) {
      const call = calls[c]!;
      try {
        const response = await this.firehose.send(new PutRecordBatchCommand({ DeliveryStreamName: this.topic, Records: call.map((r) => ({ Data: r.data })) }));
        const out = response.RequestResponses ?? [];
        for (let i = 0; i < call.length; i++) {
          const answer = out[i];
          const m = call[i]!.message;
          if (answer?.ErrorCode !== undefined || answer?.RecordId === undefined) {
            results[m] = { ok: false, error: firehoseRecordError(answer?.ErrorCode ?? "InternalFailure", answer?.ErrorMessage ?? "no RecordId in the response", what) };
          } else {
            results[m] = { ok: true, position: { partition: "*", offset: answer.RecordId }, duplicate: false };
          }
        }
      } catch (err) {
        const error = toFirehoseBrookError(err, what, this.topic);
        for (let rest = c; rest < calls.length; rest++) for (const r of calls[rest]!) results[r.message] = { ok: false, error };
        break;
      }
    }
    return results.map((r) => r ?? { ok: false, error: new BrookError("INTERNAL", "message was not sent") });
  }
}

/** Splits records into PutRecordBatch calls of at most 500 records and 4 MiB of data, in order. */
export function chunkCalls<R extends { data: Uint8Array }>(records: R[], maxCount = PUT_RECORD_BATCH_MAX_COUNT, maxBytes = PUT_RECORD_BATCH_MAX_BYTES): R[][] {
  const calls: R[][] = [];
  let current: R[] = [];
  let bytes = 0;
  for (const r of records) {
    if (current.length > 0 && (current.length >= maxCount || bytes + r.data.byteLength > maxBytes)) {
      calls.push(current);
      current = [];
      bytes = 0;
    }
    current.push(r);
    bytes += r.data.byteLength;
  }
  if (current.length > 0) calls.push(current);
  return calls;
}
