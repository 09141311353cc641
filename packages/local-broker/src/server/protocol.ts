/**
 * The brook:// wire protocol (../../PROTOCOL.md), shared by the server and the client: frame
 * types, the frame reader, and the encoders/decoders of every body. Section numbers (§) refer
 * to PROTOCOL.md. Decoders throw `ProtocolError` for a bad frame (§2.1); the receiver then sends
 * a connection-level ERROR and closes the connection.
 */
import { BrookError, type BrookErrorCode, type PublishBatchResult } from "@brook/core";
import { type WireMessage } from "@brook/core/spi";
import type { StoredRecord } from "../storage/types.js";

export const PROTOCOL_VERSION = 1;

/** §4 */
export const FrameType = {
  HELLO: 0x01,
  HEARTBEAT: 0x02,
  CANCEL: 0x03,
  CREATE_TOPIC: 0x10,
  DELETE_TOPIC: 0x11,
  LIST_TOPICS: 0x12,
  DESCRIBE_TOPIC: 0x13,
  APPEND: 0x14,
  FETCH: 0x15,
  OFFSET_FOR_TIME: 0x16,
  COMMITTED: 0x17,
  COMMIT: 0x18,
  JOIN: 0x19,
  LEAVE: 0x1a,
  DESCRIBE_GROUPS: 0x1b,
  ASSIGN: 0x40,
  REVOKE: 0x41,
  ERROR: 0xff,
} as const;

/** §2: a response (or push reply) has its request's type with the high bit set. */
export const RESPONSE_BIT = 0x80;

/** Request types a client may send (§4), besides HELLO, HEARTBEAT, CANCEL and push replies. */
export const REQUEST_TYPES: ReadonlySet<number> = new Set([
  FrameType.CREATE_TOPIC,
  FrameType.DELETE_TOPIC,
  FrameType.LIST_TOPICS,
  FrameType.DESCRIBE_TOPIC,
  FrameType.APPEND,
  FrameType.FETCH,
  FrameType.OFFSET_FOR_TIME,
  FrameType.COMMITTED,
  FrameType.COMMIT,
  FrameType.JOIN,
  FrameType.LEAVE,
  FrameType.DESCRIBE_GROUPS,
]);

/** length u32 + type u8 + id u32 (§2) */
export const FRAME_HEADER_BYTES = 9;
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;
/** §6: the longest a FETCH may wait on the server */
export const MAX_FETCH_WAIT_MS = 30_000;

/** A frame that breaks the grammar (§2.1): the connection that sent it is closed. */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

export interface Frame {
  type: number;
  id: number;
  body: Buffer;
}

/** §2.1: the largest frame a receiver accepts, given the broker's message size limit. */
export function maxFrameBytesFor(maxMessageBytes: number): number {
  return Math.max(DEFAULT_MAX_FRAME_BYTES, 2 * maxMessageBytes + 1024 * 1024);
}

/**
 * Cuts a byte stream into frames (§2). Small frames are views into the socket's chunk (no
 * copy); a frame spanning chunks is copied once when complete. The length is checked as soon
 * as its 4 bytes arrive, so an oversize frame is refused before its body is buffered.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  /** read position in chunks[0] */
  private offset = 0;
  private buffered = 0;
  /** total bytes (length field included) of the frame being assembled, once known */
  private need = 0;

  /** frames above this are refused; the client raises it to the server's HELLO_OK value */
  constructor(public maxFrameBytes: number) {}

  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next complete frame, or undefined until more bytes arrive. Throws ProtocolError. */
  next(): Frame | undefined {
    if (this.need === 0) {
      if (this.buffered < 4) return undefined;
      const length = this.peekLength();
      if (length < 5) throw new ProtocolError(`bad frame length ${length}: a frame has at least 5 bytes (type and id)`);
      if (length > this.maxFrameBytes) throw new ProtocolError(`bad frame length ${length}: the limit is ${this.maxFrameBytes} bytes`);
      this.need = 4 + length;
    }
    if (this.buffered < this.need) return undefined;
    const bytes = this.take(this.need);
    this.need = 0;
    return { type: bytes[4]!, id: bytes.readUInt32BE(5), body: bytes.subarray(FRAME_HEADER_BYTES) };
  }

  private peekLength(): number {
    const first = this.chunks[0]!;
    if (first.length - this.offset >= 4) return first.readUInt32BE(this.offset);
    const head = Buffer.alloc(4);
    let got = 0;
    for (let i = 0; got < 4; i++) {
      const c = this.chunks[i]!;
      const from = i === 0 ? this.offset : 0;
      got += c.copy(head, got, from, Math.min(c.length, from + 4 - got));
    }
    return head.readUInt32BE(0);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    this.buffered -= n;
    if (first.length - this.offset >= n) {
      const out = first.subarray(this.offset, this.offset + n);
      this.offset += n;
      if (this.offset === first.length) {
        this.chunks.shift();
        this.offset = 0;
      }
      return out;
    }
    // Spans chunks: copy once, then drop the used chunks in one splice (not one shift each).
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    let i = 0;
    while (got < n) {
      const c = this.chunks[i]!;
      const copied = c.copy(out, got, this.offset, Math.min(c.length, this.offset + n - got));
      got += copied;
      this.offset += copied;
      if (this.offset === c.length) {
        i += 1;
        this.offset = 0;
      }
    }
    this.chunks.splice(0, i);
    return out;
  }
}

// ---- building frames (§2) ----

const EMPTY = Buffer.alloc(0);

/** A frame with a ready body. */
export function frame(type: number, id: number, body: Buffer = EMPTY): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  out.writeUInt32BE(5 + body.length, 0);
  out[4] = type;
  out.writeUInt32BE(id, 5);
  body.copy(out, FRAME_HEADER_BYTES);
  return out;
}

/** A frame with a json body (§3). */
export function jsonFrame(type: number, id: number, value: unknown): Buffer {
  const text = JSON.stringify(value);
  const size = Buffer.byteLength(text);
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + size);
  out.writeUInt32BE(5 + size, 0);
  out[4] = type;
  out.writeUInt32BE(id, 5);
  out.write(text, FRAME_HEADER_BYTES, "utf8");
  return out;
}

/** Sets the id of a frame built before its id was known (queued requests). */
export function setFrameId(bytes: Buffer, id: number): void {
  bytes.writeUInt32BE(id, 5);
}

/** §3: ERROR body. */
export function errorFrame(id: number, error: BrookError): Buffer {
  return jsonFrame(FrameType.ERROR, id, { code: error.code, message: error.message, retriable: error.retriable });
}

const KNOWN_CODES: ReadonlySet<string> = new Set<BrookErrorCode>([
  "INVALID_ARGUMENT",
  "INVALID_URL",
  "TOPIC_NOT_FOUND",
  "MESSAGE_TOO_LARGE",
  "THROTTLED",
  "UNAVAILABLE",
  "UNAUTHENTICATED",
  "PERMISSION_DENIED",
  "TIMEOUT",
  "CLOSED",
  "CORRUPT_DATA",
  "UNSUPPORTED",
  "ALREADY_EXISTS",
  "INTERNAL",
]);

function toCode(code: unknown): BrookErrorCode {
  return typeof code === "string" && KNOWN_CODES.has(code) ? (code as BrookErrorCode) : "INTERNAL";
}

/** §3: reads an ERROR body back into a BrookError (an unknown code becomes INTERNAL). */
export function decodeError(body: Buffer): BrookError {
  const value = decodeJson(body) as { code?: unknown; message?: unknown; retriable?: unknown } | null;
  const code = toCode(value?.code);
  const message = typeof value?.message === "string" ? value.message : "the server reported an error without a message";
  return new BrookError(code, message, typeof value?.retriable === "boolean" ? { retriable: value.retriable } : {});
}

/** §3: a json body; invalid JSON is a bad frame. */
export function decodeJson(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    throw new ProtocolError("body is not valid JSON");
  }
}

/** Field checks for json bodies: a wrong shape is a bad frame (§2.1). */
export const field = {
  object(value: unknown, what: string): Record<string, unknown> {
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ProtocolError(`${what}: expected a JSON object`);
    return value as Record<string, unknown>;
  },
  string(obj: Record<string, unknown>, name: string): string {
    const v = obj[name];
    if (typeof v !== "string") throw new ProtocolError(`field "${name}": expected a string`);
    return v;
  },
  int(obj: Record<string, unknown>, name: string): number {
    const v = obj[name];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw new ProtocolError(`field "${name}": expected a non-negative integer`);
    return v;
  },
  optionalNumber(obj: Record<string, unknown>, name: string): number | undefined {
    const v = obj[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "number" || !Number.isFinite(v)) throw new ProtocolError(`field "${name}": expected a number`);
    return v;
  },
  boolean(obj: Record<string, unknown>, name: string): boolean {
    const v = obj[name];
    if (typeof v !== "boolean") throw new ProtocolError(`field "${name}": expected true or false`);
    return v;
  },
  pairs(obj: Record<string, unknown>, name: string): Array<[number, number]> {
    const v = obj[name];
    if (!Array.isArray(v)) throw new ProtocolError(`field "${name}": expected an array of [partition, offset] pairs`);
    return v.map((pair) => {
      if (!Array.isArray(pair) || pair.length !== 2 || !pair.every((n) => typeof n === "number" && Number.isSafeInteger(n) && n >= 0)) {
        throw new ProtocolError(`field "${name}": expected [partition, offset] pairs of non-negative integers`);
      }
      return [pair[0] as number, pair[1] as number];
    });
  },
  partitions(obj: Record<string, unknown>, name: string): number[] {
    const v = obj[name];
    if (!Array.isArray(v) || !v.every((n) => typeof n === "number" && Number.isSafeInteger(n) && n >= 0)) {
      throw new ProtocolError(`field "${name}": expected an array of partition numbers`);
    }
    return v as number[];
  },
};

// ---- primitives (§3) ----

const TWO_32 = 4294967296;

function writeU64(buf: Buffer, value: number, pos: number): number {
  buf.writeUInt32BE(Math.floor(value / TWO_32), pos);
  buf.writeUInt32BE(value >>> 0, pos + 4);
  return pos + 8;
}

/** Bounds-checked reading of a body; running past the end is a truncated frame (§2.1). */
export class BodyReader {
  pos = 0;

  constructor(readonly buf: Buffer) {}

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new ProtocolError(`truncated body: needed ${n} more bytes at byte ${this.pos} of ${this.buf.length}`);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  u64(): number {
    this.need(8);
    const hi = this.buf.readUInt32BE(this.pos);
    const lo = this.buf.readUInt32BE(this.pos + 4);
    this.pos += 8;
    if (hi >= 0x200000) throw new ProtocolError("u64 value at or above 2^53");
    return hi * TWO_32 + lo;
  }

  str16(): string {
    const n = this.u16();
    this.need(n);
    const s = this.buf.toString("utf8", this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  str32(): string {
    const n = this.u32();
    this.need(n);
    const s = this.buf.toString("utf8", this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  /** A view into the frame, not a copy. */
  bytes32(): Buffer {
    const n = this.u32();
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  end(): void {
    if (this.pos !== this.buf.length) throw new ProtocolError(`${this.buf.length - this.pos} bytes left over after the body`);
  }
}

/** A growable-free writer over a buffer sized in advance. */
class BodyWriter {
  pos: number;

  constructor(
    readonly buf: Buffer,
    start: number,
  ) {
    this.pos = start;
  }

  u8(v: number): void {
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }

  u32(v: number): void {
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }

  u64(v: number): void {
    this.pos = writeU64(this.buf, v, this.pos);
  }

  str16(s: string): void {
    const n = this.buf.write(s, this.pos + 2, "utf8");
    this.buf.writeUInt16BE(n, this.pos);
    this.pos += 2 + n;
  }

  str32(s: string): void {
    const n = s.length === 0 ? 0 : this.buf.write(s, this.pos + 4, "utf8");
    this.buf.writeUInt32BE(n, this.pos);
    this.pos += 4 + n;
  }

  bytes32(b: Uint8Array): void {
    this.buf.writeUInt32BE(b.byteLength, this.pos);
    this.buf.set(b, this.pos + 4);
    this.pos += 4 + b.byteLength;
  }

  /** Writes the frame header (§2) once the body is complete; returns the finished frame. */
  finish(type: number, id: number): Buffer {
    const out = this.pos === this.buf.length ? this.buf : this.buf.subarray(0, this.pos);
    out.writeUInt32BE(this.pos - 4, 0);
    out[4] = type;
    out.writeUInt32BE(id, 5);
    return out;
  }
}

/** UTF-8 byte length with an ASCII fast path (keys and header names are mostly ASCII). */
function utf8Length(s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) > 0x7f) return Buffer.byteLength(s, "utf8");
  return n;
}

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
    headers[name] = r.str32();
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

/** §5 append_request; values are views into the frame. */
export function decodeAppendRequest(body: Buffer): { topic: string; messages: WireMessage[] } {
  const r = new BodyReader(body);
  const topic = r.str16();
  const count = r.u32();
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
