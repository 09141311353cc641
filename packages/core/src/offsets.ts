import { BrookError } from "./errors.js";
import type { PartitionAssignment } from "./spi.js";

/** For logs whose native commit position is "next to read": the offset after `last`. */
export function nextAfter(last: string): string {
  return (BigInt(last) + 1n).toString();
}

/** The assignment of a partition whose next offset to read is `next` (a "next to read" log). */
export function assignmentAt(partition: string, next: string | number | bigint): PartitionAssignment {
  const n = BigInt(next);
  return { partition, lastCommitted: n > 0n ? (n - 1n).toString() : undefined, startOffset: n.toString() };
}

/** Where a partition resumes when its committed position is outside the log, and what to say. */
export interface OutOfRangePlacement {
  /** the offset to read next; undefined: leave the partition unread (policy "error") */
  next: bigint | undefined;
  /** the OUT_OF_RANGE error to emit, naming the skipped offsets; undefined when in range */
  error: BrookError | undefined;
}

/**
 * Places a group's position `wanted` ("next to read") in a log holding [low, high): in range it
 * stays; before the start (retention removed what the group never read) or past the end (the
 * log was recreated or truncated) it moves by `policy`, with an error that names the range.
 */
export function placeInLog(
  where: string,
  wanted: bigint,
  low: bigint,
  high: bigint,
  policy: "earliest" | "latest" | "error",
): OutOfRangePlacement {
  if (wanted >= low && wanted <= high) return { next: wanted, error: undefined };
  const next = policy === "earliest" ? low : policy === "latest" ? high : undefined;
  let what: string;
  if (wanted < low) {
    what = `offsets ${wanted}–${low - 1n} were removed by retention before the group read them`;
    if (next !== undefined && next > low) what += `; ${low}–${next - 1n} are skipped too`;
  } else {
    what = `the committed position ${wanted} is past the log's end ${high} (was the topic recreated or truncated?)`;
  }
  const resume = next === undefined ? 'the partition is left unread (onOutOfRange: "error")' : `resuming at ${next} (onOutOfRange: "${policy}")`;
  return { next, error: new BrookError("OUT_OF_RANGE", `${where}: ${what}; ${resume}`) };
}
