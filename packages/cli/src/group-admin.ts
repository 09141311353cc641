/**
 * Consumer-group administration behind `brook groups`, one implementation per backend that has
 * it: the local broker's engine API (memory:, local:, brook://) and Kafka's admin (the
 * adapter's group extras). Offsets here are "next to read", as both backends commit them.
 */
import { BrookError } from "@brook/core";
import type { EngineApi } from "@brook/local-broker/engine";
import type { Client } from "./client.js";

export interface GroupPartition {
  partition: string;
  /** member owning the partition now */
  owner?: string;
  /** the next offset the group reads */
  committed?: string;
  /** the offset the next record appended gets */
  end?: string;
  lag?: number;
}

export interface GroupInfo {
  group: string;
  topic: string;
  members: string[];
  partitions: GroupPartition[];
}

export type SeekTo = { kind: "earliest" | "latest" } | { kind: "time"; time: Date } | { kind: "offsets"; offsets: Map<string, string> };

export interface MovedPartition {
  partition: string;
  before: string | undefined;
  after: string;
}

export interface GroupAdmin {
  /** every group with members or committed offsets, per topic */
  list(): Promise<GroupInfo[]>;
  /** forgets the group's offsets on these topics */
  delete(group: string, topics: string[]): Promise<void>;
  /** commits new offsets for a group without members; returns each partition's move */
  seek(group: string, topic: string, to: SeekTo): Promise<MovedPartition[]>;
}

/** Kafka's group extras, as the Kafka adapter's admin offers them (duck-typed: the adapter is optional). */
export interface KafkaGroupExtras {
  listGroups(): Promise<GroupInfo[]>;
  deleteGroup(group: string): Promise<void>;
  setGroupOffsets(group: string, topic: string, to: SeekTo): Promise<MovedPartition[]>;
}

function hasKafkaExtras(admin: object): admin is KafkaGroupExtras {
  const a = admin as Partial<KafkaGroupExtras>;
  return typeof a.listGroups === "function" && typeof a.deleteGroup === "function" && typeof a.setGroupOffsets === "function";
}

export function groupAdminFor(client: Client): GroupAdmin {
  if (client.api !== undefined) return new EngineGroupAdmin(client.api);
  const admin = client.broker.admin;
  if (hasKafkaExtras(admin)) {
    return {
      list: () => admin.listGroups(),
      delete: async (group, topics) => {
        // Kafka deletes a group whole (KafkaJS has no OffsetDelete): refuse to take other topics' offsets with it.
        const others = (await admin.listGroups()).filter((g) => g.group === group && !topics.includes(g.topic)).map((g) => g.topic);
        if (others.length > 0) {
          throw new BrookError("UNSUPPORTED", `on Kafka a group is deleted whole, and "${group}" also has offsets on ${others.join(", ")}; leave out --topic to delete it everywhere`);
        }
        await admin.deleteGroup(group);
      },
      seek: (group, topic, to) => admin.setGroupOffsets(group, topic, to),
    };
  }
  throw new BrookError(
    "UNSUPPORTED",
    `brook groups works on the local broker (memory:, local:, brook://) and Kafka; ${client.url} has no consumer groups to administer this way (on Pub/Sub a group is a subscription: gcloud pubsub subscriptions seek)`,
  );
}

class EngineGroupAdmin implements GroupAdmin {
  constructor(private readonly api: EngineApi) {}

  async list(): Promise<GroupInfo[]> {
    return (await this.api.describeGroups()).map((g) => ({
      group: g.group,
      topic: g.topic,
      members: g.members,
      partitions: g.partitions.map((p) => ({
        partition: String(p.partition),
        ...(p.owner === undefined ? {} : { owner: p.owner }),
        ...(p.committed === undefined ? {} : { committed: String(p.committed) }),
        end: String(p.end),
        ...(p.lag === undefined ? {} : { lag: p.lag }),
      })),
    }));
  }

  async delete(group: string, topics: string[]): Promise<void> {
    for (const topic of topics) await this.api.deleteGroup(group, topic);
  }

  async seek(group: string, topic: string, to: SeekTo): Promise<MovedPartition[]> {
    const { partitions } = await this.api.describeTopic(topic);
    const before = await this.api.committed(group, topic);
    const target = new Map<number, number>();
    if (to.kind === "offsets") {
      for (const [p, o] of to.offsets) {
        const info = partitions[Number(p)];
        if (info === undefined) throw new BrookError("INVALID_ARGUMENT", `--to ${p}:${o}: topic "${topic}" has partitions 0 to ${partitions.length - 1}`);
        const offset = Number(o);
        if (offset < info.start || offset > info.end) {
          throw new BrookError("OUT_OF_RANGE", `--to ${p}:${o}: partition ${p} of "${topic}" holds offsets ${info.start} to ${info.end} (its end)`);
        }
        target.set(info.partition, offset);
      }
    } else {
      for (const p of partitions) {
        if (to.kind === "time") target.set(p.partition, await this.api.offsetForTime(topic, p.partition, to.time.getTime()));
        else target.set(p.partition, to.kind === "earliest" ? p.start : p.end);
      }
    }
    // Without a member id: the engine accepts it only while the group has no members.
    await this.api.commit(group, topic, target);
    return [...target].map(([p, after]) => ({ partition: String(p), before: before.has(p) ? String(before.get(p)) : undefined, after: String(after) }));
  }
}
