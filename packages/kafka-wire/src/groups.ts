/**
 * Kafka's group membership protocol (JoinGroup / SyncGroup / Heartbeat / LeaveGroup), kept
 * here rather than in the engine's coordinator, and why:
 *
 * - Kafka assigns partitions on the client: the coordinator only collects each member's opaque
 *   protocol metadata, elects a leader, hands it everyone's metadata and relays the assignments
 *   the leader computed (SyncGroup). The engine's coordinator assigns partitions itself, per
 *   (group, topic), and fences commits by the owners it chose.
 * - A Kafka group spans any number of topics under one generation; an engine group is one topic.
 *
 * So the generations, members and session timeouts of Kafka groups live here, and committed
 * offsets are the engine's (engine.commit / engine.committed, without a member id): a Kafka
 * consumer and a Brook consumer of the same group name see the same positions. Commits are
 * fenced here by generation (ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID / REBALANCE_IN_PROGRESS),
 * as Kafka does.
 *
 * States (Kafka's names): Empty -> PreparingRebalance -> CompletingRebalance -> Stable, back to
 * PreparingRebalance when a member joins, leaves or misses its session timeout.
 */
import { randomUUID } from "node:crypto";
import type { EngineApi } from "@brook/local-broker/engine";
import { KafkaError } from "./errors.js";

export type GroupState = "Empty" | "PreparingRebalance" | "CompletingRebalance" | "Stable";

export interface JoinResult {
  error: number;
  generation: number;
  protocol: string;
  leader: string;
  memberId: string;
  /** every member's metadata for the chosen protocol: the leader's answer only */
  members: Array<{ memberId: string; groupInstanceId: string | null; metadata: Buffer }>;
}

interface Member {
  id: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocols: Array<[string, Buffer]>;
  assignment: Buffer;
  /** a JoinGroup waiting for the rebalance to complete */
  join: ((result: JoinResult) => void) | undefined;
  /** a SyncGroup waiting for the leader's assignments */
  sync: ((result: { error: number; assignment: Buffer }) => void) | undefined;
  session: NodeJS.Timeout | undefined;
}

export interface KafkaGroup {
  id: string;
  state: GroupState;
  generation: number;
  protocolType: string;
  protocol: string;
  leader: string;
  members: Map<string, Member>;
  rebalanceTimer: NodeJS.Timeout | undefined;
  /** the first generation of an empty group waits INITIAL_REBALANCE_DELAY_MS for more members */
  initialDelay: boolean;
}

/** Delay before the first generation of an empty group, so members starting together join one generation. */
const INITIAL_REBALANCE_DELAY_MS = 50;

export class GroupCoordinator {
  readonly groups = new Map<string, KafkaGroup>();
  private closed = false;

  constructor(readonly engine: EngineApi) {}

  private group(id: string): KafkaGroup {
    let g = this.groups.get(id);
    if (g === undefined) {
      g = { id, state: "Empty", generation: 0, protocolType: "", protocol: "", leader: "", members: new Map(), rebalanceTimer: undefined, initialDelay: false };
      this.groups.set(id, g);
    }
    return g;
  }

  join(
    groupId: string,
    request: { memberId: string; groupInstanceId: string | null; clientId: string; clientHost: string; sessionTimeoutMs: number; rebalanceTimeoutMs: number; protocolType: string; protocols: Array<[string, Buffer]> },
  ): Promise<JoinResult> {
    const fail = (error: number): Promise<JoinResult> => Promise.resolve({ error, generation: -1, protocol: "", leader: "", memberId: request.memberId, members: [] });
    if (this.closed) return fail(KafkaError.COORDINATOR_NOT_AVAILABLE);
    if (groupId === "") return fail(KafkaError.INVALID_GROUP_ID);
    if (request.sessionTimeoutMs < 1 || request.sessionTimeoutMs > 30 * 60_000) return fail(KafkaError.INVALID_SESSION_TIMEOUT);
    const g = this.group(groupId);
    if (g.members.size > 0 && g.protocolType !== request.protocolType) return fail(KafkaError.INCONSISTENT_GROUP_PROTOCOL);
    if (request.protocols.length === 0) return fail(KafkaError.INCONSISTENT_GROUP_PROTOCOL);
    let member = request.memberId === "" ? undefined : g.members.get(request.memberId);
    if (request.memberId !== "" && member === undefined) return fail(KafkaError.UNKNOWN_MEMBER_ID);
    if (member === undefined) {
      member = {
        id: `${request.clientId || "member"}-${randomUUID()}`,
        groupInstanceId: request.groupInstanceId,
        clientId: request.clientId,
        clientHost: request.clientHost,
        sessionTimeoutMs: request.sessionTimeoutMs,
        rebalanceTimeoutMs: request.rebalanceTimeoutMs,
        protocols: request.protocols,
        assignment: Buffer.alloc(0),
        join: undefined,
        sync: undefined,
        session: undefined,
      };
      g.members.set(member.id, member);
    } else {
      member.protocols = request.protocols;
      member.sessionTimeoutMs = request.sessionTimeoutMs;
      member.rebalanceTimeoutMs = request.rebalanceTimeoutMs;
    }
    g.protocolType = request.protocolType;
    const m = member;
    // a join replaces a join still waiting from the same member (a client retry)
    m.join?.({ error: KafkaError.UNKNOWN_MEMBER_ID, generation: -1, protocol: "", leader: "", memberId: m.id, members: [] });
    const promise = new Promise<JoinResult>((resolve) => (m.join = resolve));
    this.touch(g, m);
    this.prepareRebalance(g);
    this.maybeCompleteJoin(g);
    return promise;
  }

  private prepareRebalance(g: KafkaGroup): void {
    if (g.state === "PreparingRebalance") return;
    // a member waiting for assignments learns of the new round by REBALANCE_IN_PROGRESS
    for (const m of g.members.values()) {
      m.sync?.({ error: KafkaError.REBALANCE_IN_PROGRESS, assignment: Buffer.alloc(0) });
      m.sync = undefined;
    }
    const wasEmpty = g.state === "Empty";
    g.state = "PreparingRebalance";
    const timeout = wasEmpty ? INITIAL_REBALANCE_DELAY_MS : Math.max(...[...g.members.values()].map((m) => m.rebalanceTimeoutMs), 0);
    clearTimeout(g.rebalanceTimer);
    g.rebalanceTimer = setTimeout(() => this.completeJoin(g), timeout);
    g.rebalanceTimer.unref();
    if (wasEmpty) g.initialDelay = true;
  }

  private maybeCompleteJoin(g: KafkaGroup): void {
    if (g.state !== "PreparingRebalance" || g.initialDelay === true) return;
    for (const m of g.members.values()) if (m.join === undefined) return;
    this.completeJoin(g);
  }

  private completeJoin(g: KafkaGroup): void {
    clearTimeout(g.rebalanceTimer);
    g.rebalanceTimer = undefined;
    g.initialDelay = false;
    if (g.state !== "PreparingRebalance") return;
    // members that did not rejoin in time are out
    for (const m of [...g.members.values()]) if (m.join === undefined) this.remove(g, m);
    g.generation += 1;
    if (g.members.size === 0) {
      g.state = "Empty";
      g.protocol = "";
      g.leader = "";
      return;
    }
    const members = [...g.members.values()];
    if (!g.members.has(g.leader)) g.leader = members[0]!.id;
    const leader = g.members.get(g.leader)!;
    const protocol = leader.protocols.map(([name]) => name).find((name) => members.every((m) => m.protocols.some(([n]) => n === name)));
    if (protocol === undefined) {
      for (const m of members) {
        m.join?.({ error: KafkaError.INCONSISTENT_GROUP_PROTOCOL, generation: -1, protocol: "", leader: "", memberId: m.id, members: [] });
        this.remove(g, m);
      }
      g.state = "Empty";
      return;
    }
    g.protocol = protocol;
    g.state = "CompletingRebalance";
    const all = members.map((m) => ({ memberId: m.id, groupInstanceId: m.groupInstanceId, metadata: m.protocols.find(([n]) => n === protocol)![1] }));
    for (const m of members) {
      const reply = m.join!;
      m.join = undefined;
      m.assignment = Buffer.alloc(0);
      this.touch(g, m);
      reply({ error: KafkaError.NONE, generation: g.generation, protocol, leader: g.leader, memberId: m.id, members: m.id === g.leader ? all : [] });
    }
  }

  /**
   * Fences a request of `memberId` at `generation`: the Kafka error code, or NONE. As in Kafka,
   * a heartbeat during PreparingRebalance says REBALANCE_IN_PROGRESS (rejoin), while a commit
   * then is accepted (members commit what they revoke before rejoining) and is refused only
   * while assignments are being handed out (CompletingRebalance).
   */
  check(groupId: string, memberId: string, generation: number, purpose: "heartbeat" | "commit" | "sync" = "heartbeat"): number {
    const g = this.groups.get(groupId);
    const m = g?.members.get(memberId);
    if (g === undefined || m === undefined) return KafkaError.UNKNOWN_MEMBER_ID;
    if (generation !== g.generation) return KafkaError.ILLEGAL_GENERATION;
    this.touch(g, m);
    if (purpose === "commit") return g.state === "CompletingRebalance" ? KafkaError.REBALANCE_IN_PROGRESS : KafkaError.NONE;
    if (g.state === "PreparingRebalance") return KafkaError.REBALANCE_IN_PROGRESS;
    return KafkaError.NONE;
  }

  sync(groupId: string, memberId: string, generation: number, assignments: Array<[string, Buffer]>): Promise<{ error: number; assignment: Buffer }> {
    const error = this.check(groupId, memberId, generation, "sync");
    if (error !== KafkaError.NONE) return Promise.resolve({ error, assignment: Buffer.alloc(0) });
    const g = this.groups.get(groupId)!;
    const m = g.members.get(memberId)!;
    if (g.state === "Stable") return Promise.resolve({ error: KafkaError.NONE, assignment: m.assignment });
    if (memberId === g.leader) {
      for (const [id, assignment] of assignments) {
        const target = g.members.get(id);
        if (target !== undefined) target.assignment = assignment;
      }
      g.state = "Stable";
      for (const other of g.members.values()) {
        other.sync?.({ error: KafkaError.NONE, assignment: other.assignment });
        other.sync = undefined;
      }
      return Promise.resolve({ error: KafkaError.NONE, assignment: m.assignment });
    }
    return new Promise((resolve) => (m.sync = resolve));
  }

  heartbeat(groupId: string, memberId: string, generation: number): number {
    return this.check(groupId, memberId, generation);
  }

  leave(groupId: string, memberId: string): number {
    const g = this.groups.get(groupId);
    const m = g?.members.get(memberId);
    if (g === undefined || m === undefined) return KafkaError.UNKNOWN_MEMBER_ID;
    this.remove(g, m);
    this.rebalanceAfterLoss(g);
    return KafkaError.NONE;
  }

  private rebalanceAfterLoss(g: KafkaGroup): void {
    if (g.members.size === 0) {
      clearTimeout(g.rebalanceTimer);
      g.state = "Empty";
      g.protocol = "";
      g.leader = "";
      g.generation += 1;
      return;
    }
    this.prepareRebalance(g);
    this.maybeCompleteJoin(g);
  }

  private remove(g: KafkaGroup, m: Member): void {
    clearTimeout(m.session);
    g.members.delete(m.id);
    m.join?.({ error: KafkaError.UNKNOWN_MEMBER_ID, generation: -1, protocol: "", leader: "", memberId: m.id, members: [] });
    m.sync?.({ error: KafkaError.UNKNOWN_MEMBER_ID, assignment: Buffer.alloc(0) });
    m.join = undefined;
    m.sync = undefined;
  }

  /** (Re)starts a member's session timer; a member waiting in JoinGroup is never expired. */
  private touch(g: KafkaGroup, m: Member): void {
    clearTimeout(m.session);
    m.session = setTimeout(() => {
      if (m.join !== undefined || g.members.get(m.id) !== m) return;
      this.remove(g, m);
      this.rebalanceAfterLoss(g);
    }, m.sessionTimeoutMs);
    m.session.unref();
  }

  /** Kafka groups are not tied to connections: a member lives until it leaves or its session times out. */
  connectionClosed(_connection: string): void {}

  close(): void {
    this.closed = true;
    for (const g of this.groups.values()) {
      clearTimeout(g.rebalanceTimer);
      for (const m of [...g.members.values()]) this.remove(g, m);
    }
    this.groups.clear();
  }
}
