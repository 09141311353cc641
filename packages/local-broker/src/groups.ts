import type { GroupDescription } from "./engine-api.js";
import type { LogEngine } from "./engine.js";

/**
 * Groups known to the engine: those with members (coordinator) or commits (metadata), sorted by
 * group and topic. Synchronous, so the answer is one consistent snapshot.
 */
export function describeGroups(engine: LogEngine): GroupDescription[] {
  const pairs = new Map<string, { group: string; topic: string }>();
  const add = (group: string, topic: string): void => void pairs.set(`${group}\u0000${topic}`, { group, topic });
  for (const { group, topic } of engine.coordinator.groupNames()) if (engine.hasTopic(topic)) add(group, topic);
  const topics = engine.topicNames();
  const metadata = engine.store.metadata;
  for (const group of metadata.groups()) {
    for (const topic of topics) if (metadata.committed(group, topic).size > 0) add(group, topic);
  }
  const out: GroupDescription[] = [];
  for (const { group, topic } of [...pairs.values()].sort((a, b) => a.group.localeCompare(b.group) || a.topic.localeCompare(b.topic))) {
    const committed = metadata.committed(group, topic);
    const owners = engine.coordinator.assignment(group, topic);
    const partitions = engine.partitionInfo(topic).map(({ partition, end }) => {
      const next = committed.get(partition);
      return { partition, owner: owners.get(partition), committed: next, end, lag: next === undefined ? undefined : Math.max(0, end - next) };
    });
    out.push({ group, topic, members: engine.coordinator.members(group, topic), partitions });
  }
  return out;
}
