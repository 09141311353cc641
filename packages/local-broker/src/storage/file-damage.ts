/**
 * Torn tail or damage (FORMAT.md §7, "Active segment"): what an interrupted write can leave at
 * the end of the active segment is cut; anything else is damage and is never cut.
 */
import { crc32c } from "../crc32c.js";
import { BATCH_HEADER_BYTES, BATCH_MAGIC, checkBatch, readInt64 } from "./file-format.js";

const BLOCK = 512;

/** The verdict on the bytes from the first bad batch (`tail`, at file position `pos`) to EOF. */
export interface TailVerdict {
  torn: boolean;
  /** why, in words for the log and the error message */
  why: string;
}

/**
 * `tail` holds every byte from the first batch that failed its checks to the end of the file;
 * `expected` is the offset that batch should start with.
 */
export function classifyTail(tail: Buffer, pos: number, expected: number): TailVerdict {
  if (isZero(tail, 0, tail.length)) return { torn: true, why: "only zeros from here to the end of the file (the file grew before its data reached the disk)" };
  // A valid batch after the bad one means the bad one is not the last thing written.
  for (let p = 1; p + BATCH_HEADER_BYTES <= tail.length; p++) {
    const len = tail.readUInt32BE(p);
    if (len < BATCH_HEADER_BYTES || len > tail.length - p || tail[p + 8] !== BATCH_MAGIC) continue;
    const base = readInt64(tail, p + 14);
    if (base > expected && checkBatch(tail, p, tail.length - p, base) === undefined) {
      return { torn: false, why: `a valid batch (offset ${base}) follows at byte ${pos + p}` };
    }
  }
  // A power cut can leave a whole block of zeros where data should be.
  for (let q = Math.ceil(pos / BLOCK) * BLOCK; q + BLOCK <= pos + tail.length; q += BLOCK) {
    if (isZero(tail, q - pos, q - pos + BLOCK)) return { torn: true, why: `an all-zero 512-byte block at byte ${q} (a write that never reached the disk)` };
  }
  const left = tail.length;
  const headerProblem = partialHeaderProblem(tail, expected);
  if (headerProblem !== undefined) return { torn: false, why: headerProblem };
  if (left < BATCH_HEADER_BYTES) return { torn: true, why: `the file ends ${left} bytes into a batch header` };
  const len = tail.readUInt32BE(0);
  if (len <= left) return { torn: false, why: "a complete batch fails its checks" };
  if (tail.readUInt32BE(4) === crc32c(tail.subarray(8))) {
    return { torn: false, why: `its records form a whole batch with a matching checksum of ${left} bytes, but its length field says ${len}` };
  }
  return { torn: true, why: `the batch of ${len} bytes is cut short after ${left} bytes (an interrupted write)` };
}

/** The header fields present in `tail` that differ from what this position expects. */
function partialHeaderProblem(tail: Buffer, expected: number): string | undefined {
  const n = tail.length;
  if (n >= 4 && tail.readUInt32BE(0) < BATCH_HEADER_BYTES) return `batch length ${tail.readUInt32BE(0)} is below the header size`;
  if (n >= 9 && tail[8] !== BATCH_MAGIC) return `unknown batch magic ${String(tail[8])}`;
  if (n >= 10 && tail[9] !== 0) return `unknown batch attributes ${String(tail[9])}`;
  if (n >= 14 && tail.readUInt32BE(10) === 0) return "batch holds no records";
  if (n >= 22 && readInt64(tail, 14) !== expected) return `batch base offset ${readInt64(tail, 14)} where ${expected} was expected`;
  return undefined;
}

function isZero(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}
