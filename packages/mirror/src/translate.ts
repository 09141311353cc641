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
import { checkTopic, openBroker, requireTopic, type BrokerRef } from "./options.js";
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
   * kept an earlier copy (publish dedupe after a mirror restart) of a message it has not settled.
   */
  rewound: number;
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
    let rewound = 0;
    if (logTarget) {
      const offsets = await to.broker.admin.partitionOffsets(toTopic);
      // Copies the target kept from before the checkpoint (publish dedupe) of messages the group has not settled.
      const earliest = new Map<string, bigint>();
      const chosenIndex = chosen === undefined ? -1 : checkpoints.indexOf(chosen);
      const committed = new Map(positions.map((p) => [p.partition, p]));
      for (const d of map.duplicates) {
        if (d.before <= chosenIndex) continue;
        for (const c of d.copies) {
          const p = committed.get(c.sourcePartition);
          const settled = logSource
            ? p?.committed !== undefined && BigInt(c.sourceOffset) <= BigInt(p.committed)
            : p?.settledBefore !== undefined && new Date(c.sourceTime).getTime() < p.settledBefore.getTime();
          if (settled) continue;
          const at = BigInt(c.targetOffset);
          const known = earliest.get(c.targetPartition);
          if (known === undefined || at < known) earliest.set(c.targetPartition, at);
        }
      }
      start = {
        positions: offsets.map((o) => {
          const end = chosen?.ends?.[o.partition];
          // A partition the checkpoint does not know (or one retention moved past) starts at what is retained.
          let offset = end === undefined || BigInt(end) < BigInt(o.start) ? BigInt(o.start) : BigInt(end);
          const dup = earliest.get(o.partition);
          if (dup !== undefined && dup < offset) {
            rewound += Number(offset - (dup < BigInt(o.start) ? BigInt(o.start) : dup));
            offset = dup < BigInt(o.start) ? BigInt(o.start) : dup;
          }
          return { partition: o.partition, offset: offset.toString() };
        }),
      };
    } else {
      start = { time: chosen === undefined ? new Date(0) : chosen.targetTime };
    }
    const partitions = positions.map((p) => explain(p, chosen, logSource));
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
        return p?.committed !== undefined && BigInt(mark.offset) <= BigInt(p.committed);
      }
      if (mark.time === undefined) return true;
      return p?.settledBefore !== undefined && new Date(mark.time).getTime() < p.settledBefore.getTime();
    });
  for (let i = checkpoints.length - 1; i >= 0; i -= 1) if (valid(checkpoints[i]!)) return checkpoints[i];
  return undefined;
}

function explain(p: GroupPosition, chosen: StoredCheckpoint | undefined, logSource: boolean): TranslatedPartition {
  const mark = chosen?.marks[p.partition];
  let mayRepeat: number | undefined;
  if (logSource) {
    // Everything after the mark is copied after the start: the group settled (mark, committed].
    const from = mark?.offset === undefined ? -1n : BigInt(mark.offset);
    mayRepeat = p.committed === undefined ? 0 : Math.max(0, Number(BigInt(p.committed) - from));
  }
  const result: TranslatedPartition = {
    partition: p.partition,
    committed: p.committed,
    settledBefore: p.settledBefore,
    mark: logSource ? mark?.offset : mark?.time,
    mayRepeat,
  };
  if (!logSource && p.settledBefore !== undefined) {
    result.repeatWindow = { from: mark?.time === undefined ? undefined : new Date(mark.time), to: p.settledBefore };
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
