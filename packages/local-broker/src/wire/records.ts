/**
 * The hot path of the brook:// wire protocol in binary (../../PROTOCOL.md §5, §6): APPEND
 * requests and results, FETCH requests and record batches. Each encoder sizes its frame in
 * advance and writes it in one pass; decoders hand out views into the frame, not copies.
 */
import type { PublishBatchResult } from "@brook/core";
import type { WireMessage } from "@brook/core/spi";
import { BrookError, setHeader } from "@brook/core/base";
import type { StoredRecord } from "../storage/types.js";
import { BodyReader, BodyWriter, toCode, utf8Length } from "./codec.js";
import { FRAME_HEADER_BYTES, FrameType, ProtocolError, RESPONSE_BIT } from "./frames.js";

/** §6: the longest a FETCH may wait on the server */
export const MAX_FETCH_WAIT_MS = 30_000;

// ---- messages and records share flags and headers (§5) ----

const FLAG_KEY = 1;
const FLAG_IDEMPOTENCY = 2;
const FLAG_HEADERS = 4;
const KNOWN_FLAGS = FLAG_KEY | FLAG_IDEMPOTENCY | FLAG_HEADERS;

function headersSize(headers: Record<string, string>): number {
  let size = 0;
  let count = 0;
  for (const name in headers) {
    size += 8 + utf8Length(name) + utf8Length(headers[name]!);
    count += 1;
  }
  return count === 0 ? 0 : size + 2;
}

function writeHeaders(w: BodyWriter, headers: Record<string, string>): void {
  const countAt = w.pos;
  w.pos += 2;
  let count = 0;
  for (const name in headers) {
    w.str32(name);
    w.str32(headers[name]!);
    count += 1;
  }
  if (count > 0xffff) throw new BrookError("INVALID_ARGUMENT", `headers: at most 65535 per message, got ${count}`);
  w.buf.writeUInt16BE(count, countAt);
}

/**
 * Shared by every decoded message without headers: one object less per message on the hot
 * path. Frozen, so a consumer that tried to add to it would fail loudly; Brook copies headers
 * before handing them to applications.
 */
const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;

function readHeaders(r: BodyReader): Record<string, string> {
  const n = r.u16();
  const headers: Record<string, string> = {};
  for (let i = 0; i < n; i++) {
    const name = r.str32();
    setHeader(headers, name, r.str32());
  }
  return headers;
}

function hasHeaders(headers: Record<string, string>): boolean {
  for (const _ in headers) return true;
  return false;
}

// ---- APPEND (§5) ----

/** §5 append_request, as a whole frame whose id is set when it is sent. */
export function encodeAppendRequest(topic: string, messages: readonly WireMessage[]): Buffer {
  let size = FRAME_HEADER_BYTES + 2 + utf8Length(topic) + 4;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    size += 5 + m.value.byteLength;
    if (m.key !== undefined) size += 4 + utf8Length(m.key);
    if (m.idempotencyKey !== undefined) size += 4 + utf8Length(m.idempotencyKey);
    size += headersSize(m.headers);
  }
  const w = new BodyWriter(Buffer.allocUnsafe(size), FRAME_HEADER_BYTES);
  w.str16(topic);
  w.u32(messages.length);
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    const withHeaders = hasHeaders(m.headers);
    w.u8((m.key !== undefined ? FLAG_KEY : 0) | (m.idempotencyKey !== undefined ? FLAG_IDEMPOTENCY : 0) | (withHeaders ? FLAG_HEADERS : 0));
    if (m.key !== undefined) w.str32(m.key);
    if (m.idempotencyKey !== undefined) w.str32(m.idempotencyKey);
    if (withHeaders) writeHeaders(w, m.headers);
    w.bytes32(m.value);
  }
  return w.finish(FrameType.APPEND, 0);
}

/**
 * §5 append_request; values are views into the frame. `checkCount` may refuse the message
 * count (throwing a BrookError) before anything is allocated for the messages.
 */
export function decodeAppendRequest(body: Buffer, checkCount?: (count: number) => void): { topic: string; messages: WireMessage[] } {
  const r = new BodyReader(body);
  const topic = r.str16();
  const count = r.u32();
  checkCount?.(count);
  // Each message takes at least 5 bytes: a count beyond that is a lie, not a reason to allocate.
  if (count * 5 > body.length - r.pos) throw new ProtocolError(`truncated body: ${count} messages cannot fit in ${body.length - r.pos} bytes`);
  const messages: WireMessage[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const flags = r.u8();
    if ((flags & ~KNOWN_FLAGS) !== 0) throw new ProtocolError(`message ${i}: unknown flag bits 0x${flags.toString(16)}`);
    const key = flags & FLAG_KEY ? r.str32() : undefined;
    const idempotencyKey = flags & FLAG_IDEMPOTENCY ? r.str32() : undefined;
    const headers = flags & FLAG_HEADERS ? readHeaders(r) : NO_HEADERS;
    messages[i] = { key, idempotencyKey, headers, value: r.bytes32() };
  }
  r.end();
  return { topic, messages };
}

const OK = 0;
const DUPLICATE = 1;
const FAILED = 2;

/** §5 append_response. */
export function encodeAppendResponse(id: number, results: readonly PublishBatchResult[]): Buffer {
  let size = FRAME_HEADER_BYTES + 4;
  for (const r of results) size += r.ok ? 13 : 1 + 1 + 2 + utf8Length(r.error.code) + 4 + Buffer.byteLength(r.error.message);
  const w = new BodyWriter(Buffer.allocUnsafe(size), FRAME_HEADER_BYTES);
  w.u32(results.length);
  for (const r of results) {
    if (r.ok) {
      w.u8(r.duplicate ? DUPLICATE : OK);
      w.u32(Number(r.position.partition));
      w.u64(Number(r.position.offset));
    } else {
      w.u8(FAILED);
      w.u8(r.error.retriable ? 1 : 0);
      w.str16(r.error.code);
      w.str32(r.error.message);
    }
  }
  return w.finish(FrameType.APPEND | RESPONSE_BIT, id);
}

/** Partition numbers as strings, cached: every result of a batch names one. */
const partitionNames: string[] = [];
function partitionName(p: number): string {
  if (p < 1024) return (partitionNames[p] ??= String(p));
  return String(p);
}

/** §5 append_response. */
export function decodeAppendResponse(body: Buffer): PublishBatchResult[] {
  const r = new BodyReader(body);
  const count = r.u32();
  if (count * 8 > body.length) throw new ProtocolError(`truncated body: ${count} results cannot fit in ${body.length} bytes`);
  const results: PublishBatchResult[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const status = r.u8();
    if (status === OK || status === DUPLICATE) {
      const partition = partitionName(r.u32());
      const offset = r.u64();
      results[i] = { ok: true, position: { partition, offset: String(offset) }, duplicate: status === DUPLICATE };
    } else if (status === FAILED) {
      const retriable = r.u8() === 1;
      const code = toCode(r.str16());
      const message = r.str32();
      results[i] = { ok: false, error: new BrookError(code, message, { retriable }) };
    } else {
      throw new ProtocolError(`result ${i}: unknown status ${status}`);
    }
  }
  r.end();
  return results;
}

// ---- FETCH (§6) ----

export interface FetchRequest {
  topic: string;
  partition: number;
  offset: number;
  maxRecords: number;
  waitMs: number;
}

export function encodeFetchRequest(req: FetchRequest): Buffer {
  const w = new BodyWriter(Buffer.allocUnsafe(FRAME_HEADER_BYTES + 2 + utf8Length(req.topic) + 20), FRAME_HEADER_BYTES);
  w.str16(req.topic);
  w.u32(req.partition);
  w.u64(req.offset);
  w.u32(req.maxRecords);
  w.u32(Math.min(Math.max(0, Math.floor(req.waitMs)), 0xffffffff));
  return w.finish(FrameType.FETCH, 0);
}

export function decodeFetchRequest(body: Buffer): FetchRequest {
  const r = new BodyReader(body);
  const req = { topic: r.str16(), partition: r.u32(), offset: r.u64(), maxRecords: r.u32(), waitMs: r.u32() };
  r.end();
  return req;
}

function recordSize(rec: StoredRecord): number {
  let size = 8 + 8 + 1 + 4 + rec.value.byteLength;
  if (rec.key !== undefined) size += 4 + rec.key.byteLength;
  if (rec.idempotencyKey !== undefined) size += 4 + utf8Length(rec.idempotencyKey);
  return size + headersSize(rec.headers);
}

/**
 * §6 fetch_response. Sends the longest prefix of `records` that fits in `maxFrameBytes`
 * (at least one record, which always fits: maxFrameBytes is above twice the message limit).
 */
export function encodeFetchResponse(id: number, endOffset: number, records: readonly StoredRecord[], maxFrameBytes: number): Buffer {
  let size = FRAME_HEADER_BYTES + 12;
  let count = 0;
  for (; count < records.length; count++) {
    const next = recordSize(records[count]!);
    if (count > 0 && size + next > maxFrameBytes) break;
    size += next;
  }
  const w = new BodyWriter(Buffer.allocUnsafe(size), FRAME_HEADER_BYTES);
  w.u64(endOffset);
  w.u32(count);
  for (let i = 0; i < count; i++) {
    const rec = records[i]!;
    const withHeaders = hasHeaders(rec.headers);
    w.u64(rec.offset);
    w.u64(rec.timestamp);
    w.u8((rec.key !== undefined ? FLAG_KEY : 0) | (rec.idempotencyKey !== undefined ? FLAG_IDEMPOTENCY : 0) | (withHeaders ? FLAG_HEADERS : 0));
    if (rec.key !== undefined) w.bytes32(rec.key);
    if (rec.idempotencyKey !== undefined) w.str32(rec.idempotencyKey);
    if (withHeaders) writeHeaders(w, rec.headers);
    w.bytes32(rec.value);
  }
  return w.finish(FrameType.FETCH | RESPONSE_BIT, id);
}

export function decodeFetchResponse(body: Buffer): { records: StoredRecord[]; endOffset: number } {
  const r = new BodyReader(body);
  const endOffset = r.u64();
  const count = r.u32();
  if (count * 21 > body.length) throw new ProtocolError(`truncated body: ${count} records cannot fit in ${body.length} bytes`);
  const records: StoredRecord[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const offset = r.u64();
    const timestamp = r.u64();
    const flags = r.u8();
    if ((flags & ~KNOWN_FLAGS) !== 0) throw new ProtocolError(`record ${i}: unknown flag bits 0x${flags.toString(16)}`);
    const key = flags & FLAG_KEY ? r.bytes32() : undefined;
    const idempotencyKey = flags & FLAG_IDEMPOTENCY ? r.str32() : undefined;
    const headers = flags & FLAG_HEADERS ? readHeaders(r) : NO_HEADERS;
    records[i] = { offset, timestamp, key, idempotencyKey, headers, value: r.bytes32() };
  }
  r.end();
  return { records, endOffset };
}
