/**
 * `translate()`: moves a consumer group from the source to the mirror's copy on the target,
 * at or before its true position, never past it (MirrorMaker 2's rule, across providers).
 *
 * The group's source position (Admin.groupPositions) is compared with the checkpoints of the
 * position map: the latest checkpoint whose every mark is at or below the group's position is
 * one where everything the group has not yet settled was copied after the checkpoint, so
 * starting the group on the target at that checkpoint's target position skips nothing. What
 * lies between the checkpoint's marks and the group's position is what the group may see twice.
 */
import { BrookError, type Broker, type GroupPosition, type Logger, type Position, type StartFrom, type Subscription } from "@brook/core";
import { invalidArgument } from "@brook/core/spi";
import { checkTopic, compareOffsets, offsetsOf, openBroker, parseOffset, requireTopic, type BrokerRef, type Offset } from "./options.js";
import { readPositionMap, type StoredCheckpoint } from "./position-map.js";

export interface TranslateOptions {
  from: BrokerRef;
  to: BrokerRef;
  /** the source topic */
  topic: string;
  /** the mirror's target topic (default: `topic`) */
  toTopic?: string;
  /** the consumer group to move */
  group: string;
  /** work out and return the plan, change nothing */
  dryRun?: boolean;
  logger?: Logger;
}

export interface TranslatedPartition {
  /** source partition */
  partition: string;
  /** the group's position on the source: last settled offset, or settled-before time */
  committed: string | undefined;
  settledBefore: Date | undefined;
  /** the checkpoint's mark for this partition (what was copied before the target start) */
  mark: string | undefined;
  /** messages of this partition the group may see again on the target (log sources) */
  mayRepeat: number | undefined;
  /**
   * Sources without offsets (Pub/Sub acknowledges message by message, so no count is exact):
   * the messages published in this window the group may see again, plus any it acknowledged
   * out of order after the window's end.
   */
  repeatWindow?: { from: Date | undefined; to: Date };
}

export interface TranslateResult {
  topic: string;
  toTopic: string;
  group: string;
  /** where the group starts on the target: offsets per target partition, or a time */
  start: { positions: Position[] } | { time: Date };
  /** the checkpoint used, or undefined when none was early enough (the target's beginning is used) */
  checkpoint: { run: string; seq: number; at: string } | undefined;
  partitions: TranslatedPartition[];
  /**
   * Target messages before the checkpoint's position the group reads again because the target
   * kept an earlier copy (publish dedupe after a mirror restart) of a message it has not settled
   * (undefined: unknown, on a target whose offsets have gaps).
   */
  rewound: number | undefined;
  applied: boolean;
}

const ASSIGN_TIMEOUT_MS = 60_000;

export async function translate(options: TranslateOptions): Promise<TranslateResult> {
  if (typeof options !== "object" || options === null) throw invalidArgument("options", "an object", options);
  const topic = checkTopic(options.topic, "topic");
  const toTopic = options.toTopic === undefined ? topic : checkTopic(options.toTopic, "toTopic");
  if (typeof options.group !== "string" || options.group.length === 0) throw invalidArgument("group", "a non-empty string", options.group);
  const group = options.group;
  const from = await openBroker(options.from, "from", options.logger);
  let to: { broker: Broker; owned: boolean } | undefined;
  try {
    to = await openBroker(options.to, "to", options.logger);
    await requireTopic(from.broker, topic, "from");
    await requireTopic(to.broker, toTopic, "to");
    const positions = await from.broker.admin.groupPositions(topic, group);
    if (positions.length === 0) {
      throw new BrookError("INVALID_ARGUMENT", `group: "${group}" has no position on source topic "${topic}"; nothing to translate (a group that never consumed starts on the target with its own startFrom)`);
    }
    const map = await readPositionMap(to.broker, toTopic, topic);
    const checkpoints = map.checkpoints;
    const logSource = from.broker.capabilities.seek.offset;
    const chosen = latestValid(checkpoints, positions, logSource);
    const logTarget = to.broker.capabilities.seek.offset;
    let start: TranslateResult["start"];
    let rewound: number | undefined = 0;
    if (logTarget) {
      // Offsets with gaps (Kinesis) have no partition ends: the checkpoint's positions, inclusive.
      const offsets = await offsetsOf(to.broker, toTopic);
      // Copies the target kept from before the checkpoint (publish dedupe) of messages the group
      // has not settled, whichever checkpoint they were recorded near (batches run concurrently).
      const earliest = new Map<string, Offset>();
      const committed = new Map(positions.map((p) => [p.partition, p]));
      for (const d of map.duplicates) {
        for (const c of d.copies) {
          const p = committed.get(c.sourcePartition);
          const settled = logSource
            ? p?.committed !== undefined && compareOffsets(parseOffset(c.sourceOffset), parseOffset(p.committed)) <= 0
            : p?.settledBefore !== undefined && new Date(c.sourceTime).getTime() < p.settledBefore.getTime();
          if (settled) continue;
          const at = parseOffset(c.targetOffset);
          const known = earliest.get(c.targetPartition);
          if (known === undefined || compareOffsets(at, known) < 0) earliest.set(c.targetPartition, at);
        }
      }
      if (offsets === undefined) {
        // A partition the checkpoint does not name is read from its beginning (nothing skipped; how much repeats is unknown).
        const ends = chosen?.ends ?? {};
        const listed = Object.keys(ends);
        if (chosen === undefined || listed.length === 0) throw new BrookError("UNSUPPORTED", `translate: no checkpoint of "${topic}" → "${toTopic}" names a position on the target early enough for group "${group}", and "${toTopic}" cannot report where its partitions start; start the group with startFrom "earliest" instead`);
        // A partition left out would start at the latest (Kinesis positions name every shard or skip).
        const { partitions } = await to.broker.admin.describeTopic(toTopic);
        if (partitions === undefined || listed.length < partitions) {
          throw new BrookError("UNSUPPORTED", `translate: the checkpoint of "${topic}" → "${toTopic}" names ${listed.length} of the target's ${partitions ?? "unknown"} partitions (${listed.join(", ")}); "${toTopic}" has no partition ends to start the others at, so group "${group}" cannot be set without a guess; start it with startFrom "earliest" instead`);
        }
        start = {
          positions: listed.map((q) => {
            const dup = earliest.get(q);
            const at = parseOffset(ends[q]!);
            if (dup !== undefined && compareOffsets(dup, at) < 0) {
              rewound = undefined; // offsets with gaps: how many lie between is unknown
              return { partition: q, offset: dup.text };
            }
            return { partition: q, offset: at.text };
          }),
        };
      } else {
        start = {
          positions: offsets.map((o) => {
            const end = chosen?.ends?.[o.partition];
            // A partition the checkpoint does not know (or one retention moved past) starts at what is retained.
            let offset = end === undefined || BigInt(end) < BigInt(o.start) ? BigInt(o.start) : BigInt(end);
            const dup = earliest.get(o.partition);
            const dupAt = dup === undefined ? undefined : BigInt(dup.text);
            if (dupAt !== undefined && dupAt < offset) {
              const to = dupAt < BigInt(o.start) ? BigInt(o.start) : dupAt;
              if (rewound !== undefined) rewound += Number(offset - to);
              offset = to;
            }
            return { partition: o.partition, offset: offset.toString() };
          }),
        };
      }
    } else {
      start = { time: chosen === undefined ? new Date(0) : chosen.targetTime };
    }
    const contiguousSource = logSource && (await offsetsOf(from.broker, topic)) !== undefined;
    const partitions = positions.map((p) => explain(p, chosen, logSource, contiguousSource, checkpoints));
    const result: TranslateResult = {
      topic,
      toTopic,
      group,
      start,
      checkpoint: chosen === undefined ? undefined : { run: chosen.run, seq: chosen.seq, at: chosen.at },
      partitions,
      rewound,
      applied: false,
    };
    if (options.dryRun !== true) {
      await applyStart(to.broker, toTopic, group, start);
      if ("positions" in start && (await offsetsOf(to.broker, toTopic)) !== undefined) await ensureStart(to.broker, toTopic, group, start.positions);
      result.applied = true;
    }
    return result;
  } finally {
    if (to?.owned) await to.broker.close().catch(() => undefined);
    if (from.owned) await from.broker.close().catch(() => undefined);
  }
}

/** Safe: every mark at or below the group's position (logs) or before its settled time. */
function latestValid(checkpoints: StoredCheckpoint[], positions: GroupPosition[], logSource: boolean): StoredCheckpoint | undefined {
  const committed = new Map(positions.map((p) => [p.partition, p]));
  const valid = (c: StoredCheckpoint): boolean =>
    Object.entries(c.marks).every(([partition, mark]) => {
      const p = committed.get(partition);
      if (logSource) {
        if (mark.offset === undefined) return true;
        return p?.committed !== undefined && compareOffsets(parseOffset(mark.offset), parseOffset(p.committed)) <= 0;
      }
      if (mark.time === undefined) return true;
      return p?.settledBefore !== undefined && new Date(mark.time).getTime() < p.settledBefore.getTime();
    });
  for (let i = checkpoints.length - 1; i >= 0; i -= 1) if (valid(checkpoints[i]!)) return checkpoints[i];
  return undefined;
}

function explain(p: GroupPosition, chosen: StoredCheckpoint | undefined, logSource: boolean, contiguous: boolean, checkpoints: StoredCheckpoint[]): TranslatedPartition {
  const mark = chosen?.marks[p.partition];
  // Copies acknowledged before the checkpoint that still lie after its target position.
  const earlier = mark?.earlier ?? 0;
  let mayRepeat: number | undefined;
  if (logSource) {
    // Everything after the mark is copied after the start: the group settled (mark, committed].
    if (p.committed === undefined) mayRepeat = earlier;
    else if (contiguous) {
      const from = mark?.offset === undefined ? -1n : BigInt(mark.offset);
      mayRepeat = Math.max(0, Number(BigInt(p.committed) - from)) + earlier;
    } else {
      // Offsets with gaps (Kinesis): counted by the mirror. A later checkpoint of the same run
      // whose mark reached the group's position bounds what lies between (undefined: none did).
      const committed = parseOffset(p.committed);
      const i = chosen === undefined ? -1 : checkpoints.indexOf(chosen);
      const base = chosen === undefined ? 0 : (mark?.n ?? 0);
      const later = checkpoints.slice(i + 1).find((c) => {
        const m = c.marks[p.partition];
        return (chosen === undefined || c.run === chosen.run) && m?.offset !== undefined && m.n !== undefined && compareOffsets(parseOffset(m.offset), committed) >= 0;
      });
      const lastMark = later?.marks[p.partition];
      if (lastMark?.n !== undefined && (chosen !== undefined || later !== undefined)) mayRepeat = lastMark.n - base + earlier;
    }
  }
  const result: TranslatedPartition = {
    partition: p.partition,
    committed: p.committed,
    settledBefore: p.settledBefore,
    mark: logSource ? mark?.offset : mark?.time,
    mayRepeat,
  };
  if (!logSource && p.settledBefore !== undefined) {
    const from = mark?.earlierTime !== undefined && (mark.time === undefined || mark.earlierTime < mark.time) ? mark.earlierTime : mark?.time;
    result.repeatWindow = { from: from === undefined ? undefined : new Date(from), to: p.settledBefore };
  }
  return result;
}

/**
 * Sets the group's start on the target: joins it without handling anything (the handler
 * never settles), seeks, which commits on log backends and seeks the subscription on Pub/Sub,
 * and leaves without committing anything else.
 */
async function applyStart(to: Broker, toTopic: string, group: string, start: TranslateResult["start"]): Promise<void> {
  const startFrom: StartFrom = "positions" in start ? { positions: start.positions } : { time: start.time };
  const parked: Array<(err: Error) => void> = [];
  let sub: Subscription | undefined;
  try {
    sub = await to.subscribe(toTopic, {
      group,
      startFrom,
      codec: "bytes",
      // Nothing is handled, so no order is needed (and an unordered Pub/Sub subscription accepts only "none").
      ordering: "none",
      maxInFlight: 1,
      handler: () => new Promise<void>((_, reject) => void parked.push(reject)),
    });
    if ("positions" in start) {
      const want = start.positions.map((p) => p.partition);
      const deadline = Date.now() + ASSIGN_TIMEOUT_MS;
      while (!want.every((p) => sub!.assignment().includes(p))) {
        if (Date.now() > deadline) {
          throw new BrookError("TIMEOUT", `translate: group "${group}" was not assigned every partition of "${toTopic}" within ${ASSIGN_TIMEOUT_MS} ms (is another member of the group running on the target?)`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    await sub.seek(startFrom);
  } finally {
    await sub?.close({ drain: false });
    for (const reject of parked) reject(new Error("translate: left without handling"));
  }
}

/**
 * Log targets whose seek is not a commit (Event Hubs writes a checkpoint only for a processed
 * event): where the group's position on the target is not yet `start - 1`, the group processes
 * exactly the event before the start on that partition, which checkpoints it, and nothing
 * else. Then the position is read back; a partition that still does not stand there fails.
 */
async function ensureStart(to: Broker, toTopic: string, group: string, positions: Position[]): Promise<void> {
  const want = (p: Position): string | undefined => (BigInt(p.offset) > 0n ? (BigInt(p.offset) - 1n).toString() : undefined);
  const off = async (): Promise<Position[]> => {
    const now = new Map((await to.admin.groupPositions(toTopic, group)).map((g) => [g.partition, g.committed]));
    return positions.filter((p) => now.get(p.partition) !== want(p));
  };
  let missing = await off();
  if (missing.length === 0) return;
  const offsets = new Map((await to.admin.partitionOffsets(toTopic)).map((o) => [o.partition, o]));
  const unreachable = missing.filter((p) => want(p) === undefined || BigInt(want(p)!) < BigInt(offsets.get(p.partition)?.start ?? "0"));
  if (unreachable.length > 0) {
    throw new BrookError(
      "UNSUPPORTED",
      `translate: "${toTopic}" keeps no position for group "${group}" without a processed message before it, and partition(s) ${unreachable.map((p) => `${p.partition}@${p.offset}`).join(", ")} start at the first retained message; start the group there with startFrom "earliest"`,
    );
  }
  const before = new Map(missing.map((p) => [p.partition, want(p)!]));
  const settled = new Set<string>();
  const parked: Array<(err: Error) => void> = [];
  const sub = await to.subscribe<Uint8Array>(toTopic, {
    group,
    startFrom: { positions: missing.map((p) => ({ partition: p.partition, offset: before.get(p.partition)! })) },
    codec: "bytes",
    ordering: "partition",
    // Room for every partition's first message: a partition's parked message must not hold up another's.
    maxInFlight: 1_000,
    handler: (m) => {
      if (before.get(m.position.partition) === m.position.offset) {
        settled.add(m.position.partition);
        return;
      }
      return new Promise<void>((_, reject) => void parked.push(reject));
    },
  });
  try {
    const deadline = Date.now() + ASSIGN_TIMEOUT_MS;
    // A checkpoint the group has takes precedence over startFrom: seek once the partitions are ours.
    while (![...before.keys()].every((p) => sub.assignment().includes(p))) {
      if (Date.now() > deadline) throw new BrookError("TIMEOUT", `translate: group "${group}" was not assigned every partition of "${toTopic}" within ${ASSIGN_TIMEOUT_MS} ms (is another member of the group running on the target?)`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (settled.size < before.size) await sub.seek({ positions: [...before].filter(([p]) => !settled.has(p)).map(([partition, offset]) => ({ partition, offset })) });
    while (settled.size < before.size || (await sub.commit().then(off)).length > 0) {
      if (Date.now() > deadline) {
        throw new BrookError("TIMEOUT", `translate: group "${group}" on "${toTopic}" did not come to stand at ${missing.map((p) => `${p.partition}@${p.offset}`).join(", ")} within ${ASSIGN_TIMEOUT_MS} ms (is another member of the group running on the target?)`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await sub.close({ drain: false });
    for (const reject of parked) reject(new Error("translate: left without handling"));
  }
  missing = await off();
  if (missing.length > 0) throw new BrookError("UNAVAILABLE", `translate: group "${group}" on "${toTopic}" does not stand at ${missing.map((p) => `${p.partition}@${p.offset}`).join(", ")} after setting it`);
}
