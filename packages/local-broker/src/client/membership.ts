/**
 * Group members of this client across the wire (../../PROTOCOL.md §7): JOIN and LEAVE, the
 * server's ASSIGN/REVOKE pushes turned into the member's onAssign/onRevoke, and re-joining
 * after a reconnect, which takes back the partitions the server still gives the member.
 */
import { isBrookError, type Logger } from "@brook/core/base";
import { toBrookError } from "@brook/core/base";
import type { GroupMember } from "../coordinator.js";
import { FrameType, type Frame } from "../wire/frames.js";
import { decodeJoinResponse, decodePush, encodeJoinRequest, encodeLeaveRequest, type JoinAnswer } from "../wire/ops.js";
import type { ClientConnection, MembershipHooks } from "./connection.js";

interface MemberEntry {
  group: string;
  topic: string;
  member: GroupMember;
  /** partitions this member consumes, as far as this client knows */
  owned: Set<number>;
  /** pushes and re-joins of one member run one at a time, in arrival order */
  chain: Promise<void>;
  /** its first JOIN succeeded, so it re-joins after a reconnect */
  joined: boolean;
}

export class RemoteMembership implements MembershipHooks {
  private readonly members = new Map<string, MemberEntry>();

  constructor(
    private readonly connection: ClientConnection,
    private readonly logger: Logger,
  ) {}

  /** Joins; ASSIGN pushes this causes reach `member` before this resolves (§7). */
  async join(group: string, topic: string, member: GroupMember): Promise<void> {
    const entry: MemberEntry = { group, topic, member, owned: new Set(), chain: Promise.resolve(), joined: false };
    this.members.set(member.id, entry);
    try {
      await this.sendJoin(group, topic, member.id);
      entry.joined = true;
    } catch (err) {
      if (this.members.get(member.id) === entry) this.members.delete(member.id);
      // The join may have been applied before the connection dropped: take it back.
      if (isBrookError(err) && (err.code === "UNAVAILABLE" || err.code === "TIMEOUT")) void this.sendLeave(group, topic, member.id).catch(() => undefined);
      throw err;
    }
  }

  async leave(group: string, topic: string, memberId: string): Promise<void> {
    this.members.delete(memberId);
    await this.sendLeave(group, topic, memberId);
  }

  /** The client is closing: no member hears anything more. */
  clear(): void {
    this.members.clear();
  }

  /** §7: ASSIGN / REVOKE for one of our members; the reply goes out once the member is done. */
  onPush(f: Frame, reply: () => void): void {
    const { memberId, partitions } = decodePush(f.body);
    const entry = this.members.get(memberId);
    if (entry === undefined) {
      reply();
      return;
    }
    const task =
      f.type === FrameType.ASSIGN
        ? async () => {
            const fresh = partitions.filter((p) => !entry.owned.has(p));
            for (const p of fresh) entry.owned.add(p);
            if (fresh.length > 0) await entry.member.onAssign(fresh);
          }
        : async () => {
            const held = partitions.filter((p) => entry.owned.has(p));
            for (const p of held) entry.owned.delete(p);
            if (held.length > 0) await entry.member.onRevoke(held);
          };
    void this.enqueue(entry, task).then(reply);
  }

  /** §7: every joined member takes its partitions back, or releases them and joins afresh. */
  async onReconnected(): Promise<void> {
    await Promise.all(
      [...this.members].map(([memberId, entry]) =>
        entry.joined
          ? this.rejoin(memberId, entry).catch((err) => this.logger.warn(`member ${memberId} (group "${entry.group}") could not re-join: ${toBrookError(err).message}`))
          : Promise.resolve(),
      ),
    );
  }

  private async rejoin(memberId: string, entry: MemberEntry): Promise<void> {
    const { group, topic } = entry;
    const answer = await this.connection.call<JoinAnswer>(FrameType.JOIN, encodeJoinRequest({ group, topic, memberId, rejoin: true }), decodeJoinResponse, {
      // Runs before any push that follows the answer, so the member's view stays in order.
      onResponse: (value) => {
        if (value.status === "rejoined") void this.enqueue(entry, () => this.reconcile(entry, value.partitions));
      },
    });
    if (answer.status === "rejoined") return;
    // The server no longer knows the member (it restarted, or evicted us): let go, then join afresh.
    await this.enqueue(entry, async () => {
      const held = [...entry.owned];
      entry.owned.clear();
      if (held.length > 0) await entry.member.onRevoke(held);
    });
    if (this.members.get(memberId) !== entry) return;
    await this.sendJoin(group, topic, memberId);
  }

  private async reconcile(entry: MemberEntry, serverPartitions: number[]): Promise<void> {
    const server = new Set(serverPartitions);
    const lost = [...entry.owned].filter((p) => !server.has(p));
    const gained = serverPartitions.filter((p) => !entry.owned.has(p));
    for (const p of lost) entry.owned.delete(p);
    if (lost.length > 0) await entry.member.onRevoke(lost);
    for (const p of gained) entry.owned.add(p);
    if (gained.length > 0) await entry.member.onAssign(gained);
  }

  private enqueue(entry: MemberEntry, task: () => Promise<void>): Promise<void> {
    const run = entry.chain.then(task).catch((err) => {
      this.logger.warn(`group member ${entry.member.id} (group "${entry.group}"): ${toBrookError(err).message}`);
    });
    entry.chain = run;
    return run;
  }

  /** A plain JOIN answers after the rebalance it causes, so it may take two request timeouts. */
  private async sendJoin(group: string, topic: string, memberId: string): Promise<void> {
    await this.connection.call(FrameType.JOIN, encodeJoinRequest({ group, topic, memberId, rejoin: false }), ignore, {
      timeoutMs: this.connection.requestTimeoutMs * 2,
    });
  }

  private async sendLeave(group: string, topic: string, memberId: string): Promise<void> {
    await this.connection.call(FrameType.LEAVE, encodeLeaveRequest(group, topic, memberId), ignore);
  }
}

function ignore(): undefined {
  return undefined;
}
