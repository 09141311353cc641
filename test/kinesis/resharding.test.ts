/**
 * Resharding under load: one shard splits and two merge while a group of two workers consumes
 * and a producer keeps publishing. Nothing is lost and every key's messages are handled in
 * publish order across parent → child, because a child is read only after its parents are
 * finished (SHARD_END checkpointed once every parent record was settled).
 */
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { connect, type Broker } from "@brook/core";
import type { KinesisBroker } from "@brook/adapter-kinesis";
import { sleep, uniqueTopic, waitFor } from "@brook/contract-tests";
import { MergeShardsCommand, SplitShardCommand } from "@aws-sdk/client-kinesis";
import { describeKinesis, stopAfterAll, useKinesis } from "./emulator.js";
import { KeyLog, rawClients, scanTable, shards, waitActive } from "./helpers.js";

interface Msg {
  k: string;
  i: number;
}

describeKinesis("resharding", () => {
  const k = useKinesis();
  let raw: ReturnType<typeof rawClients>;
  const brokers: Broker[] = [];

  beforeAll(() => {
    raw = rawClients(k);
  });
  afterAll(async () => {
    await Promise.allSettled(brokers.map((b) => b.close()));
    raw?.close();
  });
  stopAfterAll(k);

  test("a split and a merge while a group consumes: nothing lost, each key once and in order across parent → child", async () => {
    // Shard sync every 500 ms creates child leases while their parents are still being read (as a
    // worker joining mid-reshard would), so children exist early and must wait for their parents.
    const url = k.url("&failoverTimeMs=6000&takeIntervalMs=1000&pollIntervalMs=200&shardSyncIntervalMs=500&leaseTable={group}-{topic}");
    const a = (await connect(url)) as KinesisBroker;
    const b = (await connect(url)) as KinesisBroker;
    brokers.push(a, b);
    const name = uniqueTopic("reshard");
    await a.admin.createTopic(name, { partitions: 2 });
    const keys = 40;
    const perKey = 60;
    const log = new KeyLog();
    const running = new Map<string, number>();
    const overlaps: string[] = [];
    const handler = async (m: { data: Msg }): Promise<void> => {
      if (running.has(m.data.k)) overlaps.push(`${m.data.k}#${m.data.i} while #${running.get(m.data.k)}`);
      running.set(m.data.k, m.data.i);
      log.record(m.data.k, m.data.i);
      // Slower than the producer, so parents still hold unread records when their children
      // start receiving new ones: a child read too early would overtake its parent.
      await sleep(5 + Math.floor(Math.random() * 10));
      running.delete(m.data.k);
    };
    const options = { group: "resharders", startFrom: "earliest" as const, maxInFlight: 16, commitIntervalMs: 200, handler };
    await a.subscribe<Msg>(name, options);
    await b.subscribe<Msg>(name, options);

    const pub = a.publisher<Msg>(name);
    let published = 0;
    const publishing = (async () => {
      for (let i = 0; i < perKey; i++) {
        const results = await pub.publishBatch(Array.from({ length: keys }, (_, n) => ({ key: `key-${n}`, data: { k: `key-${n}`, i } })));
        const failed = results.find((r) => !r.ok);
        if (failed !== undefined && !failed.ok) throw failed.error;
        published += keys;
        await sleep(40);
      }
    })();

    // Split shard 0 at its middle once a third is out, merge two adjacent open shards at two thirds.
    await waitFor(() => published >= (keys * perKey) / 3 && log.count > 100, 60_000, "a third published and consumption under way");
    expect(log.count).toBeLessThan(published); // the group is behind: the parent has unread records
    const [first] = await shards(raw.kinesis, name);
    const lo = BigInt(first!.HashKeyRange!.StartingHashKey!);
    const hi = BigInt(first!.HashKeyRange!.EndingHashKey!);
    await raw.kinesis.send(new SplitShardCommand({ StreamName: name, ShardToSplit: first!.ShardId!, NewStartingHashKey: ((lo + hi) / 2n).toString() }));
    await waitActive(raw.kinesis, name);
    await waitFor(() => published >= (2 * keys * perKey) / 3, 60_000, "two thirds published");
    const open = (await shards(raw.kinesis, name))
      .filter((s) => s.SequenceNumberRange?.EndingSequenceNumber === undefined)
      .sort((x, y) => (BigInt(x.HashKeyRange!.StartingHashKey!) < BigInt(y.HashKeyRange!.StartingHashKey!) ? -1 : 1));
    // The upper child of the split and the untouched shard are adjacent.
    const [left, right] = [open[1]!, open[2]!];
    await raw.kinesis.send(new MergeShardsCommand({ StreamName: name, ShardToMerge: left.ShardId!, AdjacentShardToMerge: right.ShardId! }));
    await waitActive(raw.kinesis, name);
    await publishing;

    await waitFor(() => log.count >= keys * perKey, 120_000, `${keys * perKey} messages handled (got ${log.count})`);
    await sleep(500);
    expect(overlaps).toEqual([]);
    expect(log.keys()).toBe(keys);
    expect(log.outOfOrder(perKey)).toEqual([]);

    // The lease table tells the same story: parents finished with their children named, the
    // merged child names both parents.
    const all = await shards(raw.kinesis, name);
    expect(all).toHaveLength(5); // 2 original, 2 from the split, 1 from the merge (closed ones stay listed)
    await waitFor(
      async () => (await scanTable(raw.dynamo, `resharders-${name}`)).filter((i) => i.checkpoint?.S === "SHARD_END").length === 3,
      30_000,
      "three parents at SHARD_END",
    );
    const items = await scanTable(raw.dynamo, `resharders-${name}`);
    const byShard = new Map(items.map((i) => [i.shardId?.S ?? i.leaseKey!.S!, i]));
    const merged = all.find((s) => s.AdjacentParentShardId !== undefined)!;
    expect(byShard.get(merged.ShardId!)?.parentShardId?.SS?.sort()).toEqual([merged.ParentShardId!, merged.AdjacentParentShardId!].sort());
    expect(byShard.get(first!.ShardId!)?.childShardIds?.SS?.length).toBe(2);
    await pub.close();
  }, 240_000);

  test("admin.setPartitions reshards with UpdateShardCount and consumers follow into the new shards", async () => {
    const broker = (await connect(k.url("&failoverTimeMs=6000&takeIntervalMs=1000&pollIntervalMs=200"))) as KinesisBroker;
    brokers.push(broker);
    const name = uniqueTopic("scale");
    await broker.admin.createTopic(name, { partitions: 1 });
    const log = new KeyLog();
    await broker.subscribe<Msg>(name, { group: "scalers", startFrom: "earliest", handler: (m) => log.record(m.data.k, m.data.i) });
    const pub = broker.publisher<Msg>(name);
    const round = (i: number) => pub.publishBatch(Array.from({ length: 20 }, (_, n) => ({ key: `key-${n}`, data: { k: `key-${n}`, i } })));
    for (let i = 0; i < 5; i++) await round(i);
    await broker.admin.setPartitions(name, 2);
    expect((await broker.admin.describeTopic(name)).partitions).toBe(2);
    for (let i = 5; i < 10; i++) await round(i);
    await waitFor(() => log.count >= 200, 60_000, `200 messages (got ${log.count})`);
    await sleep(300);
    expect(log.outOfOrder(10)).toEqual([]);
    await expect(broker.admin.setPartitions(name, 0)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(broker.admin.setPartitions(uniqueTopic("missing"), 2)).rejects.toMatchObject({ code: "TOPIC_NOT_FOUND" });
    await pub.close();
  }, 120_000);
});
