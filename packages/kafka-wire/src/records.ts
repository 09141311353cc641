/**
 * Record batches, message format v2 (magic 2), https://kafka.apache.org/documentation/#recordbatch
 *
 *   RecordBatch =>
 *     baseOffset int64
 *     batchLength int32               bytes after this field
 *     partitionLeaderEpoch int32
 *     magic int8                      2
 *     crc uint32                      CRC-32C of everything after this field
 *     attributes int16                bits 0-2 compression (0 none, 1 gzip), bit 3 timestamp type
 *                                     (0 create, 1 log-append), bit 4 transactional, bit 5 control
 *     lastOffsetDelta int32
 *     baseTimestamp int64
 *     maxTimestamp int64
 *     producerId int64
 *     producerEpoch int16
 *     baseSequence int32
 *     records [Record]                int32 count, then the records (compressed as one block)
 *
 *   Record =>
 *     length varint                   bytes after this field
 *     attributes int8                 unused
 *     timestampDelta varlong
 *     offsetDelta varint
 *     key varint-length bytes         -1 = null
 *     value varint-length bytes       -1 = null
 *     headers [Header]                varint count
 *   Header => key varint-length string, value varint-length bytes (-1 = null)
 *
 * Mapping to Brook's records (FORMAT.md): a key is UTF-8 text, headers are a map of UTF-8
 * strings, the `brook-idempotency-key` header is Brook's idempotency key. Records that do not
 * fit (a null value, a key or header value that is not UTF-8, a repeated or null header) are
 * refused with INVALID_RECORD rather than stored altered.
 */
import { gunzipSync } from "node:zlib";
import { crc32c } from "./crc32c.js";
import { ProtocolError, Reader, Writer } from "./codec.js";

export const IDEMPOTENCY_HEADER = "brook-idempotency-key";

export interface KafkaRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers: Array<[string, Buffer | null]>;
  timestamp: number;
}

export interface DecodedBatch {
  baseOffset: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  transactional: boolean;
  control: boolean;
  records: KafkaRecord[];
}

/** A batch Kafka would refuse: answered with `code` (Kafka's error code), the connection stays. */
export class RecordError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export const BATCH_HEADER_BYTES = 61;

/** Decodes every batch of a produce request's record set, checking each CRC-32C. */
export function decodeBatches(set: Buffer): DecodedBatch[] {
  const out: DecodedBatch[] = [];
  let at = 0;
  while (at < set.length) {
    if (set.length - at < BATCH_HEADER_BYTES) throw new RecordError(CORRUPT_MESSAGE, `record set: ${set.length - at} trailing bytes, less than a batch header`);
    const batchLength = set.readInt32BE(at + 8);
    const end = at + 12 + batchLength;
    if (batchLength < BATCH_HEADER_BYTES - 12 || end > set.length) throw new RecordError(CORRUPT_MESSAGE, `record batch at byte ${at}: length ${batchLength} does not fit the record set`);
    out.push(decodeBatch(set.subarray(at, end)));
    at = end;
  }
  return out;
}

const CORRUPT_MESSAGE = 2;
const UNSUPPORTED_COMPRESSION_TYPE = 76;
const UNSUPPORTED_FOR_MESSAGE_FORMAT = 43;

function decodeBatch(b: Buffer): DecodedBatch {
  const magic = b.readInt8(16);
  if (magic !== 2) throw new RecordError(UNSUPPORTED_FOR_MESSAGE_FORMAT, `record batch magic ${magic}: only message format v2 is supported`);
  const crc = b.readUInt32BE(17);
  const actual = crc32c(b.subarray(21));
  if (crc !== actual) throw new RecordError(CORRUPT_MESSAGE, `record batch CRC-32C mismatch: stored ${crc}, computed ${actual}`);
  const r = new Reader(b);
  r.offset = 21;
  const attributes = r.int16();
  r.int32(); // lastOffsetDelta
  const baseTimestamp = r.int64();
  r.int64(); // maxTimestamp
  const producerId = r.int64();
  const producerEpoch = r.int16();
  const baseSequence = r.int32();
  const count = r.int32();
  const compression = attributes & 7;
  let body: Buffer = b.subarray(r.offset);
  if (compression === 1) {
    try {
      body = gunzipSync(body);
    } catch (err) {
      throw new RecordError(CORRUPT_MESSAGE, `record batch: gzip data does not decompress: ${(err as Error).message}`);
    }
  } else if (compression !== 0) {
    throw new RecordError(UNSUPPORTED_COMPRESSION_TYPE, `record batch compression ${compression}: only none (0) and gzip (1) are supported`);
  }
  const records: KafkaRecord[] = [];
  const rr = new Reader(body);
  try {
    if (count < 0 || count > body.length) throw new ProtocolError(`record count ${count}`);
    for (let i = 0; i < count; i++) {
      const length = rr.varint();
      const start = rr.offset;
      rr.int8();
      const timestampDelta = rr.varint();
      rr.varint(); // offsetDelta
      const key = varBytes(rr);
      const value = varBytes(rr);
      const headerCount = rr.varint();
      if (headerCount < 0 || headerCount > rr.remaining()) throw new ProtocolError(`header count ${headerCount}`);
      const headers: Array<[string, Buffer | null]> = [];
      for (let h = 0; h < headerCount; h++) {
        const name = varBytes(rr);
        if (name === null) throw new ProtocolError("null header key");
        headers.push([name.toString("utf8"), varBytes(rr)]);
      }
      if (rr.offset - start !== length) throw new ProtocolError(`record ${i} length ${length} but its fields take ${rr.offset - start}`);
      records.push({ key, value, headers, timestamp: baseTimestamp + timestampDelta });
    }
    rr.end("the records of a batch");
  } catch (err) {
    if (err instanceof ProtocolError) throw new RecordError(CORRUPT_MESSAGE, `record batch: ${err.message}`);
    throw err;
  }
  return { baseOffset: Number(b.readBigInt64BE(0)), producerId, producerEpoch, baseSequence, transactional: (attributes & 16) !== 0, control: (attributes & 32) !== 0, records };
}

function varBytes(r: Reader): Buffer | null {
  const n = r.varint();
  if (n === -1) return null;
  return r.raw(n, "record field");
}

export interface OutRecord {
  offset: number;
  timestamp: number;
  key: Buffer | undefined;
  value: Buffer;
  headers: Array<[string, string]>;
}

/**
 * Encodes records of consecutive offsets that share one append time as one uncompressed batch
 * with the log-append-time timestamp type (bit 3), as Kafka does for such topics.
 */
export function encodeBatch(records: readonly OutRecord[], producer = { id: -1, epoch: -1, baseSequence: -1 }): Buffer {
  const first = records[0]!;
  const last = records[records.length - 1]!;
  const body = new Writer();
  for (const rec of records) {
    const rw = new Writer();
    rw.int8(0).varint(0).varint(rec.offset - first.offset);
    if (rec.key === undefined) rw.varint(-1);
    else rw.varint(rec.key.length).raw(rec.key);
    rw.varint(rec.value.length).raw(rec.value);
    rw.varint(rec.headers.length);
    for (const [name, value] of rec.headers) {
      const n = Buffer.from(name, "utf8");
      const v = Buffer.from(value, "utf8");
      rw.varint(n.length).raw(n).varint(v.length).raw(v);
    }
    body.varint(rw.length).raw(rw.toBuffer());
  }
  const afterCrc = new Writer()
    .int16(8) // attributes: no compression, log-append time
    .int32(last.offset - first.offset)
    .int64(first.timestamp)
    .int64(last.timestamp)
    .int64(producer.id)
    .int16(producer.epoch)
    .int32(producer.baseSequence)
    .int32(records.length)
    .raw(body.toBuffer())
    .toBuffer();
  return new Writer()
    .int64(first.offset)
    .int32(afterCrc.length + 9) // partitionLeaderEpoch + magic + crc
    .int32(0)
    .int8(2)
    .uint32(crc32c(afterCrc))
    .raw(afterCrc)
    .toBuffer();
}

/** A stored record as the fast encoder reads it (the fields of local-broker's StoredRecord). */
export interface StoredLike {
  offset: number;
  timestamp: number;
  key: Buffer | undefined;
  idempotencyKey: string | undefined;
  headers: Readonly<Record<string, string>>;
  value: Buffer;
}

function varintSize(v: number): number {
  let z = v >= 0 ? v * 2 : -v * 2 - 1;
  let n = 1;
  while (z >= 128) {
    z = Math.floor(z / 128);
    n += 1;
  }
  return n;
}

function putVarint(buf: Buffer, pos: number, v: number): number {
  let z = v >= 0 ? v * 2 : -v * 2 - 1;
  while (z >= 128) {
    buf[pos++] = (z % 128) | 0x80;
    z = Math.floor(z / 128);
  }
  buf[pos++] = z;
  return pos;
}

/**
 * The same batch encodeBatch makes from `records[from..to)` (consecutive offsets, one append
 * time, the idempotency key as the last header), sized first and written into one buffer: no
 * per-record buffers. Header names and values are written as UTF-8 directly.
 */
export function encodeStoredBatch(records: readonly StoredLike[], from: number, to: number): Buffer {
  const first = records[from]!;
  const last = records[to - 1]!;
  // pass 1: every record's length (after its own length varint)
  const lengths = new Array<number>(to - from);
  let body = 0;
  for (let i = from; i < to; i++) {
    const rec = records[i]!;
    const keyLen = rec.key === undefined ? -1 : rec.key.length;
    let n = 1 + 1 + varintSize(rec.offset - first.offset) + varintSize(keyLen) + Math.max(0, keyLen) + varintSize(rec.value.length) + rec.value.length;
    let headerCount = 0;
    for (const name in rec.headers) {
      const nl = Buffer.byteLength(name, "utf8");
      const vl = Buffer.byteLength(rec.headers[name]!, "utf8");
      n += varintSize(nl) + nl + varintSize(vl) + vl;
      headerCount += 1;
    }
    if (rec.idempotencyKey !== undefined) {
      const vl = Buffer.byteLength(rec.idempotencyKey, "utf8");
      n += varintSize(IDEMPOTENCY_HEADER.length) + IDEMPOTENCY_HEADER.length + varintSize(vl) + vl;
      headerCount += 1;
    }
    n += varintSize(headerCount);
    lengths[i - from] = n;
    body += varintSize(n) + n;
  }
  const total = BATCH_HEADER_BYTES + body;
  const buf = Buffer.allocUnsafe(total);
  buf.writeBigInt64BE(BigInt(first.offset), 0);
  buf.writeInt32BE(total - 12, 8); // batchLength: bytes after this field
  buf.writeInt32BE(0, 12); // partitionLeaderEpoch
  buf.writeInt8(2, 16); // magic
  // crc (17..20) last
  buf.writeInt16BE(8, 21); // attributes: no compression, log-append time
  buf.writeInt32BE(last.offset - first.offset, 23);
  buf.writeBigInt64BE(BigInt(first.timestamp), 27);
  buf.writeBigInt64BE(BigInt(last.timestamp), 35);
  buf.writeBigInt64BE(-1n, 43); // producerId
  buf.writeInt16BE(-1, 51); // producerEpoch
  buf.writeInt32BE(-1, 53); // baseSequence
  buf.writeInt32BE(to - from, 57);
  let pos = BATCH_HEADER_BYTES;
  for (let i = from; i < to; i++) {
    const rec = records[i]!;
    pos = putVarint(buf, pos, lengths[i - from]!);
    buf[pos++] = 0; // attributes
    buf[pos++] = 0; // timestampDelta 0 (one append time)
    pos = putVarint(buf, pos, rec.offset - first.offset);
    if (rec.key === undefined) pos = putVarint(buf, pos, -1);
    else {
      pos = putVarint(buf, pos, rec.key.length);
      pos += rec.key.copy(buf, pos);
    }
    pos = putVarint(buf, pos, rec.value.length);
    pos += rec.value.copy(buf, pos);
    let headerCount = rec.idempotencyKey === undefined ? 0 : 1;
    for (const _ in rec.headers) headerCount += 1;
    pos = putVarint(buf, pos, headerCount);
    for (const name in rec.headers) {
      const value = rec.headers[name]!;
      pos = putVarint(buf, pos, Buffer.byteLength(name, "utf8"));
      pos += buf.write(name, pos, "utf8");
      pos = putVarint(buf, pos, Buffer.byteLength(value, "utf8"));
      pos += buf.write(value, pos, "utf8");
    }
    if (rec.idempotencyKey !== undefined) {
      pos = putVarint(buf, pos, IDEMPOTENCY_HEADER.length);
      pos += buf.write(IDEMPOTENCY_HEADER, pos, "latin1");
      pos = putVarint(buf, pos, Buffer.byteLength(rec.idempotencyKey, "utf8"));
      pos += buf.write(rec.idempotencyKey, pos, "utf8");
    }
  }
  if (pos !== total) throw new Error(`record batch encoder: wrote ${pos} of ${total} bytes`);
  buf.writeUInt32BE(crc32c(buf.subarray(21)), 17);
  return buf;
}
