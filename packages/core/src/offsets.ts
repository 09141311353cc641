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
