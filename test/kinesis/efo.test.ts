/**
 * Enhanced fan-out (efo=true): the group registers a stream consumer and reads with
 * SubscribeToShard over HTTP/1.1. kinesis-local never reports a closed shard's end over
 * fan-out, so a split is followed by polling the closed parent to its end (as the adapter does
 * wherever fan-out stays silent); per-key order still holds across it.
 */
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { connect } from "@brook/core";
import type { KinesisBroker } from "@brook/adapter-kinesis";
import { sleep, uniqueTopic, waitFor } from "@brook/contract-tests";
import { ListStreamConsumersCommand, SplitShardCommand } from "@aws-sdk/client-kinesis";
import { describeKinesis, stopAfterAll, useKinesis } from "./emulator.js";
import { KeyLog, rawClients, shards, waitActive } from "./helpers.js";

interface Msg {
  k: string;
  i: number;
}

describeKinesis("enhanced fan-out", () => {
  const k = useKinesis();
  let broker: KinesisBroker;
  let raw: ReturnType<typeof rawClients>;

  beforeAll(async () => {
    broker = (await connect(k.url("&efo=true&failoverTimeMs=6000&takeIntervalMs=1000&pollIntervalMs=200&leaseTable={group}-{topic}"))) as KinesisBroker;
    raw = rawClients(k);
  });
  afterAll(async () => {
    await broker?.close();
    raw?.close();
  });
  stopAfterAll(k);

  test("a group reads through its own stream consumer; a split is followed to the children with keys in order", async () => {
    const name = uniqueTopic("efo");
    await broker.admin.createTopic(name, { partitions: 2 });
    const log = new KeyLog();
    const headers: string[] = [];
    await broker.subscribe<Msg>(name, {
      group: "fanout",
      startFrom: "earliest",
      handler: async (m) => {
        log.record(m.data.k, m.data.i);
        if (m.headers.n !== undefined) headers.push(m.headers.n);
        await sleep(Math.random() < 0.9 ? 0 : 2);
      },
    });
    const summary = await broker.admin.summary(name);
    const consumers = await raw.kinesis.send(new ListStreamConsumersCommand({ StreamARN: summary!.StreamARN! }));
    expect(consumers.Consumers?.map((c) => [c.ConsumerName, c.ConsumerStatus])).toEqual([["fanout", "ACTIVE"]]);

    const pub = broker.publisher<Msg>(name);
    const keys = 20;
    const round = async (i: number): Promise<void> => {
      const results = await pub.publishBatch(Array.from({ length: keys }, (_, n) => ({ key: `key-${n}`, data: { k: `key-${n}`, i }, headers: { n: `${n}.${i}` } })));
      expect(results.every((r) => r.ok)).toBe(true);
    };
    for (let i = 0; i < 10; i++) await round(i);
    await waitFor(() => log.count >= keys * 10, 60_000, `the first ${keys * 10} messages over fan-out (got ${log.count})`);
    const [first] = await shards(raw.kinesis, name);
    const lo = BigInt(first!.HashKeyRange!.StartingHashKey!);
    const hi = BigInt(first!.HashKeyRange!.EndingHashKey!);
    await raw.kinesis.send(new SplitShardCommand({ StreamName: name, ShardToSplit: first!.ShardId!, NewStartingHashKey: ((lo + hi) / 2n).toString() }));
    await waitActive(raw.kinesis, name);
    for (let i = 10; i < 20; i++) await round(i);
    await waitFor(() => log.count >= keys * 20, 90_000, `${keys * 20} messages across the split (got ${log.count})`);
    await sleep(300);
    expect(log.outOfOrder(20)).toEqual([]);
    expect(headers).toHaveLength(keys * 20);
    await pub.close();
  }, 150_000);

  test("a subscription renewed before its 5-minute end (efoRenewMs, short here) resumes after the last record: each message once, in order", async () => {
    const name = uniqueTopic("efo-renew");
    const renewing = (await connect(k.url("&efo=true&efoRenewMs=2000&failoverTimeMs=6000&takeIntervalMs=1000&pollIntervalMs=200&leaseTable={group}-{topic}"))) as KinesisBroker;
    let subscribes = 0;
    renewing.kinesis.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === "SubscribeToShardCommand") subscribes += 1;
        return next(args);
      },
      { step: "initialize", name: "countSubscribes" },
    );
    try {
      await renewing.admin.createTopic(name, { partitions: 1 });
      const log = new KeyLog();
      await renewing.subscribe<Msg>(name, { group: "renewers", startFrom: "earliest", handler: (m) => void log.record(m.data.k, m.data.i) });
      const pub = renewing.publisher<Msg>(name);
      const rounds = 10;
      for (let i = 0; i < rounds; i++) {
        const results = await pub.publishBatch(Array.from({ length: 5 }, (_, n) => ({ key: `key-${n}`, data: { k: `key-${n}`, i } })));
        expect(results.every((r) => r.ok)).toBe(true);
        await sleep(600);
      }
      await waitFor(() => log.count >= 5 * rounds, 60_000, `${5 * rounds} messages over renewed subscriptions (got ${log.count})`);
      await sleep(500);
      expect(log.outOfOrder(rounds)).toEqual([]);
      // Publishing took ~6 s: the 2-second subscriptions were renewed on the way.
      expect(subscribes).toBeGreaterThanOrEqual(3);
    } finally {
      await renewing.close();
    }
  }, 90_000);
});
