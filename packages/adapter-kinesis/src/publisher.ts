import { BrookError, type PublishBatchResult } from "@brook/core";
import type { BackendLimits, PublishTransport, WireMessage } from "@brook/core/spi";
import { PutRecordsCommand, type KinesisClient, type PutRecordsRequestEntry } from "@aws-sdk/client-kinesis";
import { PUT_RECORDS_MAX_BYTES, PUT_RECORDS_MAX_COUNT, kinesisLimits } from "./capabilities.js";
import { awsErrorName, recordError, streamNotFound, toKinesisBrookError } from "./errors.js";
import { KplAggregateBuilder, encodeAggregate } from "./kpl.js";
import { MAX_RECORD_BYTES, type EnvelopeMode } from "./options.js";
import { hashOfPartitionKey, needsEnvelope, randomPartitionKey, toSubRecord } from "./records.js";
import type { ShardMap } from "./shard-map.js";

export interface KinesisPublishOptions {
  envelope: EnvelopeMode;
  aggregate: boolean;
  aggregateMaxBytes: number;
  /** the explicit hash key for a message's key (decimal, 0 – 2^128-1); undefined: Kinesis hashes the partition key */
  explicitHashKey: ((key: string | undefined) => string | undefined) | undefined;
}

/** One Kinesis record of a PutRecords call and the messages (indexes into the send) it carries. */
interface OutRecord {
  entry: PutRecordsRequestEntry;
  bytes: number;
  messages: number[];
}

const MAX_HASH_KEY = (1n << 128n) - 1n;

/**
 * Sends encoded batches with PutRecords: at most 500 records and 5 MiB per call, 1 MiB per
 * record. Results are per message; a failed record (throttled, internal failure) fails its
 * messages with a retriable error that core retries for those entries alone. Calls of one send
 * go out in order, and after a failed call the rest are not sent (core retries them in order).
 */
export class KinesisPublishTransport implements PublishTransport {
  readonly system = "aws_kinesis";
  limits: BackendLimits = kinesisLimits(false);
  private options: KinesisPublishOptions = { envelope: "auto", aggregate: false, aggregateMaxBytes: 51_200, explicitHashKey: undefined };

  constructor(
    readonly topic: string,
    private readonly kinesis: KinesisClient,
    /** open shards by hash key range, for packing aggregates per shard */
    private readonly shards: ShardMap,
  ) {}

  /** Sets how this publisher's messages become records (before the first send). */
  configure(options: KinesisPublishOptions, limits: BackendLimits): void {
    this.options = options;
    this.limits = limits;
  }

  async send(messages: WireMessage[]): Promise<PublishBatchResult[]> {
    const results: Array<PublishBatchResult | undefined> = new Array(messages.length);
    const records = this.options.aggregate ? await this.aggregated(messages, results) : this.oneEach(messages, results);
    let calls: OutRecord[][];
    try {
      calls = chunkCalls(records);
    } catch (err) {
      throw toKinesisBrookError(err, `publish to stream "${this.topic}"`);
    }
    // Keys with an entry that failed retriably in an earlier call of this send: their later
    // entries are not sent now but failed with a retriable error, so core resends them after
    // the failed one (it retries failed entries in their order) and the key's order holds.
    const heldBack = new Map<string, BrookError>();
    for (let c = 0; c < calls.length; c++) {
      const call = heldBack.size === 0 ? calls[c]! : this.holdBack(calls[c]!, messages, heldBack, results);
      if (call.length === 0) continue;
      try {
        const response = await this.kinesis.send(new PutRecordsCommand({ StreamName: this.topic, Records: call.map((r) => r.entry) }));
        const out = response.Records ?? [];
        for (let i = 0; i < call.length; i++) {
          const record = call[i]!;
          const result = out[i];
          if (result?.ErrorCode !== undefined || result?.SequenceNumber === undefined || result.ShardId === undefined) {
            const error = recordError(result?.ErrorCode ?? "InternalFailure", result?.ErrorMessage ?? "no sequence number in the response", `publish to stream "${this.topic}"`);
            for (const m of record.messages) {
              results[m] = { ok: false, error };
              const key = messages[m]!.key;
              if (error.retriable && key !== undefined && !heldBack.has(key)) heldBack.set(key, error);
            }
            continue;
          }
          const single = record.messages.length === 1;
          record.messages.forEach((m, sub) => {
            results[m] = { ok: true, position: { partition: result.ShardId!, offset: single ? result.SequenceNumber! : `${result.SequenceNumber}:${sub}` }, duplicate: false };
          });
          if (this.options.aggregate) this.shards.observe(record.entry.ExplicitHashKey, result.ShardId);
        }
      } catch (err) {
        const error = awsErrorName(err) === "ResourceNotFoundException" ? streamNotFound(this.topic, err) : toKinesisBrookError(err, `publish to stream "${this.topic}"`);
        for (let rest = c; rest < calls.length; rest++) for (const record of calls[rest]!) for (const m of record.messages) results[m] = { ok: false, error };
        break;
      }
    }
    return results.map((r) => r ?? { ok: false, error: new BrookError("INTERNAL", "message was not sent") });
  }

  /** The records of a call minus those carrying a key that failed earlier in this send (failed as held back). */
  private holdBack(call: OutRecord[], messages: WireMessage[], heldBack: Map<string, BrookError>, results: Array<PublishBatchResult | undefined>): OutRecord[] {
    return call.filter((record) => {
      const blocking = record.messages.map((m) => messages[m]!.key).find((key) => key !== undefined && heldBack.has(key));
      if (blocking === undefined) return true;
      const cause = heldBack.get(blocking)!;
      const error = new BrookError(cause.code, `publish to stream "${this.topic}": not sent, held back behind an earlier message of key "${blocking}" that failed (${cause.message})`, { cause, retriable: true });
      for (const m of record.messages) {
        results[m] = { ok: false, error };
        const key = messages[m]!.key;
        if (key !== undefined && !heldBack.has(key)) heldBack.set(key, cause);
      }
      return false;
    });
  }

  /** One Kinesis record per message, raw or in the KPL envelope. */
  private oneEach(messages: WireMessage[], results: Array<PublishBatchResult | undefined>): OutRecord[] {
    const out: OutRecord[] = [];
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      const routing = this.routing(m);
      if (routing instanceof BrookError) {
        results[i] = { ok: false, error: routing };
        continue;
      }
      const wrap = this.options.envelope === "kpl" || (this.options.envelope === "auto" && needsEnvelope(m));
      if (!wrap && needsEnvelope(m)) {
        results[i] = { ok: false, error: envelopeRefused(m) };
        continue;
      }
      const data = wrap ? encodeAggregate([toSubRecord(m, routing.partitionKey, routing.explicitHashKey)]) : m.value;
      const bytes = data.byteLength + Buffer.byteLength(routing.partitionKey);
      if (bytes > MAX_RECORD_BYTES) {
        results[i] = { ok: false, error: tooLarge(bytes, this.topic) };
        continue;
      }
      out.push({ entry: entry(data, routing.partitionKey, routing.explicitHashKey), bytes, messages: [i] });
    }
    return out;
  }

  /**
   * Packs messages into KPL aggregates per shard, as the KPL does: a record goes to the shard of
   * its first sub-record's hash key (sent as the record's explicit hash key), and only messages
   * whose keys hash into that same shard join it, so the KCL (which drops sub-records outside
   * its shard's range) reads every one. Records of one shard keep message order.
   */
  private async aggregated(messages: WireMessage[], results: Array<PublishBatchResult | undefined>): Promise<OutRecord[]> {
    if (this.options.envelope === "none") {
      for (let i = 0; i < messages.length; i++) results[i] = { ok: false, error: new BrookError("INVALID_ARGUMENT", `aggregate: true needs the KPL envelope; envelope: "none" cannot be combined with it`) };
      return [];
    }
    const map = await this.shards.current();
    const open = new Map<string, { builder: KplAggregateBuilder; hashKey: string; partitionKey: string; messages: number[] }>();
    const out: OutRecord[] = [];
    const close = (shard: string): void => {
      const agg = open.get(shard);
      if (agg === undefined) return;
      open.delete(shard);
      const data = agg.builder.encode();
      out.push({ entry: entry(data, agg.partitionKey, agg.hashKey), bytes: data.byteLength + Buffer.byteLength(agg.partitionKey), messages: agg.messages });
    };
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      const routing = this.routing(m);
      if (routing instanceof BrookError) {
        results[i] = { ok: false, error: routing };
        continue;
      }
      const sub = toSubRecord(m, routing.partitionKey, routing.explicitHashKey);
      const hash = routing.explicitHashKey === undefined ? hashOfPartitionKey(routing.partitionKey) : BigInt(routing.explicitHashKey);
      const shard = map.shardFor(hash);
      let agg = open.get(shard);
      if (agg !== undefined && agg.builder.sizeWith(sub) + Buffer.byteLength(agg.partitionKey) > this.options.aggregateMaxBytes) {
        close(shard);
        agg = undefined;
      }
      if (agg === undefined) {
        const alone = new KplAggregateBuilder();
        const size = alone.sizeWith(sub) + Buffer.byteLength(routing.partitionKey);
        if (size > MAX_RECORD_BYTES) {
          results[i] = { ok: false, error: tooLarge(size, this.topic) };
          continue;
        }
        agg = { builder: alone, hashKey: hash.toString(), partitionKey: routing.partitionKey, messages: [] };
        open.set(shard, agg);
      }
      agg.builder.add(sub);
      agg.messages.push(i);
    }
    for (const shard of [...open.keys()]) close(shard);
    return out;
  }

  /** A message's partition key and explicit hash key; a bad hash key fails that message alone. */
  private routing(m: WireMessage): { partitionKey: string; explicitHashKey: string | undefined } | BrookError {
    const partitionKey = m.key ?? randomPartitionKey();
    let explicitHashKey: string | undefined;
    try {
      explicitHashKey = this.options.explicitHashKey?.(m.key);
    } catch (err) {
      return new BrookError("INVALID_ARGUMENT", `explicitHashKey: the function threw for key "${m.key ?? ""}": ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    if (explicitHashKey !== undefined && (typeof explicitHashKey !== "string" || !validHashKey(explicitHashKey))) {
      return new BrookError("INVALID_ARGUMENT", `explicitHashKey: expected a decimal integer from 0 to 2^128-1 for key "${m.key ?? ""}", got "${String(explicitHashKey)}"`);
    }
    return { partitionKey, explicitHashKey };
  }
}

function validHashKey(value: string): boolean {
  return /^\d{1,39}$/.test(value) && BigInt(value) <= MAX_HASH_KEY;
}

function entry(data: Uint8Array, partitionKey: string, explicitHashKey: string | undefined): PutRecordsRequestEntry {
  return explicitHashKey === undefined ? { Data: data, PartitionKey: partitionKey } : { Data: data, PartitionKey: partitionKey, ExplicitHashKey: explicitHashKey };
}

/** Splits records into PutRecords calls of at most 500 records and 5 MiB, in order. */
function chunkCalls(records: OutRecord[]): OutRecord[][] {
  const calls: OutRecord[][] = [];
  let current: OutRecord[] = [];
  let bytes = 0;
  for (const r of records) {
    if (current.length > 0 && (current.length >= PUT_RECORDS_MAX_COUNT || bytes + r.bytes > PUT_RECORDS_MAX_BYTES)) {
      calls.push(current);
      current = [];
      bytes = 0;
    }
    current.push(r);
    bytes += r.bytes;
  }
  if (current.length > 0) calls.push(current);
  return calls;
}

function tooLarge(bytes: number, topic: string): BrookError {
  return new BrookError("MESSAGE_TOO_LARGE", `message: its Kinesis record would be ${bytes} bytes (data and partition key), over the limit of ${MAX_RECORD_BYTES} for stream "${topic}"`);
}

function envelopeRefused(m: WireMessage): BrookError {
  const names = Object.keys(m.headers);
  const what = m.idempotencyKey !== undefined ? "an idempotency key" : `headers (${names.join(", ")})`;
  // The auto codec marks strings and objects with content-type so readers decode them back.
  const hint = m.idempotencyKey === undefined && names.length === 1 && names[0] === "content-type" ? ' (set by the auto codec: pass codec "json", "string" or "bytes" to publisher and subscriber for raw records)' : "";
  return new BrookError("INVALID_ARGUMENT", `message: carries ${what}, which a Kinesis record can only hold in the KPL envelope; this publisher has envelope: "none"${hint}`);
}
