/**
 * Group members of remote clients (../../PROTOCOL.md §7). Each is a `MemberProxy` inside the
 * server whose onAssign/onRevoke become ASSIGN/REVOKE pushes on its client's connection, waited
 * for (bounded) until the client's *_DONE. A member outlives its connection until the session
 * timeout, so a client that reconnects in time re-joins and keeps its partitions.
 */
import { BrookError, type Logger } from "@brook/core/base";
import { toBrookError } from "@brook/core/base";
import type { GroupMember } from "../coordinator.js";
import type { LogEngine } from "../engine.js";
import { FrameType } from "../wire/frames.js";
import { encodeJoinResponse, encodePush, type JoinRequest } from "../wire/ops.js";
import type { Reply, ServerConnection } from "./connection.js";
import type { ServerSettings } from "./server.js";

type PushType = typeof FrameType.ASSIGN | typeof FrameType.REVOKE;

interface PendingPush {
  memberId: string;
  done: () => void;
}

/** The members one connection carries, and its pushes waiting for their *_DONE. */
export class ConnectionMembers {
  readonly members = new Set<MemberProxy>();
  private readonly pushes = new Map<number, PendingPush>();
  private nextPushId = 1;

  constructor(
    private readonly conn: ServerConnection,
    private readonly logger: Logger,
  ) {}

  /** Sends ASSIGN/REVOKE and resolves on the member's reply, the bound, or connection loss. */
  push(type: PushType, memberId: string, partitions: number[], timeoutMs: number): Promise<void> {
    if (this.conn.closed) return Promise.resolve();
    const id = this.nextPushId;
    this.nextPushId = this.nextPushId >= 0xffffffff ? 1 : this.nextPushId + 1;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.logger.warn(
          `member ${memberId} on ${this.conn.peer} did not confirm ${type === FrameType.ASSIGN ? "ASSIGN" : "REVOKE"} of partitions ${partitions.join(",")} within ${timeoutMs} ms; going on without it`,
        );
        done();
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.pushes.delete(id);
        resolve();
      };
      this.pushes.set(id, { memberId, done });
      this.conn.send(encodePush(type, id, memberId, partitions));
    });
  }

  /** ASSIGN_DONE / REVOKE_DONE with the push's id. */
  done(id: number): void {
    this.pushes.get(id)?.done();
  }

  /** The member left this connection: its pushes count as done. */
  release(memberId: string): void {
    for (const push of [...this.pushes.values()]) if (push.memberId === memberId) push.done();
  }

  /** The connection is gone: every push counts as done (§7). */
  releaseAll(): void {
    for (const push of [...this.pushes.values()]) push.done();
  }
}

/** The server side of one remote group member (§7). */
class MemberProxy implements GroupMember {
  conn: ServerConnection | undefined;
  /** when the member was last heard from, for eviction once its connection is gone */
  lastSeen = Date.now();
  /** partitions with a REVOKE under way: not reported as owned to a rejoining member */
  readonly revoking = new Set<number>();

  constructor(
    readonly id: string,
    readonly group: string,
    readonly topic: string,
    private readonly settings: ServerSettings,
  ) {}

  attach(conn: ServerConnection): void {
    const old = this.conn;
    if (old === conn) return;
    if (old !== undefined) {
      old.membership.members.delete(this);
      old.membership.release(this.id);
    }
    this.conn = conn;
    conn.membership.members.add(this);
  }

  detach(): void {
    const conn = this.conn;
    if (conn === undefined) return;
    this.lastSeen = conn.lastSeen;
    conn.membership.members.delete(this);
    conn.membership.release(this.id);
    this.conn = undefined;
  }

  async onAssign(partitions: number[]): Promise<void> {
    await this.conn?.membership.push(FrameType.ASSIGN, this.id, partitions, this.settings.assignTimeoutMs);
  }

  async onRevoke(partitions: number[]): Promise<void> {
    for (const p of partitions) this.revoking.add(p);
    try {
      await this.conn?.membership.push(FrameType.REVOKE, this.id, partitions, this.settings.revokeTimeoutMs);
    } finally {
      for (const p of partitions) this.revoking.delete(p);
    }
  }
}

/** Every remote member of the server, by member id, and its place in the engine's groups. */
export class ServerMembership {
  private readonly members = new Map<string, MemberProxy>();

  constructor(
    private readonly engine: LogEngine,
    private readonly settings: ServerSettings,
  ) {}

  /** §7 JOIN. A rejoin answers synchronously, so no push can overtake the answer. */
  join(conn: ServerConnection, id: number, { group, topic, memberId, rejoin }: JoinRequest): Reply {
    this.engine.topic(topic); // TOPIC_NOT_FOUND before anything else
    const existing = this.members.get(memberId);
    if (existing !== undefined) {
      if (existing.group !== group || existing.topic !== topic) {
        throw new BrookError("INVALID_ARGUMENT", `memberId ${memberId} already belongs to group "${existing.group}" of topic "${existing.topic}"`);
      }
      existing.attach(conn);
      const partitions: number[] = [];
      for (const [p, owner] of this.engine.coordinator.assignment(group, topic)) {
        if (owner === memberId && !existing.revoking.has(p)) partitions.push(p);
      }
      partitions.sort((a, b) => a - b);
      return encodeJoinResponse(id, { status: "rejoined", partitions });
    }
    if (rejoin) return encodeJoinResponse(id, { status: "unknown" });
    const member = new MemberProxy(memberId, group, topic, this.settings);
    member.attach(conn);
    this.members.set(memberId, member);
    return this.engine.coordinator.join(group, topic, member).then(() => encodeJoinResponse(id, { status: "joined" }));
  }

  /** LEAVE: the member goes at once; its partitions are reassigned without waiting (§7). */
  leave(group: string, topic: string, memberId: string): Promise<void> {
    const member = this.members.get(memberId);
    if (member !== undefined) {
      this.members.delete(memberId);
      member.detach();
    }
    return this.engine.coordinator.leave(group, topic, memberId);
  }

  /** A connection dropped: its members stay in their groups until their session runs out (§7). */
  connectionClosed(conn: ServerConnection): void {
    for (const member of [...conn.membership.members]) member.detach();
  }

  /** A connection's session expired: its members leave their groups. */
  evictMembersOf(conn: ServerConnection, why: string): void {
    for (const member of [...conn.membership.members]) this.evict(member, why);
  }

  /** Members whose connection is gone and did not come back within the session timeout leave. */
  evictExpired(now: number): void {
    const timeout = this.settings.sessionTimeoutMs;
    for (const member of [...this.members.values()]) {
      if (member.conn === undefined && now - member.lastSeen > timeout) {
        this.evict(member, `connection lost and not re-established within the session timeout (${timeout} ms)`);
      }
    }
  }

  /** The server is closing: its members go with it, as they would if the process ended. */
  async close(): Promise<void> {
    const leaving = [...this.members.values()].map((member) => {
      this.members.delete(member.id);
      member.detach();
      return this.engine.coordinator.leave(member.group, member.topic, member.id).catch(() => undefined);
    });
    await Promise.all(leaving);
  }

  private evict(member: MemberProxy, why: string): void {
    if (this.members.get(member.id) !== member) return;
    this.members.delete(member.id);
    member.detach();
    this.settings.logger.info(`evicted member ${member.id} of group "${member.group}" (topic "${member.topic}"): ${why}`);
    void this.engine.coordinator.leave(member.group, member.topic, member.id).catch((err) => {
      this.settings.logger.warn(`rebalance after evicting ${member.id} failed: ${toBrookError(err).message}`);
    });
  }
}
