/**
 * Encoding and decoding of the on-disk record batch (FORMAT.md §3) and index entries (§4).
 * Pure functions over Buffers: no I/O here. The hot paths (encodeAppend, decodeBatchRecords)
 * avoid per-record allocations other than the records the caller asked for.
 */
import { crc32c } from "../crc32c.js";
import { BrookError } from "@brook/core/base";
import { setHeader } from "@brook/core/base";
import type { AppendInput, StoredRecord } from "./types.js";

/** FORMAT.md §3: byte positions inside a batch. */
export const BATCH_HEADER_BYTES = 38;
export const BATCH_MAGIC = 1;
const AT_LENGTH = 0;
const AT_CRC = 4;
const AT_MAGIC = 8;
const AT_ATTRIBUTES = 9;
const AT_COUNT = 10;
const AT_BASE_OFFSET = 14;
const AT_FIRST_TIMESTAMP = 22;
const AT_MAX_TIMESTAMP = 30;

/** FORMAT.md §2: a new batch starts once the current one holds this many record bytes. */
export const SOFT_MAX_BATCH_RECORD_BYTES = 1 << 20;
/** One append call encodes to at most this many bytes (keeps u32 index positions safe). */
export const MAX_APPEND_BYTES = 512 * 1024 * 1024;

/** FORMAT.md §4.1 / §4.2 entry sizes. */
export const OFFSET_INDEX_ENTRY_BYTES = 8;
export const TIME_INDEX_ENTRY_BYTES = 12;

const TWO_32 = 0x1_0000_0000;

// ---------------------------------------------------------------------------------------------
// Fixed-width helpers. int64 values stay within ±2^53 (FORMAT.md preamble), so hi/lo halves
// avoid BigInt allocations.

export function writeInt64(buf: Buffer, value: number, at: number): void {
  const hi = Math.floor(value / TWO_32);
  buf.writeInt32BE(hi, at);
  buf.writeUInt32BE(value - hi * TWO_32, at + 4);
}

export function readInt64(buf: Buffer, at: number): number {
  return buf.readInt32BE(at) * TWO_32 + buf.readUInt32BE(at + 4);
}

// ---------------------------------------------------------------------------------------------
// Varints (FORMAT.md preamble): unsigned LEB128, value < 2^53, at most 8 bytes.

function writeVarint(buf: Buffer, value: number, at: number): number {
  while (value >= 0x80) {
    buf[at++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  buf[at++] = value;
  return at;
}

function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    size++;
  }
  return size;
}

/** Position after the last varint read by readVarint (a module-level cursor avoids allocating). */
let cursor = 0;

class DecodeError extends Error {}

function readVarint(buf: Buffer, at: number, end: number): number {
  if (at >= end) throw new DecodeError("record runs past the end of its batch");
  let byte = buf[at++] as number;
  if (byte < 0x80) {
    cursor = at;
    return byte;
  }
  let value = byte & 0x7f;
  let scale = 0x80;
  for (let i = 1; i < 8; i++) {
    if (at >= end) throw new DecodeError("record runs past the end of its batch");
    byte = buf[at++] as number;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      cursor = at;
      return value;
    }
    scale *= 0x80;
  }
  throw new DecodeError("varint longer than 8 bytes");
}

// ---------------------------------------------------------------------------------------------
// Encoding (FORMAT.md §3)

/** The result of encoding one append call: one buffer holding one or more batches. */
export interface EncodedAppend {
  buffer: Buffer;
  /** the whole buffer `buffer` was encoded into (the caller's `into`, or a new one): reusable once `buffer` is written */
  backing: Buffer;
  /**
   * Per batch, 5 numbers: position inside `buffer`, baseOffset, recordCount, maxTimestamp,
   * firstTimestamp. Flat to avoid an object per batch.
   */
  batches: number[];
  firstTimestamp: number;
  maxTimestamp: number;
}

function badRecord(index: number, field: string, expected: string): BrookError {
  return new BrookError("INVALID_ARGUMENT", `records[${index}].${field}: expected ${expected}`);
}

/**
 * Encodes `records` (at least one) as batches starting at `baseOffset`. One pass computes an
 * upper bound of the size (strings counted at 3 bytes per UTF-16 unit), a second pass writes,
 * so the only allocation is the output buffer, or none when `into` is big enough: a buffer
 * whose earlier content has been written, reused because touching fresh memory (page faults)
 * cost ~75 ns a record, a third of encoding a 100-byte one.
 */
export function encodeAppend(records: readonly AppendInput[], baseOffset: number, recordIndex?: number[], indexEvery = 64, timestamp?: number, into?: Buffer): EncodedAppend {
  const count = records.length;
  let bound = 0;
  for (let i = 0; i < count; i++) {
    const r = records[i] as AppendInput;
    if (!Number.isSafeInteger(r.timestamp ?? timestamp)) throw badRecord(i, "timestamp", "an integer number of milliseconds");
    if (!(r.value instanceof Uint8Array)) throw badRecord(i, "value", "a Buffer");
    bound += 8 + 9 + r.value.length + 9; // timestamp delta, value length + bytes, key/idem markers
    if (r.key !== undefined) {
      if (!(r.key instanceof Uint8Array)) throw badRecord(i, "key", "a Buffer or undefined");
      bound += 8 + r.key.length;
    }
    if (r.idempotencyKey !== undefined) bound += 8 + 3 * r.idempotencyKey.length;
    const headers = r.headers;
    for (const name in headers) {
      const value = headers[name];
      if (typeof value !== "string") throw badRecord(i, `headers.${name}`, "a string");
      bound += 16 + 3 * (name.length + value.length);
    }
  }
  bound += BATCH_HEADER_BYTES * (Math.floor(bound / SOFT_MAX_BATCH_RECORD_BYTES) + 1);
  if (bound > MAX_APPEND_BYTES * 2) {
    throw new BrookError("MESSAGE_TOO_LARGE", `append of ${count} records: more than ${MAX_APPEND_BYTES} bytes in one call`);
  }

  const buf = into !== undefined && into.length >= bound ? into : Buffer.allocUnsafe(bound);
  const batches: number[] = [];
  let pos = 0;
  let batchStart = 0;
  let batchBase = baseOffset;
  let batchFirstTs = 0;
  let batchMaxTs = 0;
  let batchCount = 0;
  let appendMaxTs = -Infinity;

  for (let i = 0; i < count; i++) {
    const r = records[i] as AppendInput;
    const ts = (r.timestamp ?? timestamp) as number;
    if (batchCount === 0) {
      batchStart = pos;
      pos += BATCH_HEADER_BYTES;
      batchFirstTs = ts;
      batchMaxTs = ts;
    }
    // optional sparse record index: where every indexEvery-th record starts
    if (recordIndex !== undefined && i % indexEvery === 0) recordIndex.push(pos);
    if (ts > batchMaxTs) batchMaxTs = ts;
    const delta = ts - batchFirstTs;
    // timestampDelta: zigzag varint
    const zz = delta >= 0 ? delta * 2 : -delta * 2 - 1;
    if (zz < 0x80) buf[pos++] = zz;
    else pos = writeVarint(buf, zz, pos);
    // key: nullable bytes
    const key = r.key;
    if (key === undefined) buf[pos++] = 0;
    else {
      const n = key.length + 1;
      if (n < 0x80) buf[pos++] = n;
      else pos = writeVarint(buf, n, pos);
      // A short key byte by byte: TypedArray.set costs more than the copy below ~32 bytes.
      if (key.length < 32) for (let k = 0; k < key.length; k++) buf[pos + k] = key[k]!;
      else buf.set(key, pos);
      pos += key.length;
    }
    // idempotencyKey: nullable UTF-8
    const idem = r.idempotencyKey;
    if (idem === undefined) buf[pos++] = 0;
    else pos = writeNullableString(buf, idem, pos);
    // headers
    const headersAt = pos++;
    let headerCount = 0;
    const headers = r.headers;
    for (const name in headers) {
      pos = writeString(buf, name, pos);
      pos = writeString(buf, headers[name] as string, pos);
      headerCount++;
    }
    if (headerCount < 0x80) buf[headersAt] = headerCount;
    else {
      // Rare: more than 127 headers. Shift the header bytes to make room for a longer varint.
      const size = varintSize(headerCount);
      buf.copyWithin(headersAt + size, headersAt + 1, pos);
      writeVarint(buf, headerCount, headersAt);
      pos += size - 1;
    }
    // value
    const value = r.value;
    const vlen = value.length;
    if (vlen < 0x80) buf[pos++] = vlen;
    else pos = writeVarint(buf, vlen, pos);
    buf.set(value, pos);
    pos += vlen;
    batchCount++;

    if (pos - batchStart >= SOFT_MAX_BATCH_RECORD_BYTES || i === count - 1) {
      finishBatch(buf, batchStart, pos, batchBase, batchCount, batchFirstTs, batchMaxTs);
      batches.push(batchStart, batchBase, batchCount, batchMaxTs, batchFirstTs);
      if (batchMaxTs > appendMaxTs) appendMaxTs = batchMaxTs;
      batchBase += batchCount;
      batchCount = 0;
    }
  }
  if (pos > MAX_APPEND_BYTES) {
    throw new BrookError("MESSAGE_TOO_LARGE", `append of ${count} records encodes to ${pos} bytes; at most ${MAX_APPEND_BYTES} per call`);
  }
  return {
    buffer: pos === buf.length ? buf : buf.subarray(0, pos),
    backing: buf,
    batches,
    firstTimestamp: ((records[0] as AppendInput).timestamp ?? timestamp) as number,
    maxTimestamp: appendMaxTs,
  };
}

/**
 * Writes a short ASCII string byte by byte at `at` and returns its length, or -1 (nothing
 * usable written) when it holds a non-ASCII character. Cheaper than a native buf.write call
 * for header names and values of a few dozen bytes, written for every record.
 */
function writeShortAscii(buf: Buffer, s: string, at: number): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return -1;
    buf[at + i] = c;
  }
  return n;
}

function writeString(buf: Buffer, s: string, at: number): number {
  // A string of ≤ 42 UTF-16 units is ≤ 126 UTF-8 bytes: its length is a one-byte varint, so
  // write the bytes first and the length after, without measuring.
  if (s.length <= 42) {
    let n = writeShortAscii(buf, s, at + 1);
    if (n < 0) n = buf.write(s, at + 1, "utf8");
    buf[at] = n;
    return at + 1 + n;
  }
  const n = Buffer.byteLength(s, "utf8");
  at = writeVarint(buf, n, at);
  return at + buf.write(s, at, "utf8");
}

function writeNullableString(buf: Buffer, s: string, at: number): number {
  if (s.length <= 42) {
    let n = writeShortAscii(buf, s, at + 1);
    if (n < 0) n = buf.write(s, at + 1, "utf8");
    buf[at] = n + 1;
    return at + 1 + n;
  }
  const n = Buffer.byteLength(s, "utf8");
  at = writeVarint(buf, n + 1, at);
  return at + buf.write(s, at, "utf8");
}

function finishBatch(
  buf: Buffer,
  start: number,
  end: number,
  baseOffset: number,
  count: number,
  firstTs: number,
  maxTs: number,
): void {
  buf.writeUInt32BE(end - start, start + AT_LENGTH);
  buf[start + AT_MAGIC] = BATCH_MAGIC;
  buf[start + AT_ATTRIBUTES] = 0;
  buf.writeUInt32BE(count, start + AT_COUNT);
  writeInt64(buf, baseOffset, start + AT_BASE_OFFSET);
  writeInt64(buf, firstTs, start + AT_FIRST_TIMESTAMP);
  writeInt64(buf, maxTs, start + AT_MAX_TIMESTAMP);
  buf.writeUInt32BE(crc32c(buf.subarray(start + AT_MAGIC, end)), start + AT_CRC);
}

// ---------------------------------------------------------------------------------------------
// Batch headers and validation (FORMAT.md §3, last paragraph)

export function batchLength(buf: Buffer, at: number): number {
  return buf.readUInt32BE(at + AT_LENGTH);
}
export function batchRecordCount(buf: Buffer, at: number): number {
  return buf.readUInt32BE(at + AT_COUNT);
}
export function batchBaseOffset(buf: Buffer, at: number): number {
  return readInt64(buf, at + AT_BASE_OFFSET);
}
export function batchFirstTimestamp(buf: Buffer, at: number): number {
  return readInt64(buf, at + AT_FIRST_TIMESTAMP);
}
export function batchMaxTimestamp(buf: Buffer, at: number): number {
  return readInt64(buf, at + AT_MAX_TIMESTAMP);
}

/**
 * Checks the header fields that can be checked without the body: `available` is how many
 * bytes of the segment remain from `at`. Returns why the header is bad, or undefined.
 */
export function checkBatchHeader(buf: Buffer, at: number, available: number, expectedOffset: number): string | undefined {
  const len = buf.readUInt32BE(at + AT_LENGTH);
  if (len < BATCH_HEADER_BYTES) return `batch length ${len} is below the ${BATCH_HEADER_BYTES}-byte header`;
  if (len > available) return `batch length ${len} runs past the end of the segment (${available} bytes left)`;
  if (buf[at + AT_MAGIC] !== BATCH_MAGIC) return `unknown batch magic ${String(buf[at + AT_MAGIC])}`;
  if (buf[at + AT_ATTRIBUTES] !== 0) return `unknown batch attributes ${String(buf[at + AT_ATTRIBUTES])}`;
  if (buf.readUInt32BE(at + AT_COUNT) === 0) return "batch holds no records";
  const base = readInt64(buf, at + AT_BASE_OFFSET);
  if (base !== expectedOffset) return `batch base offset ${base} where ${expectedOffset} was expected`;
  return undefined;
}

/** Header checks plus the CRC over the whole body; `buf` must hold the whole batch. */
export function checkBatch(buf: Buffer, at: number, available: number, expectedOffset: number): string | undefined {
  const problem = checkBatchHeader(buf, at, available, expectedOffset);
  if (problem !== undefined) return problem;
  const len = buf.readUInt32BE(at + AT_LENGTH);
  const stored = buf.readUInt32BE(at + AT_CRC);
  const actual = crc32c(buf.subarray(at + AT_MAGIC, at + len));
  if (stored !== actual) return `checksum mismatch (stored ${hex(stored)}, computed ${hex(actual)})`;
  return undefined;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}

// ---------------------------------------------------------------------------------------------
// Decoding (FORMAT.md §3)

/** Where a decode stopped and how many bytes the returned records took. */
export interface DecodeProgress {
  /** the offset after the last record pushed (or `from` when none was) */
  nextOffset: number;
  bytes: number;
}

/**
 * Decodes the records of a checked batch at `at` whose offsets are ≥ `from` and < `endOffset`
 * into `out`, until `out` holds `maxRecords` or the next record would push `progress.bytes`
 * past `maxBytes` (one record is always allowed into an empty `out`); returns true when it
 * stopped for one of those two limits. Values and keys are
 * views into `buf`, which the caller must never reuse. Throws a DecodeError (see
 * isDecodeError) on a record that does not fit its batch; the caller reports CORRUPT_DATA.
 * `firstIndex`/`firstPos` start the walk at a record known to begin there (a sparse record
 * index, see encodeAppend's `recordIndex`) instead of the batch's first record.
 * `out` a StoredRun: the same walk and checks, but each record is only located (where it
 * starts), to be decoded when the run's reader asks for it.
 */
export function decodeBatchRecords(
  buf: Buffer,
  at: number,
  from: number,
  endOffset: number,
  out: StoredRecord[] | StoredRun,
  maxRecords: number,
  maxBytes: number,
  progress: DecodeProgress,
  firstIndex = 0,
  firstPos = at + BATCH_HEADER_BYTES,
): boolean {
  const end = at + buf.readUInt32BE(at + AT_LENGTH);
  const count = buf.readUInt32BE(at + AT_COUNT);
  const base = readInt64(buf, at + AT_BASE_OFFSET);
  const firstTs = readInt64(buf, at + AT_FIRST_TIMESTAMP);
  const run = out instanceof StoredRun ? out : undefined;
  let pos = firstPos;
  for (let i = firstIndex; i < count; i++) {
    const offset = base + i;
    if (offset >= endOffset) return false;
    if (out.length >= maxRecords) return true;
    const recordStart = pos;
    const take = offset >= from;
    let record: StoredRecord | undefined;
    if (take && run === undefined) {
      record = decodeRecord(buf, pos, end, offset, firstTs, storedRecord);
      pos = cursor;
    } else pos = skipRecord(buf, pos, end);
    if (!take) continue;
    const size = pos - recordStart;
    if (out.length > 0 && progress.bytes + size > maxBytes) return true;
    progress.bytes += size;
    progress.nextOffset = offset + 1;
    if (run !== undefined) run.add(buf, end, firstTs, offset, recordStart);
    else (out as StoredRecord[]).push(record!);
  }
  if (pos !== end) throw new DecodeError(`records end at byte ${pos - at} of a ${end - at}-byte batch`);
  return false;
}

/**
 * Makes a reader's object for a record from its decoded fields: a reader that wants its own
 * shape (the subscriber's SourceRecord) gets it straight from the bytes, with no StoredRecord
 * made and dropped on the way.
 */
export type RecordMaker<R> = (offset: number, timestamp: number, key: Buffer | undefined, idempotencyKey: string | undefined, headers: Record<string, string>, value: Buffer) => R;

const storedRecord: RecordMaker<StoredRecord> = (offset, timestamp, key, idempotencyKey, headers, value) => ({ offset, timestamp, key, idempotencyKey, headers, value });

/** Decodes the record at `pos` of a batch ending at `end` through `make`; leaves `cursor` after it. */
function decodeRecord<R>(buf: Buffer, pos: number, end: number, offset: number, firstTs: number, make: RecordMaker<R>): R {
  // timestampDelta
  const zz = readSmall(buf, pos, end);
  pos = cursor;
  // key
  let n = readSmall(buf, pos, end);
  pos = cursor;
  let key: Buffer | undefined;
  if (n !== 0) {
    n -= 1;
    key = view(buf, pos, pos + n);
    pos += n;
  }
  // idempotencyKey
  n = readSmall(buf, pos, end);
  pos = cursor;
  let idempotencyKey: string | undefined;
  if (n !== 0) {
    n -= 1;
    idempotencyKey = buf.toString("utf8", pos, pos + n);
    pos += n;
  }
  // headers
  const headerCount = readSmall(buf, pos, end);
  pos = cursor;
  const headers: Record<string, string> = {};
  for (let h = 0; h < headerCount; h++) {
    n = readSmall(buf, pos, end);
    const nameStart = cursor;
    const nameEnd = nameStart + n;
    n = readSmall(buf, nameEnd, end);
    pos = cursor + n;
    setHeader(headers, headerText(buf, nameStart, nameEnd), headerText(buf, cursor, pos));
  }
  // value
  n = readSmall(buf, pos, end);
  pos = cursor;
  const valueStart = pos;
  pos += n;
  if (pos > end) throw new DecodeError("record runs past the end of its batch");
  cursor = pos;
  return make(offset, firstTs + (zz % 2 === 0 ? zz / 2 : -(zz + 1) / 2), key, idempotencyKey, headers, view(buf, valueStart, pos));
}

/** Header names and values seen lately (ASCII only: a char per byte; see headerText). */
const HEADER_TEXTS = 16;
const HEADER_TEXT_MAX_BYTES = 64;
const recentHeaderTexts: string[] = [];
let nextHeaderSlot = 0;

/**
 * The text of a header name or value. Most records repeat a few of them (content-type,
 * application/json): those come from a small table of recent ASCII ones, compared char by
 * byte, so the same string is reused. A fresh string per record cost more to make, and more
 * again as a property name (each one is hashed and interned), than the rest of a JSON record's
 * fields. A text that is not plain ASCII never matches (its length in chars differs, or a
 * U+FFFD from a bad byte equals no byte) and is made as before.
 */
function headerText(buf: Buffer, start: number, end: number): string {
  const length = end - start;
  if (length > HEADER_TEXT_MAX_BYTES) return buf.toString("utf8", start, end);
  search: for (let s = 0; s < recentHeaderTexts.length; s++) {
    const known = recentHeaderTexts[s]!;
    if (known.length !== length) continue;
    for (let i = 0; i < length; i++) if (known.charCodeAt(i) !== buf[start + i]) continue search;
    return known;
  }
  const text = buf.toString("utf8", start, end);
  if (text.length === length) {
    recentHeaderTexts[nextHeaderSlot] = text;
    nextHeaderSlot = (nextHeaderSlot + 1) % HEADER_TEXTS;
  }
  return text;
}

/** The position after the record at `pos` of a batch ending at `end`, read without decoding it. */
function skipRecord(buf: Buffer, pos: number, end: number): number {
  readSmall(buf, pos, end); // timestampDelta
  let n = readSmall(buf, cursor, end); // key
  pos = cursor + (n === 0 ? 0 : n - 1);
  n = readSmall(buf, pos, end); // idempotencyKey
  pos = cursor + (n === 0 ? 0 : n - 1);
  const headerCount = readSmall(buf, pos, end);
  pos = cursor;
  for (let h = 0; h < 2 * headerCount; h++) {
    n = readSmall(buf, pos, end);
    pos = cursor + n;
  }
  n = readSmall(buf, pos, end); // value
  pos = cursor + n;
  if (pos > end) throw new DecodeError("record runs past the end of its batch");
  return pos;
}

/**
 * Consecutive records of one partition located in their (checked) batch buffers by a read,
 * each decoded only when `record(i)` asks: a reader that hands records on without looking at
 * most of them pays for no object per record. Filled by decodeBatchRecords.
 */
export class StoredRun {
  /** records located so far */
  length = 0;
  /** the offset of record 0 (record i is firstOffset + i); -1 while empty */
  firstOffset = -1;
  /** where each record starts in its piece's buffer */
  private readonly positions: number[] = [];
  /** the batches (or parts of them) the records lie in, in order */
  private readonly pieces: RunPiece[] = [];
  private last: RunPiece | undefined;

  add(buf: Buffer, batchEnd: number, firstTs: number, offset: number, pos: number): void {
    if (this.length === 0) this.firstOffset = offset;
    else if (offset !== this.firstOffset + this.length) throw new BrookError("INTERNAL", `run of offsets from ${this.firstOffset}: offset ${offset} does not follow ${this.firstOffset + this.length - 1}`);
    const last = this.last;
    if (last === undefined || last.buf !== buf || last.end !== batchEnd) {
      this.pieces.push((this.last = { buf, end: batchEnd, firstTs, from: this.length }));
    }
    this.positions.push(pos);
    this.length += 1;
  }

  /** Decodes record i (0 ≤ i < length): a fresh object per call. */
  record(i: number): StoredRecord {
    return this.recordAs(i, storedRecord);
  }

  /** Decodes record i (0 ≤ i < length) into the object `make` makes of its fields. */
  recordAs<R>(i: number, make: RecordMaker<R>): R {
    const pieces = this.pieces;
    let p = pieces.length - 1;
    while (p > 0 && pieces[p]!.from > i) p--;
    const piece = pieces[p]!;
    return decodeRecord(piece.buf, this.positions[i]!, piece.end, this.firstOffset + i, piece.firstTs, make);
  }
}

interface RunPiece {
  buf: Buffer;
  /** where the batch ends in `buf` */
  end: number;
  firstTs: number;
  /** the run's index of the piece's first record */
  from: number;
}

/**
 * A view into a batch buffer that is a Buffer in every way (Buffer.isBuffer, instanceof, every
 * method: its prototype chain is Buffer's, as Node's own FastBuffer), made directly instead of
 * through Buffer#subarray, whose species lookup costs about twice as much per record.
 */
class BufferView extends Uint8Array {}
Object.setPrototypeOf(BufferView.prototype, Buffer.prototype);
// As on Node's FastBuffer: `constructor` is Buffer (equality checks compare constructors, and
// subarray/slice of a view make plain Buffers).
Object.defineProperty(BufferView.prototype, "constructor", { value: Buffer, writable: true, configurable: true });

function view(buf: Buffer, start: number, end: number): Buffer {
  return new BufferView(buf.buffer as ArrayBuffer, buf.byteOffset + start, end - start) as unknown as Buffer;
}

function readSmall(buf: Buffer, at: number, end: number): number {
  const byte = buf[at] as number;
  if (byte < 0x80 && at < end) {
    cursor = at + 1;
    return byte;
  }
  return readVarint(buf, at, end);
}

/** The offset of the first record of a checked batch with timestamp ≥ `target`, or -1. */
export function firstOffsetAtOrAfter(buf: Buffer, at: number, target: number): number {
  const end = at + buf.readUInt32BE(at + AT_LENGTH);
  const count = buf.readUInt32BE(at + AT_COUNT);
  const base = readInt64(buf, at + AT_BASE_OFFSET);
  const firstTs = readInt64(buf, at + AT_FIRST_TIMESTAMP);
  let pos = at + BATCH_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    const zz = readSmall(buf, pos, end);
    const ts = firstTs + (zz % 2 === 0 ? zz / 2 : -(zz + 1) / 2);
    if (ts >= target) return base + i;
    pos = skipRecord(buf, pos, end);
  }
  return -1;
}

export function isDecodeError(err: unknown): err is Error {
  return err instanceof DecodeError;
}
