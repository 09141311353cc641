/**
 * Kafka's primitive types (https://kafka.apache.org/protocol#protocol_types), big-endian:
 *   int8 int16 int32 int64        fixed width, signed
 *   varint varlong                zig-zag LEB128 (record batches only)
 *   string                        int16 length + UTF-8; nullable string: length -1 = null
 *   bytes                         int32 length + bytes; nullable bytes: length -1 = null
 *   array                         int32 count + items; nullable array: count -1 = null
 * Only non-flexible request versions are implemented (no compact types, no tagged fields),
 * except that an ApiVersions request of any version is read far enough to answer it.
 */

/** A request that does not parse: the connection that sent it is closed with this reason. */
export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
}

export class Reader {
  offset = 0;
  constructor(readonly buf: Buffer) {}

  private need(n: number, what: string): void {
    if (this.offset + n > this.buf.length) {
      throw new ProtocolError(`truncated ${what} at byte ${this.offset}: need ${n}, have ${this.buf.length - this.offset}`);
    }
  }
  remaining(): number {
    return this.buf.length - this.offset;
  }
  int8(): number {
    this.need(1, "int8");
    return this.buf.readInt8(this.offset++);
  }
  bool(): boolean {
    return this.int8() !== 0;
  }
  int16(): number {
    this.need(2, "int16");
    const v = this.buf.readInt16BE(this.offset);
    this.offset += 2;
    return v;
  }
  int32(): number {
    this.need(4, "int32");
    const v = this.buf.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }
  uint32(): number {
    this.need(4, "uint32");
    const v = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }
  /** int64 as a number; offsets and timestamps stay far below 2^53 */
  int64(): number {
    this.need(8, "int64");
    const v = this.buf.readBigInt64BE(this.offset);
    this.offset += 8;
    return Number(v);
  }
  varint(): number {
    let shift = 0;
    let result = 0;
    for (;;) {
      this.need(1, "varint");
      const b = this.buf[this.offset++]!;
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
      if (shift > 63) throw new ProtocolError(`varint longer than 10 bytes at byte ${this.offset}`);
    }
    // zig-zag decode without 32-bit overflow
    return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
  }
  /** unsigned LEB128 (compact lengths of flexible versions) */
  uvarint(): number {
    let shift = 0;
    let result = 0;
    for (;;) {
      this.need(1, "uvarint");
      const b = this.buf[this.offset++]!;
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 35) throw new ProtocolError(`uvarint longer than 5 bytes at byte ${this.offset}`);
    }
  }
  raw(n: number, what = "bytes"): Buffer {
    if (n < 0) throw new ProtocolError(`negative length ${n} for ${what} at byte ${this.offset}`);
    this.need(n, what);
    const v = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }
  string(): string {
    const s = this.nullableString();
    if (s === null) throw new ProtocolError(`null where a string is required at byte ${this.offset}`);
    return s;
  }
  nullableString(): string | null {
    const n = this.int16();
    if (n === -1) return null;
    return this.raw(n, "string").toString("utf8");
  }
  bytes(): Buffer {
    const b = this.nullableBytes();
    if (b === null) throw new ProtocolError(`null where bytes are required at byte ${this.offset}`);
    return b;
  }
  nullableBytes(): Buffer | null {
    const n = this.int32();
    if (n === -1) return null;
    return this.raw(n, "bytes");
  }
  array<T>(item: (r: Reader) => T): T[] {
    const a = this.nullableArray(item);
    if (a === null) throw new ProtocolError(`null where an array is required at byte ${this.offset}`);
    return a;
  }
  nullableArray<T>(item: (r: Reader) => T): T[] | null {
    const n = this.int32();
    if (n === -1) return null;
    if (n < 0) throw new ProtocolError(`negative array count ${n} at byte ${this.offset}`);
    // every item takes at least one byte: a huge count in a short frame is a bad frame
    if (n > this.remaining()) throw new ProtocolError(`array count ${n} exceeds the ${this.remaining()} bytes left at byte ${this.offset}`);
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(item(this));
    return out;
  }
  /** the request is fully read: trailing bytes mean it was not what its header said */
  end(what: string): void {
    if (this.remaining() !== 0) throw new ProtocolError(`${this.remaining()} unexpected bytes after ${what}`);
  }
}

/** Writer.raw keeps a buffer at least this large by reference instead of copying it. */
const RAW_BY_REFERENCE_BYTES = 4096;

export class Writer {
  private chunks: Buffer[] = [];
  private cur = Buffer.allocUnsafe(256);
  private pos = 0;
  length = 0;

  private room(n: number): void {
    if (this.pos + n <= this.cur.length) return;
    this.chunks.push(this.cur.subarray(0, this.pos));
    this.cur = Buffer.allocUnsafe(Math.max(256, n));
    this.pos = 0;
  }
  int8(v: number): this {
    this.room(1);
    this.cur.writeInt8(v, this.pos);
    this.pos += 1;
    this.length += 1;
    return this;
  }
  bool(v: boolean): this {
    return this.int8(v ? 1 : 0);
  }
  int16(v: number): this {
    this.room(2);
    this.cur.writeInt16BE(v, this.pos);
    this.pos += 2;
    this.length += 2;
    return this;
  }
  int32(v: number): this {
    this.room(4);
    this.cur.writeInt32BE(v, this.pos);
    this.pos += 4;
    this.length += 4;
    return this;
  }
  uint32(v: number): this {
    this.room(4);
    this.cur.writeUInt32BE(v, this.pos);
    this.pos += 4;
    this.length += 4;
    return this;
  }
  int64(v: number): this {
    this.room(8);
    this.cur.writeBigInt64BE(BigInt(v), this.pos);
    this.pos += 8;
    this.length += 8;
    return this;
  }
  varint(v: number): this {
    let z = v >= 0 ? v * 2 : -v * 2 - 1;
    do {
      let b = z % 128;
      z = Math.floor(z / 128);
      if (z > 0) b |= 0x80;
      this.int8(b > 127 ? b - 256 : b);
    } while (z > 0);
    return this;
  }
  raw(b: Buffer): this {
    if (b.length >= RAW_BY_REFERENCE_BYTES) {
      // large (record batches): kept by reference, not copied; the caller never changes it
      if (this.pos > 0) this.chunks.push(this.cur.subarray(0, this.pos));
      this.chunks.push(b);
      this.cur = this.cur.subarray(this.pos);
      this.pos = 0;
      this.length += b.length;
      return this;
    }
    this.room(b.length);
    b.copy(this.cur, this.pos);
    this.pos += b.length;
    this.length += b.length;
    return this;
  }
  string(s: string): this {
    const b = Buffer.from(s, "utf8");
    return this.int16(b.length).raw(b);
  }
  nullableString(s: string | null | undefined): this {
    return s === null || s === undefined ? this.int16(-1) : this.string(s);
  }
  bytes(b: Buffer): this {
    return this.int32(b.length).raw(b);
  }
  nullableBytes(b: Buffer | null | undefined): this {
    return b === null || b === undefined ? this.int32(-1) : this.bytes(b);
  }
  array<T>(items: readonly T[], item: (w: Writer, v: T) => void): this {
    this.int32(items.length);
    for (const v of items) item(this, v);
    return this;
  }
  /** The bytes written, as the pieces they are in (for a gathered socket write: no copy). */
  toChunks(): Buffer[] {
    return this.pos > 0 ? [...this.chunks, this.cur.subarray(0, this.pos)] : [...this.chunks];
  }
  toBuffer(): Buffer {
    return Buffer.concat([...this.chunks, this.cur.subarray(0, this.pos)], this.length);
  }
}
