import { expect } from "@jest/globals";
import type { ReceivedMessage } from "@brook/core";
import { needs, type ContractContext } from "./context.js";
import { sleep, uniqueTopic, waitFor } from "./helpers.js";
import { KeySequences, inOrderOnce, keyedMessages, type Keyed } from "./keyed.js";

/** Where a group starts, and moving it: startFrom for a new group, seek for a running one. */
export function seekCases(ctx: ContractContext): void {
  const { when, wait } = ctx;

  // A new group starting from a time before it existed needs the same history as "earliest".
  when("startFrom decides where a new group begins: earliest, latest or a time", needs.historyForNewGroups, async () => {
    const name = await ctx.topic("start", 1);
    const pub = ctx.broker.publisher<number>(name);
    await pub.publishBatch([0, 1, 2].map((i) => ({ data: i })));
    await sleep(50);
    const middle = new Date();
    await sleep(50);
    await pub.publishBatch([3, 4].map((i) => ({ data: i })));
    const earliest: number[] = [];
    const latest: number[] = [];
    const fromTime: number[] = [];
    await ctx.subscribe<number>(name, { group: "e", startFrom: "earliest", handler: (m) => void earliest.push(m.data) });
    const late = await ctx.subscribe<number>(name, { group: "l", startFrom: "latest", handler: (m) => void latest.push(m.data) });
    await ctx.subscribe<number>(name, { group: "t", startFrom: { time: middle }, handler: (m) => void fromTime.push(m.data) });
    await waitFor(() => late.assignment().length > 0, wait(20_000), "the latest subscriber's assignment");
    await pub.publish({ data: 5 });
    await waitFor(() => earliest.length >= 6 && latest.length >= 1 && fromTime.length >= 3, wait(20_000), "all three groups");
    await sleep(100);
    expect(earliest).toEqual([0, 1, 2, 3, 4, 5]);
    expect(latest).toEqual([5]);
    expect(fromTime).toEqual([3, 4, 5]);
    await pub.close();
  });

  // A backend that creates the group's cursor at its first subscribe (a Pub/Sub subscription
  // without a seek back) starts after the history and only ever sees the last message.
  when("a new group sees messages published before it existed when it starts from earliest", needs.historyForNewGroups, async () => {
    const keys = 3;
    const perKey = 10;
    const name = await ctx.topic("history");
    const pub = ctx.broker.publisher<Keyed>(name);
    const results = await pub.publishBatch(keyedMessages(keys, 0, perKey));
    expect(results.every((r) => r.ok)).toBe(true);
    const got = new KeySequences();
    await ctx.subscribe<Keyed>(name, { group: uniqueTopic("never-seen"), startFrom: "earliest", handler: (m) => got.record(m.data) });
    await waitFor(() => got.count >= keys * perKey, wait(30_000), `the ${keys * perKey} messages published before the group existed (got ${got.count})`);
    await pub.publishBatch(keyedMessages(keys, perKey, perKey + 1));
    await waitFor(() => got.count >= keys * (perKey + 1), wait(30_000), "the messages published after the group existed");
    await sleep(100);
    expect(got.all(keys)).toEqual(inOrderOnce(keys, perKey + 1));
    await pub.close();
  });

  when("a seek to a time replays messages that were already acknowledged", needs.replayByTime, async () => {
    const name = await ctx.topic("seektime", 1);
    const got: number[] = [];
    const sub = await ctx.subscribe<number>(name, { group: "g", handler: (m) => void got.push(m.data) });
    const pub = ctx.broker.publisher<number>(name);
    await pub.publishBatch([0, 1].map((i) => ({ data: i })));
    await sleep(50);
    const middle = new Date();
    await sleep(50);
    await pub.publishBatch([2, 3].map((i) => ({ data: i })));
    await waitFor(() => got.length >= 4, wait(20_000), "four messages");
    await sub.seek({ time: middle });
    await waitFor(() => got.length >= 6, wait(20_000), "the replay");
    await sleep(100);
    expect(got).toEqual([0, 1, 2, 3, 2, 3]);
    await pub.close();
  });

  when("a seek to a position replays from that position", needs.seekOffset, async () => {
    const name = await ctx.topic("seekpos", 1);
    const got: ReceivedMessage<number>[] = [];
    const sub = await ctx.subscribe<number>(name, { group: "g", handler: (m) => void got.push(m) });
    const pub = ctx.broker.publisher<number>(name);
    const results = await pub.publishBatch([0, 1, 2, 3].map((i) => ({ data: i })));
    await waitFor(() => got.length >= 4, wait(20_000), "four messages");
    const third = results[2]!;
    if (!third.ok) throw third.error;
    await sub.seek({ positions: [third.position] });
    await waitFor(() => got.length >= 6, wait(20_000), "the replay");
    await sleep(100);
    expect(got.map((m) => m.data)).toEqual([0, 1, 2, 3, 2, 3]);
    await pub.close();
  });

  when("a seek the backend cannot do is refused with UNSUPPORTED, not ignored", needs.missingSeek, async () => {
    const name = await ctx.topic("seekno", 1);
    const sub = await ctx.subscribe<number>(name, { group: "g", handler: () => undefined });
    const target = ctx.caps.seek.offset ? { time: new Date() } : { positions: [{ partition: "0", offset: "0" }] };
    await expect(sub.seek(target)).rejects.toMatchObject({ code: "UNSUPPORTED" });
  });
}
