/**
 * The KPL aggregation format, the one the Java KCL, AWS Lambda and aws-kinesis-agg de-aggregate:
 *
 *   record        = magic aggregated md5
 *   magic         = F3 89 9A C2
 *   aggregated    = protobuf AggregatedRecord (proto2)
 *   md5           = MD5(aggregated), 16 bytes
 *
 *   message AggregatedRecord {
 *     repeated string partition_key_table     = 1;
 *     repeated string explicit_hash_key_table = 2;
 *     repeated Record records                 = 3;
 *   }
 *   message Record {
 *     required uint64 partition_key_index     = 1;
 *     optional uint64 explicit_hash_key_index = 2;
 *     required bytes  data                    = 3;
 *     repeated Tag    tags                    = 4;
 *   }
 *   message Tag { required string key = 1; optional string value = 2; }
 *
 * Protobuf wire form used here: a field is a varint key (field number << 3 | wire type), then
 * a varint (type 0) or a varint length and that many bytes (type 2: strings, bytes, messages).
 * Unknown fields (types 0, 1, 2, 5) are skipped when decoding. A record that starts with the
 * magic but whose MD5 does not match is not an aggregate (the KCL reads it as a plain record).
 */
import { createHash } from "node:crypto";

export const KPL_MAGIC = Buffer.from([0xf3, 0x89, 0x9a, 0xc2]);
const MD5_BYTES = 16;
/** magic + MD5 */
export const KPL_FRAME_BYTES = KPL_MAGIC.length + MD5_BYTES;

/** One user record inside an aggregate. */
export interface KplSubRecord {
  partitionKey: string;
  explicitHashKey?: string | undefined;
  data: Uint8Array;
  /** tag key → value, in order */
  tags: Array<[string, string]>;
}

const utf8 = new TextEncoder();

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size += 1;
  }
  return size;
}

/** Size of a length-delimited field with a one-byte key. */
function fieldSize(payload: number): number {
  return 1 + varintSize(payload) + payload;
}

/** Size of a Tag message whose key and value take `key` and `value` bytes. */
function tagSize(key: number, value: number): number {
  return fieldSize(key) + fieldSize(value);
}

class Writer {
  readonly buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  varint(n: number): void {
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }
  bytes(field: number, value: Uint8Array): void {
    this.buf[this.pos++] = (field << 3) | 2;
    this.varint(value.length);
    this.buf.set(value, this.pos);
    this.pos += value.length;
  }
  number(field: number, value: number): void {
    this.buf[this.pos++] = field << 3;
    this.varint(value);
  }
}

interface PreparedRecord {
  keyIndex: number;
  hashIndex: number | undefined;
  data: Uint8Array;
  tags: Array<[Uint8Array, Uint8Array]>;
  size: number;
}

/**
 * Incrementally builds one aggregated record, so a packer can ask what a sub-record would cost
 * before adding it. Partition keys and explicit hash keys are stored once each, in tables.
 */
export class KplAggregateBuilder {
  private readonly keys: Uint8Array[] = [];
  private readonly keyIndex = new Map<string, number>();
  private readonly hashes: Uint8Array[] = [];
  private readonly hashIndex = new Map<string, number>();
  private readonly records: PreparedRecord[] = [];
  private bodyBytes = 0;

  get count(): number {
    return this.records.length;
  }

  /** The encoded size (magic, protobuf, MD5) of the aggregate. */
  get size(): number {
    return KPL_FRAME_BYTES + this.bodyBytes;
  }

  /** What the encoded size would be with `record` added. */
  sizeWith(record: KplSubRecord): number {
    return this.size + this.cost(record);
  }

  add(record: KplSubRecord): void {
    const cost = this.cost(record);
    let keyIndex = this.keyIndex.get(record.partitionKey);
    if (keyIndex === undefined) {
      keyIndex = this.keys.length;
      this.keys.push(utf8.encode(record.partitionKey));
      this.keyIndex.set(record.partitionKey, keyIndex);
    }
    let hashIndex: number | undefined;
    if (record.explicitHashKey !== undefined) {
      hashIndex = this.hashIndex.get(record.explicitHashKey);
      if (hashIndex === undefined) {
        hashIndex = this.hashes.length;
        this.hashes.push(utf8.encode(record.explicitHashKey));
        this.hashIndex.set(record.explicitHashKey, hashIndex);
      }
    }
    const tags = record.tags.map(([k, v]) => [utf8.encode(k), utf8.encode(v)] as [Uint8Array, Uint8Array]);
    const inner = this.innerSize(keyIndex, hashIndex, record.data, tags);
    this.records.push({ keyIndex, hashIndex, data: record.data, tags, size: inner });
    this.bodyBytes += cost;
  }

  /** The aggregate's bytes: magic, protobuf AggregatedRecord, MD5 of the protobuf. */
  encode(): Buffer {
    const out = new Writer(this.size);
    out.buf.set(KPL_MAGIC, 0);
    out.pos = KPL_MAGIC.length;
    const bodyStart = out.pos;
    for (const key of this.keys) out.bytes(1, key);
    for (const hash of this.hashes) out.bytes(2, hash);
    for (const r of this.records) {
      out.buf[out.pos++] = (3 << 3) | 2;
      out.varint(r.size);
      out.number(1, r.keyIndex);
      if (r.hashIndex !== undefined) out.number(2, r.hashIndex);
      out.bytes(3, r.data);
      for (const [k, v] of r.tags) {
        out.buf[out.pos++] = (4 << 3) | 2;
        out.varint(tagSize(k.length, v.length));
        out.bytes(1, k);
        out.bytes(2, v);
      }
    }
    const md5 = createHash("md5").update(out.buf.subarray(bodyStart, out.pos)).digest();
    out.buf.set(md5, out.pos);
    out.pos += MD5_BYTES;
    if (out.pos !== out.buf.length) throw new Error(`KPL encoder: wrote ${out.pos} bytes, sized ${out.buf.length}`);
    return out.buf;
  }

  /** Bytes `record` adds to the protobuf body: its table entries (when new) and its Record field. */
  private cost(record: KplSubRecord): number {
    let cost = 0;
    let keyIndex = this.keyIndex.get(record.partitionKey);
    if (keyIndex === undefined) {
      keyIndex = this.keys.length;
      cost += fieldSize(Buffer.byteLength(record.partitionKey));
    }
    let hashIndex: number | undefined;
    if (record.explicitHashKey !== undefined) {
      hashIndex = this.hashIndex.get(record.explicitHashKey);
      if (hashIndex === undefined) {
        hashIndex = this.hashes.length;
        cost += fieldSize(Buffer.byteLength(record.explicitHashKey));
      }
    }
    let inner = 1 + varintSize(keyIndex) + fieldSize(record.data.length);
    if (hashIndex !== undefined) inner += 1 + varintSize(hashIndex);
    for (const [k, v] of record.tags) inner += fieldSize(tagSize(Buffer.byteLength(k), Buffer.byteLength(v)));
    return cost + fieldSize(inner);
  }

  private innerSize(keyIndex: number, hashIndex: number | undefined, data: Uint8Array, tags: Array<[Uint8Array, Uint8Array]>): number {
    let inner = 1 + varintSize(keyIndex) + fieldSize(data.length);
    if (hashIndex !== undefined) inner += 1 + varintSize(hashIndex);
    for (const [k, v] of tags) inner += fieldSize(tagSize(k.length, v.length));
    return inner;
  }
}

/** Encodes sub-records as one aggregated record. */
export function encodeAggregate(records: KplSubRecord[]): Buffer {
  const builder = new KplAggregateBuilder();
  for (const r of records) builder.add(r);
  return builder.encode();
}

class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error("truncated varint");
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (!Number.isSafeInteger(result)) throw new Error("varint too large");
        return result;
      }
      scale *= 128;
    }
    throw new Error("varint too long");
  }
  slice(): Uint8Array {
    const length = this.varint();
    if (this.pos + length > this.end) throw new Error("field runs past its message");
    const out = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }
  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === 2) this.slice();
    else if (wireType === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wireType}`);
    if (this.pos > this.end) throw new Error("field runs past its message");
  }
}

const utf8Decoder = new TextDecoder("utf-8");

/** Whether `data` is a KPL aggregate: magic, at least a digest, and the digest matches. */
export function isAggregate(data: Uint8Array): boolean {
  if (data.length < KPL_FRAME_BYTES) return false;
  for (let i = 0; i < KPL_MAGIC.length; i++) if (data[i] !== KPL_MAGIC[i]) return false;
  const body = data.subarray(KPL_MAGIC.length, data.length - MD5_BYTES);
  const digest = createHash("md5").update(body).digest();
  return Buffer.compare(digest, data.subarray(data.length - MD5_BYTES)) === 0;
}

/**
 * The sub-records of an aggregate, or undefined when `data` is not one (no magic, bad digest,
 * or a body that does not parse as an AggregatedRecord): then it is a plain record.
 */
export function decodeAggregate(data: Uint8Array): KplSubRecord[] | undefined {
  if (!isAggregate(data)) return undefined;
  try {
    return parseAggregate(data, KPL_MAGIC.length, data.length - MD5_BYTES);
  } catch {
    return undefined;
  }
}

function parseAggregate(buf: Uint8Array, start: number, end: number): KplSubRecord[] {
  const r = new Reader(buf, start, end);
  const keys: string[] = [];
  const hashes: string[] = [];
  const raw: Array<{ keyIndex: number; hashIndex: number | undefined; data: Uint8Array; tags: Array<[string, string]> }> = [];
  while (r.pos < end) {
    const key = r.varint();
    const field = Math.floor(key / 8);
    const wireType = key & 7;
    if (field === 1 && wireType === 2) keys.push(utf8Decoder.decode(r.slice()));
    else if (field === 2 && wireType === 2) hashes.push(utf8Decoder.decode(r.slice()));
    else if (field === 3 && wireType === 2) {
      const body = r.slice();
      raw.push(parseRecord(body));
    } else r.skip(wireType);
  }
  return raw.map((x) => {
    const partitionKey = keys[x.keyIndex];
    if (partitionKey === undefined) throw new Error(`partition_key_index ${x.keyIndex} outside the table`);
    const explicitHashKey = x.hashIndex === undefined ? undefined : hashes[x.hashIndex];
    if (x.hashIndex !== undefined && explicitHashKey === undefined) throw new Error(`explicit_hash_key_index ${x.hashIndex} outside the table`);
    return { partitionKey, explicitHashKey, data: x.data, tags: x.tags };
  });
}

function parseRecord(buf: Uint8Array): { keyIndex: number; hashIndex: number | undefined; data: Uint8Array; tags: Array<[string, string]> } {
  const r = new Reader(buf, 0, buf.length);
  let keyIndex: number | undefined;
  let hashIndex: number | undefined;
  let data: Uint8Array | undefined;
  const tags: Array<[string, string]> = [];
  while (r.pos < buf.length) {
    const key = r.varint();
    const field = Math.floor(key / 8);
    const wireType = key & 7;
    if (field === 1 && wireType === 0) keyIndex = r.varint();
    else if (field === 2 && wireType === 0) hashIndex = r.varint();
    else if (field === 3 && wireType === 2) data = r.slice();
    else if (field === 4 && wireType === 2) tags.push(parseTag(r.slice()));
    else r.skip(wireType);
  }
  if (keyIndex === undefined || data === undefined) throw new Error("Record without partition_key_index or data");
  return { keyIndex, hashIndex, data, tags };
}

function parseTag(buf: Uint8Array): [string, string] {
  const r = new Reader(buf, 0, buf.length);
  let key: string | undefined;
  let value = "";
  while (r.pos < buf.length) {
    const k = r.varint();
    const field = Math.floor(k / 8);
    const wireType = k & 7;
    if (field === 1 && wireType === 2) key = utf8Decoder.decode(r.slice());
    else if (field === 2 && wireType === 2) value = utf8Decoder.decode(r.slice());
    else r.skip(wireType);
  }
  if (key === undefined) throw new Error("Tag without key");
  return [key, value];
}
