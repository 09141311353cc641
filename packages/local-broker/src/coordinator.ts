import { waitWithTimeout } from "@brook/core/base";

/** A subscriber as the coordinator sees it: it is told which partitions it gains and loses. */
export interface GroupMember {
  readonly id: string;
  /** Start consuming these partitions (called only after their previous owner let go). */
  onAssign(partitions: number[]): Promise<void> | void;
  /** Stop consuming these partitions and commit; the coordinator waits, bounded, for it. */
  onRevoke(partitions: number[]): Promise<void>;
}

interface GroupState {
  topic: string;
  partitions: () => number;
  members: GroupMember[];
  owners: Map<number, string>;
  chain: Promise<void>;
}

/**
 * Partition assignment for consumer groups of the local broker. Each (group, topic) pair has
 * members in join order and partitions spread round-robin across them. A rebalance first
 * revokes what members lose (they drain and commit), then assigns what members gain, so a
 * partition never has two owners and the new owner starts from the old owner's commit.
 * Rebalances of one group run one at a time.
 */
export class GroupCoordinator {
  private readonly groups = new Map<string, GroupState>();
  private closed = false;

  constructor(
    private readonly engine: { partitionCount(topic: string): number },
    private readonly revokeTimeoutMs = 10_000,
  ) {}

  join(group: string, topic: string, member: GroupMember): Promise<void> {
    const state = this.state(group, topic);
    state.members.push(member);
    return this.rebalance(state);
  }

  /**
   * Removes a member. With `released`, its partitions are free at once (it has already stopped
   * and committed); otherwise (a dead member) they are reassigned without waiting for it.
   */
  leave(group: string, topic: string, memberId: string): Promise<void> {
    const state = this.groups.get(key(group, topic));
    if (state === undefined) return Promise.resolve();
    state.members = state.members.filter((m) => m.id !== memberId);
    for (const [p, owner] of state.owners) if (owner === memberId) state.owners.delete(p);
    return this.rebalance(state);
  }

  /**
   * Whether `memberId` owns `partition` now. A member keeps a partition until its revoke is
   * done (or timed out), so the commit it makes while draining is still accepted.
   */
  owns(group: string, topic: string, memberId: string, partition: number): boolean {
    return this.groups.get(key(group, topic))?.owners.get(partition) === memberId;
  }

  hasMembers(group: string, topic: string): boolean {
    return (this.groups.get(key(group, topic))?.members.length ?? 0) > 0;
  }

  /** Which member owns which partition, for describe and tests. */
  assignment(group: string, topic: string): Map<number, string> {
    return new Map(this.groups.get(key(group, topic))?.owners ?? []);
  }

  members(group: string, topic: string): string[] {
    return this.groups.get(key(group, topic))?.members.map((m) => m.id) ?? [];
  }

  groupNames(): Array<{ group: string; topic: string }> {
    return [...this.groups.entries()].map(([k, s]) => ({ group: k.slice(0, k.length - s.topic.length - 1), topic: s.topic }));
  }

  /** Drops the state of a group without members (`brook groups delete`); false when it has members. */
  forget(group: string, topic: string): boolean {
    const k = key(group, topic);
    if ((this.groups.get(k)?.members.length ?? 0) > 0) return false;
    this.groups.delete(k);
    return true;
  }

  topicDeleted(topic: string): void {
    for (const [k, state] of this.groups) if (state.topic === topic) this.groups.delete(k);
  }

  close(): void {
    this.closed = true;
    this.groups.clear();
  }

  private state(group: string, topic: string): GroupState {
    const k = key(group, topic);
    let state = this.groups.get(k);
    if (state === undefined) {
      state = { topic, partitions: () => this.engine.partitionCount(topic), members: [], owners: new Map(), chain: Promise.resolve() };
      this.groups.set(k, state);
    }
    return state;
  }

  private rebalance(state: GroupState): Promise<void> {
    const run = state.chain.then(() => this.rebalanceNow(state));
    state.chain = run.catch(() => undefined);
    return run;
  }

  private async rebalanceNow(state: GroupState): Promise<void> {
    if (this.closed) return;
    let count: number;
    try {
      count = state.partitions();
    } catch {
      return; // topic deleted meanwhile
    }
    const target = new Map<number, string>();
    if (state.members.length > 0) {
      for (let p = 0; p < count; p++) target.set(p, state.members[p % state.members.length]!.id);
    }
    // Phase 1: revoke what changes hands; the owner drains and commits first.
    const losing = new Map<string, number[]>();
    for (const [p, owner] of state.owners) {
      if (target.get(p) !== owner) {
        const list = losing.get(owner) ?? [];
        list.push(p);
        losing.set(owner, list);
      }
    }
    await Promise.all(
      [...losing].map(async ([memberId, partitions]) => {
        const member = state.members.find((m) => m.id === memberId);
        if (member !== undefined) await waitWithTimeout(member.onRevoke(partitions).catch(() => undefined), this.revokeTimeoutMs);
        for (const p of partitions) state.owners.delete(p);
      }),
    );
    // Phase 2: assign free partitions to their new owners.
    const gaining = new Map<string, number[]>();
    for (const [p, owner] of target) {
      if (state.owners.get(p) === owner) continue;
      if (state.owners.has(p)) continue;
      state.owners.set(p, owner);
      const list = gaining.get(owner) ?? [];
      list.push(p);
      gaining.set(owner, list);
    }
    for (const [memberId, partitions] of gaining) {
      const member = state.members.find((m) => m.id === memberId);
      if (member === undefined) {
        for (const p of partitions) state.owners.delete(p);
        continue;
      }
      await member.onAssign(partitions);
    }
  }
}

function key(group: string, topic: string): string {
  return `${group}\u0000${topic}`;
}
