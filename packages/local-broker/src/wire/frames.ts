/**
 * Frames of the brook:// wire protocol (../../PROTOCOL.md §2, §4), shared by the client and the
 * server: frame types, the frame reader that cuts a byte stream into frames, and the builders of
 * whole frames. A frame that breaks the grammar raises `ProtocolError` (§2.1); the receiver then
 * sends a connection-level ERROR and closes the connection.
 */

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
  DELETE_GROUP: 0x1c,
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
  FrameType.DELETE_GROUP,
]);

/** length u32 + type u8 + id u32 (§2) */
export const FRAME_HEADER_BYTES = 9;
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;
/**
 * §2.1: the largest frame a server accepts before it has answered HELLO_OK, so a connection
 * that has not authenticated holds at most this much (HELLO with a token is far smaller).
 */
export const MAX_HANDSHAKE_FRAME_BYTES = 4096;
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

  /**
   * frames above maxFrameBytes are refused; the client raises it to the server's HELLO_OK value,
   * the server from the handshake limit to its frame limit after HELLO. `limitNote` says which
   * limit applies in the refusal (e.g. " before HELLO").
   */
  constructor(
    public maxFrameBytes: number,
    public limitNote = "",
  ) {}

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
      if (length > this.maxFrameBytes) throw new ProtocolError(`bad frame length ${length}: the limit is ${this.maxFrameBytes} bytes${this.limitNote}`);
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
