/**
 * Brook messages ↔ Kinesis records. A message travels raw (data = the message bytes, partition
 * key = its key) or inside the KPL envelope (kpl.ts), whose tags carry its headers and its
 * idempotency key (tag `brook-idempotency-key`). A record read back holds one message (offset
 * "<sequence number>") or, when it is a KPL aggregate of several, one per sub-record (offset
 * "<sequence number>:<sub-sequence number>", the KCL's extended sequence number).
 */
import { createHash, randomBytes } from "node:crypto";
import { BrookError } from "@brook/core";
import { IDEMPOTENCY_HEADER, type SourceRecord, type WireMessage } from "@brook/core/spi";
import { decodeAggregate, type KplSubRecord } from "./kpl.js";

/**
 * Partition keys Brook makes up for messages published without a key start with this, so a
 * reader reports them as unkeyed (the key is random: it only spreads records over shards).
 */
export const UNKEYED_PREFIX = "~brook:";

export function randomPartitionKey(): string {
  return `${UNKEYED_PREFIX}${randomBytes(8).toString("hex")}`;
}

/** The message key a partition key stands for (undefined for Brook's random ones). */
export function keyOfPartitionKey(partitionKey: string): string | undefined {
  return partitionKey.startsWith(UNKEYED_PREFIX) ? undefined : partitionKey;
}

/** Kinesis maps a partition key to the shard whose hash key range holds MD5(key) as a 128-bit number. */
export function hashOfPartitionKey(partitionKey: string): bigint {
  return BigInt(`0x${createHash("md5").update(partitionKey, "utf8").digest("hex")}`);
}

/** A position inside a shard: a record's sequence number, and the sub-record of an aggregate. */
export interface ExtendedSequence {
  sequence: string;
  /** the sub-record's index in its aggregate; undefined for a record read as one message */
  sub: number | undefined;
}

/** Parses an offset "<sequence number>" or "<sequence number>:<sub-sequence number>". */
export function parseOffset(offset: string, field = "offset"): ExtendedSequence {
  const match = /^(\d{1,128})(?::(\d{1,9}))?$/.exec(offset);
  if (match === null) throw new BrookError("INVALID_ARGUMENT", `${field}: expected a Kinesis sequence number, optionally ":<sub-sequence number>", got "${offset}"`);
  return { sequence: match[1]!, sub: match[2] === undefined ? undefined : Number(match[2]) };
}

export function formatOffset(sequence: string, sub: number | undefined): string {
  return sub === undefined ? sequence : `${sequence}:${sub}`;
}

/**
 * Orders two sequence numbers. Always as numbers: their lengths differ (real ones have 56
 * digits, kinesis-local ends a closed shard at 9223372036854775807).
 */
export function compareSequence(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Orders extended sequence numbers the KCL's way: a whole record counts as sub-record 0. */
export function compareExtended(a: ExtendedSequence, b: ExtendedSequence): number {
  return compareSequence(a.sequence, b.sequence) || (a.sub ?? 0) - (b.sub ?? 0);
}

/** A Kinesis record as GetRecords / SubscribeToShard return it (the fields Brook reads). */
export interface KinesisRecordIn {
  SequenceNumber?: string | undefined;
  PartitionKey?: string | undefined;
  Data?: Uint8Array | undefined;
  ApproximateArrivalTimestamp?: Date | undefined;
}

const EMPTY = new Uint8Array(0);

/**
 * The messages in one Kinesis record, in order, as core's SourceRecords of `shardId`: a plain
 * record is one message; a KPL aggregate is one per sub-record. Records at or before `after`
 * (the KCL's rule for resuming inside an aggregate) are left out.
 */
export function toSourceRecords(shardId: string, record: KinesisRecordIn, after?: ExtendedSequence): SourceRecord[] {
  const sequence = record.SequenceNumber;
  if (sequence === undefined) return [];
  const data = record.Data ?? EMPTY;
  const publishTime = record.ApproximateArrivalTimestamp ?? new Date();
  const sameRecord = after !== undefined && compareSequence(sequence, after.sequence) === 0;
  if (after !== undefined && compareSequence(sequence, after.sequence) < 0) return [];
  const subs = decodeAggregate(data);
  if (subs === undefined) {
    if (sameRecord) return [];
    const partitionKey = record.PartitionKey ?? "";
    return [{ partition: shardId, offset: sequence, key: keyOfPartitionKey(partitionKey), idempotencyKey: undefined, headers: {}, value: data, publishTime }];
  }
  const out: SourceRecord[] = [];
  const single = subs.length === 1;
  for (let i = 0; i < subs.length; i++) {
    if (sameRecord && i <= (after.sub ?? 0)) continue;
    out.push(subRecordToSource(shardId, single ? sequence : formatOffset(sequence, i), subs[i]!, publishTime));
  }
  return out;
}

function subRecordToSource(shardId: string, offset: string, sub: KplSubRecord, publishTime: Date): SourceRecord {
  const headers: Record<string, string> = {};
  let idempotencyKey: string | undefined;
  for (const [name, value] of sub.tags) {
    if (name === IDEMPOTENCY_HEADER) idempotencyKey = value;
    else headers[name] = value;
  }
  return { partition: shardId, offset, key: keyOfPartitionKey(sub.partitionKey), idempotencyKey, headers, value: sub.data, publishTime };
}

/** The KPL sub-record of a message: headers and the idempotency key become tags. */
export function toSubRecord(message: WireMessage, partitionKey: string, explicitHashKey: string | undefined): KplSubRecord {
  const tags: Array<[string, string]> = [];
  for (const name in message.headers) tags.push([name, message.headers[name]!]);
  if (message.idempotencyKey !== undefined) tags.push([IDEMPOTENCY_HEADER, message.idempotencyKey]);
  return { partitionKey, explicitHashKey, data: message.value, tags };
}

/** Whether a message needs the envelope to keep what it carries (headers, idempotency key). */
export function needsEnvelope(message: WireMessage): boolean {
  if (message.idempotencyKey !== undefined) return true;
  for (const _ in message.headers) return true;
  return false;
}
