import { expect } from "@jest/globals";
import type { ReceivedMessage } from "@brook/core";
import type { ContractContext } from "./context.js";
import { sleep, uniqueTopic, waitFor } from "./helpers.js";
import type { Capabilities } from "@brook/core";

/**
 * Offsets that count messages (next = last + 1): not Kinesis (resharding streams, sequence
 * numbers with gaps), whose Admin refuses partitionOffsets with UNSUPPORTED. Its groupPositions
 * reads the lease table (the sequence number last checkpointed, comparable, not countable).
 */
const countedOffsets = (c: Capabilities): string | undefined => (c.seek.offset && c.partitions !== "resharding" ? undefined : "offsets that count messages (seek.offset, no resharding)");
const groupPositionsReadable = (_c: Capabilities): string | undefined => undefined;
const groupPositionsCopyable = (c: Capabilities): string | undefined => (c.partitions === "resharding" ? "copyGroupPositions (not yet on resharding backends: Kinesis)" : undefined);

/** Reading where a group stands and what a topic holds, without joining the group. */
export function positionCases(ctx: ContractContext): void {
  const { when, wait } = ctx;

  when("groupPositions reports what a group settled: the last settled offset on logs, the oldest unsettled publish time elsewhere; nothing for a group that never subscribed", groupPositionsReadable, async () => {
    const name = await ctx.topic("positions", 1);
    const group = uniqueTopic("settled");
    const pub = ctx.broker.publisher<number>(name);
    const got: ReceivedMessage<number>[] = [];
    const sub = await ctx.broker.subscribe<number>(name, { group, startFrom: "earliest", commitIntervalMs: 20, handler: (m) => void got.push(m) });
    for (const i of [0, 1, 2]) await pub.publish({ key: "k", data: i });
    await waitFor(() => got.length === 3, wait(20_000), "three messages");
    await sub.close();
    await sleep(5);
    await pub.publish({ key: "k", data: 3 });
    // The fourth message is unsettled; a second group sees when it was published.
    const peek: ReceivedMessage<number>[] = [];
    await ctx.subscribe<number>(name, { group: uniqueTopic("peek"), startFrom: "earliest", handler: (m) => void peek.push(m) });
    await waitFor(() => peek.some((m) => m.data === 3), wait(20_000), "the unsettled message");
    const fourth = peek.find((m) => m.data === 3)!;

    const positions = await ctx.broker.admin.groupPositions(name, group);
    const third = got[2]!;
    const mine = positions.find((p) => p.partition === third.position.partition);
    expect(mine).toBeDefined();
    if (ctx.caps.seek.offset) {
      expect(mine!.committed).toBe(third.position.offset);
    } else {
      // Every settled message was published before it, the unsettled one not.
      expect(mine!.settledBefore).toBeInstanceOf(Date);
      expect(mine!.settledBefore!.getTime()).toBeGreaterThan(third.publishTime.getTime());
      expect(mine!.settledBefore!.getTime()).toBeLessThanOrEqual(fourth.publishTime.getTime() + 1);
    }
    expect(await ctx.broker.admin.groupPositions(name, uniqueTopic("never"))).toEqual([]);
    await expect(ctx.broker.admin.groupPositions(uniqueTopic("no-such-topic"), group)).rejects.toMatchObject({ code: "TOPIC_NOT_FOUND" });
    await pub.close();
  });

  when("partitionOffsets reports each partition's first retained offset and the offset the next message gets", countedOffsets, async () => {
    const name = await ctx.topic("offsets", 2);
    const pub = ctx.broker.publisher<number>(name);
    const results = await pub.publishBatch([0, 1, 2].map((i) => ({ key: "same", data: i })));
    const partition = results[0]!.ok ? results[0]!.position.partition : "?";
    const offsets = await ctx.broker.admin.partitionOffsets(name);
    expect(offsets.map((o) => o.partition).sort()).toEqual(["0", "1"]);
    for (const o of offsets) {
      if (o.partition === partition) expect(BigInt(o.end) - BigInt(o.start)).toBe(3n);
      else expect(o.end).toBe(o.start);
    }
    await expect(ctx.broker.admin.partitionOffsets(uniqueTopic("no-such-topic"))).rejects.toMatchObject({ code: "TOPIC_NOT_FOUND" });
    await pub.close();
  });

  when("partitionOffsets on a backend without offsets is refused with UNSUPPORTED, not answered with a guess", (c) => (c.seek.offset && c.partitions !== "resharding" ? "offsets that count messages" : undefined), async () => {
    const name = await ctx.topic("no-offsets", 1);
    await expect(ctx.broker.admin.partitionOffsets(name)).rejects.toMatchObject({ code: "UNSUPPORTED" });
  });

  when(
    "copyGroupPositions starts a new group where another stands (blue/green): it gets every message the first had not settled, none that it had (on offsets), and bad requests are INVALID_ARGUMENT",
    groupPositionsCopyable,
    async () => {
      const name = await ctx.topic("blue-green", 1);
      const blue = uniqueTopic("blue");
      const green = uniqueTopic("green");
      const pub = ctx.broker.publisher<number>(name);
      const blueGot: number[] = [];
      const blueSub = await ctx.broker.subscribe<number>(name, { group: blue, startFrom: "earliest", commitIntervalMs: 20, handler: (m) => void blueGot.push(m.data) });
      for (let i = 0; i < 5; i++) await pub.publish({ key: "k", data: i });
      await waitFor(() => blueGot.length >= 5, wait(20_000), "blue handles 0..4");
      await blueSub.close();
      for (let i = 5; i < 10; i++) await pub.publish({ key: "k", data: i });

      const positions = await ctx.broker.admin.copyGroupPositions(name, blue, green);
      expect(positions.length).toBeGreaterThan(0);
      const greenGot: number[] = [];
      await ctx.subscribe<number>(name, { group: green, startFrom: "latest", handler: (m) => void greenGot.push(m.data) });
      await waitFor(() => [5, 6, 7, 8, 9].every((n) => greenGot.includes(n)), wait(30_000), "green gets 5..9");
      await sleep(200);
      // Nothing handled by neither: everything blue left is green's. With offsets, green starts exactly there.
      if (ctx.caps.seek.offset) expect([...greenGot].sort((a, b) => a - b)).toEqual([5, 6, 7, 8, 9]);
      await expect(ctx.broker.admin.copyGroupPositions(name, blue, blue)).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/^to:/) });
      await expect(ctx.broker.admin.copyGroupPositions(name, uniqueTopic("never"), uniqueTopic("x"))).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/^from:/) });
      await expect(ctx.broker.admin.copyGroupPositions(uniqueTopic("no-such-topic"), blue, green)).rejects.toMatchObject({ code: "TOPIC_NOT_FOUND" });
      await pub.close();
    },
  );
}
