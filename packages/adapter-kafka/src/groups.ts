/**
 * Consumer-group administration on Kafka, an extra beyond the contract (what `brook groups`
 * and rpk's `group` commands do): list groups with their members, committed offsets and lag;
 * move a group's committed offsets (Kafka's reset-offsets). Offsets are "next to read", as
 * Kafka commits them, in decimal strings.
 */
import { BrookError } from "@brook/core";
import { invalidArgument, validateTopicName } from "@brook/core/spi";
import type { DriverAdmin } from "./driver.js";
import { toKafkaBrookError } from "./errors.js";

export interface KafkaGroupPartition {
  partition: string;
  /** the member owning the partition now */
  owner?: string;
  /** the next offset the group reads */
  committed?: string;
  /** the offset the next record appended gets */
  end?: string;
  lag?: number;
}

/** One group on one topic: a group on several topics is listed once per topic. */
export interface KafkaGroupInfo {
  group: string;
  topic: string;
  members: string[];
  partitions: KafkaGroupPartition[];
}

export type KafkaSeekTo = { kind: "earliest" | "latest" } | { kind: "time"; time: Date } | { kind: "offsets"; offsets: Map<string, string> };

export interface KafkaMovedPartition {
  partition: string;
  before: string | undefined;
  after: string;
}

export async function listKafkaGroups(admin: DriverAdmin): Promise<KafkaGroupInfo[]> {
  try {
    const out: KafkaGroupInfo[] = [];
    // A group may still hold offsets of a topic being deleted: ask only for topics that exist
    // (KafkaJS retries an unknown topic for seconds), and each topic once.
    const existing = new Set(await admin.listTopics());
    const endsByTopic = new Map<string, Map<number, string>>();
    const endsOf = async (topic: string): Promise<Map<number, string>> => {
      if (!existing.has(topic)) return new Map();
      let ends = endsByTopic.get(topic);
      if (ends === undefined) {
        ends = new Map((await admin.topicOffsets(topic)).map((o) => [o.partition, o.high]));
        endsByTopic.set(topic, ends);
      }
      return ends;
    };
    for (const g of await admin.listGroups()) {
      const committed = await admin.groupOffsets(g.group);
      const owners = new Map<string, Map<number, string>>();
      for (const m of g.members) {
        for (const [topic, partitions] of m.assignment) {
          const byPartition = owners.get(topic) ?? new Map<number, string>();
          for (const p of partitions) byPartition.set(p, m.id);
          owners.set(topic, byPartition);
        }
      }
      const topics = [...new Set([...committed.keys(), ...owners.keys()])].sort();
      for (const topic of topics) {
        const ends = await endsOf(topic);
        const topicCommitted = committed.get(topic) ?? new Map<number, string>();
        const topicOwners = owners.get(topic) ?? new Map<number, string>();
        const members = g.members.filter((m) => m.assignment.has(topic)).map((m) => m.id);
        const partitions = [...new Set([...ends.keys(), ...topicCommitted.keys(), ...topicOwners.keys()])].sort((a, b) => a - b);
        out.push({
          group: g.group,
          topic,
          members,
          partitions: partitions.map((p) => {
            const end = ends.get(p);
            const at = topicCommitted.get(p);
            return {
              partition: String(p),
              ...(topicOwners.has(p) ? { owner: topicOwners.get(p)! } : {}),
              ...(at === undefined ? {} : { committed: at }),
              ...(end === undefined ? {} : { end }),
              ...(at === undefined || end === undefined ? {} : { lag: Number(BigInt(end) - BigInt(at)) }),
            };
          }),
        });
      }
    }
    return out;
  } catch (err) {
    throw toKafkaBrookError(err, "list consumer groups");
  }
}

/** Commits new offsets for a group without members; returns each partition's move. */
export async function setKafkaGroupOffsets(admin: DriverAdmin, group: string, topic: string, to: KafkaSeekTo): Promise<KafkaMovedPartition[]> {
  if (typeof group !== "string" || group.length === 0) throw invalidArgument("group", "a non-empty string", group);
  validateTopicName(topic);
  let ranges: Array<{ partition: number; low: string; high: string }>;
  let before: Map<number, string | undefined>;
  try {
    ranges = await admin.topicOffsets(topic);
    before = await admin.committedOffsets(group, topic);
  } catch (err) {
    throw toKafkaBrookError(err, `read offsets of group "${group}" on topic "${topic}"`);
  }
  const target = new Map<number, string>();
  if (to.kind === "offsets") {
    for (const [p, o] of to.offsets) {
      const range = ranges.find((r) => String(r.partition) === p);
      if (range === undefined) throw new BrookError("INVALID_ARGUMENT", `offsets: topic "${topic}" has partitions 0 to ${ranges.length - 1}, not ${p}`);
      if (BigInt(o) < BigInt(range.low) || BigInt(o) > BigInt(range.high)) {
        throw new BrookError("OUT_OF_RANGE", `offsets: partition ${p} of "${topic}" holds offsets ${range.low} to ${range.high} (its end), not ${o}`);
      }
      target.set(range.partition, o);
    }
  } else if (to.kind === "time") {
    try {
      for (const o of await admin.offsetsForTime(topic, to.time.getTime())) target.set(o.partition, o.offset);
    } catch (err) {
      throw toKafkaBrookError(err, `find offsets of "${topic}" at ${to.time.toISOString()}`);
    }
  } else {
    for (const r of ranges) target.set(r.partition, to.kind === "earliest" ? r.low : r.high);
  }
  const offsets = [...target].map(([partition, offset]) => ({ partition, offset }));
  try {
    await admin.setGroupOffsets(group, topic, offsets);
  } catch (err) {
    throw toKafkaBrookError(err, `set offsets of group "${group}" on topic "${topic}" (Kafka refuses it while the group has members)`);
  }
  return offsets.map(({ partition, offset }) => ({ partition: String(partition), before: before.get(partition), after: offset }));
}
