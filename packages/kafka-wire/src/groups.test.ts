import { afterEach, describe, expect, it } from "@jest/globals";
import { LogEngine, MemoryStore } from "@brook/local-broker/engine";
import { GroupCoordinator } from "./groups.js";

const join = (c: GroupCoordinator, memberId = "", sessionTimeoutMs = 10_000) =>
  c.join("g", { memberId, groupInstanceId: null, clientId: "c", clientHost: "h", sessionTimeoutMs, rebalanceTimeoutMs: 2000, protocolType: "consumer", protocols: [["range", Buffer.from("m")]] });

let coordinator: GroupCoordinator | undefined;
afterEach(() => coordinator?.close());

describe("Kafka group coordinator", () => {
  it("elects a leader, relays its assignment, and fences by generation and member", async () => {
    const engine = await LogEngine.open(new MemoryStore());
    const c = (coordinator = new GroupCoordinator(engine));
    const first = await join(c);
    expect([first.error, first.generation, first.leader]).toEqual([0, 1, first.memberId]);
    expect(first.members.map((m) => m.memberId)).toEqual([first.memberId]);
    expect(await c.sync("g", first.memberId, 1, [[first.memberId, Buffer.from("p0")]])).toEqual({ error: 0, assignment: Buffer.from("p0") });
    expect(c.heartbeat("g", first.memberId, 1)).toBe(0);
    expect(c.heartbeat("g", first.memberId, 0)).toBe(22); // ILLEGAL_GENERATION
    expect(c.heartbeat("g", "nobody", 1)).toBe(25); // UNKNOWN_MEMBER_ID
    // a second member: the first learns of the rebalance by heartbeat, rejoins, both get generation 2
    const second = join(c);
    expect(c.heartbeat("g", first.memberId, 1)).toBe(27); // REBALANCE_IN_PROGRESS
    expect(c.check("g", first.memberId, 1, "commit")).toBe(0); // committing what it revokes is allowed
    const again = await join(c, first.memberId);
    const other = await second;
    expect([again.generation, other.generation]).toEqual([2, 2]);
    expect(again.members).toHaveLength(2); // the leader sees everyone's metadata
    expect(other.members).toHaveLength(0);
    const followerSync = c.sync("g", other.memberId, 2, []);
    await c.sync("g", again.memberId, 2, [[other.memberId, Buffer.from("p1")], [again.memberId, Buffer.from("p0")]]);
    expect((await followerSync).assignment).toEqual(Buffer.from("p1"));
    await engine.close();
  });

  it("expires a member that stops heartbeating after its session timeout", async () => {
    const engine = await LogEngine.open(new MemoryStore());
    const c = (coordinator = new GroupCoordinator(engine));
    const m = await join(c, "", 100);
    await c.sync("g", m.memberId, 1, []);
    const start = Date.now();
    while (c.groups.get("g")!.members.size > 0 && Date.now() - start < 2000) await new Promise((r) => setTimeout(r, 20));
    expect(c.heartbeat("g", m.memberId, 1)).toBe(25);
    expect(c.groups.get("g")!.state).toBe("Empty");
    await engine.close();
  });
});
