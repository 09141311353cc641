/**
 * Values inside frame bodies (../../PROTOCOL.md §3): the binary primitives (u8 … u64, str16,
 * str32, bytes32), json bodies and their field checks, and the ERROR body. Running past the end
 * of a body, invalid JSON or a field of the wrong shape is a bad frame (`ProtocolError`, §2.1).
 */
import { BrookError, type BrookErrorCode } from "@brook/core/base";
import { isBrookErrorCode } from "@brook/core/base";
import { FrameType, ProtocolError, jsonFrame } from "./frames.js";

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
export class BodyWriter {
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
export function utf8Length(s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) > 0x7f) return Buffer.byteLength(s, "utf8");
  return n;
}

// ---- json bodies (§3) ----

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

// ---- errors (§3) ----

/** §3: ERROR body. */
export function errorFrame(id: number, error: BrookError): Buffer {
  return jsonFrame(FrameType.ERROR, id, { code: error.code, message: error.message, retriable: error.retriable });
}

export function toCode(code: unknown): BrookErrorCode {
  return isBrookErrorCode(code) ? code : "INTERNAL";
}

/** §3: reads an ERROR body back into a BrookError (an unknown code becomes INTERNAL). */
export function decodeError(body: Buffer): BrookError {
  const value = decodeJson(body) as { code?: unknown; message?: unknown; retriable?: unknown } | null;
  const code = toCode(value?.code);
  const message = typeof value?.message === "string" ? value.message : "the server reported an error without a message";
  return new BrookError(code, message, typeof value?.retriable === "boolean" ? { retriable: value.retriable } : {});
}
