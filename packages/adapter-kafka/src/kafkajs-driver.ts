/**
 * The default driver: KafkaJS 2.2.4 behind the interfaces of driver.ts.
 *
 * KafkaJS has no rebalance listener (no onPartitionsRevoked) and only the eager protocol. Its
 * consumer rejoins as soon as a heartbeat reports REBALANCE_IN_PROGRESS, and the REBALANCING
 * event cannot delay that. Every join starts with `cluster.findGroupCoordinator()`, and KafkaJS
 * hands the consumer's cluster to partition assigners, so the consumer's assigner wraps that
 * call: `hooks.beforeJoin()` runs and is awaited before each JoinGroup. That is the moment the
 * Java client calls onPartitionsRevoked with the eager protocol. Checked against the KafkaJS
 * 2.2.4 sources (consumerGroup.js [JOIN] is the only caller on the consumer's cluster apart
 * from consumer.describeGroup, which the adapter does not use).
 *
 * Two more KafkaJS traits are worked around here: its round-robin assigner ignores members'
 * own subscriptions (see roundRobinAssigner), and consumers of one client share a
 * committed-offsets table per group (so each consumer gets a client of its own).
 */
import kafkajs from "kafkajs";
import { waitWithTimeout } from "@brook/core/spi";
import { KafkaSockets } from "./kafkajs-sockets.js";
import { kafkaErrorType } from "./errors.js";
import type {
  Admin,
  Assigner,
  Cluster,
  Consumer,
  EachBatchPayload,
  GroupMember,
  GroupMemberAssignment,
  IHeaders,
  Kafka,
  LogEntry,
  Message,
  PartitionAssigner,
  Producer,
  SASLOptions,
} from "kafkajs";
import type {
  ConsumerHooks,
  DriverAdmin,
  DriverBatch,
  DriverConfig,
  DriverConsumer,
  DriverConsumerOptions,
  DriverGroup,
  DriverLogLevel,
  DriverOutgoing,
  DriverProducer,
  DriverProducerOptions,
  DriverRecord,
  DriverTopicSpec,
  KafkaDriver,
  KafkaDriverFactory,
} from "./driver.js";

const { Kafka: KafkaClient, AssignerProtocol, CompressionTypes, ConfigResourceTypes, logLevel } = kafkajs;

const LEVELS: Record<DriverLogLevel, number> = {
  nothing: logLevel.NOTHING,
  error: logLevel.ERROR,
  warn: logLevel.WARN,
  info: logLevel.INFO,
  debug: logLevel.DEBUG,
};

/** how long createTopic waits for a new topic's leaders after KafkaJS' own wait gave up */
const LEADERS_WAIT_MS = 10_000;

/** Internal topics Brook never lists as application topics. */
const INTERNAL_TOPIC = /^__/;

export const kafkajsDriver: KafkaDriverFactory = (config: DriverConfig): KafkaDriver => {
  const client = (sockets: KafkaSockets): Kafka =>
    new KafkaClient({
      socketFactory: sockets.factory,
      clientId: config.clientId,
      brokers: config.brokers,
      ssl: config.ssl,
      ...(config.sasl === undefined ? {} : { sasl: config.sasl as SASLOptions }),
      connectionTimeout: config.connectionTimeoutMs,
      requestTimeout: config.requestTimeoutMs,
      logLevel: LEVELS[config.logLevel],
      // KafkaJS logs retried, self-healing conditions (coordinator loading, rebalancing) as errors;
      // they go to Brook's logger at warn, and real failures reach the application as BrookErrors.
      // The Connection namespace logs every error response it passes up to the caller (e.g.
      // TOPIC_ALREADY_EXISTS for an ifNotExists create): the caller reports those, so debug.
      logCreator: () => (entry: LogEntry) => {
        const error = (entry.log as { error?: unknown }).error;
        const text = `kafkajs ${entry.namespace}: ${entry.log.message}${typeof error === "string" ? ` (${error})` : ""}`;
        // The idempotent producer's warning about bounded retries (PRODUCER_RETRIES) does not
        // apply: a producer whose send failed is never used again (KafkajsProducer).
        const quiet = entry.log.message.startsWith("The group is rebalancing") || entry.log.message.startsWith("Limiting retries for the idempotent producer");
        if (entry.level <= logLevel.WARN && entry.namespace !== "Connection" && !quiet) {
          config.logger.warn(text);
        } else if (entry.level <= logLevel.INFO) config.logger.info(text);
        else config.logger.debug(text);
      },
    });
  const sharedSockets = new KafkaSockets();
  const shared = client(sharedSockets);
  return {
    name: "kafkajs",
    admin: () => {
      const admin = shared.admin({ retry: { retries: 5, initialRetryTime: 100 } });
      admin.on(admin.events.REQUEST_TIMEOUT, (e) => sharedSockets.requestTimedOut(e.payload.broker));
      return new KafkajsAdmin(admin);
    },
    producer: (options) => new KafkajsProducer(shared, sharedSockets, options),
    // A client of its own per consumer: a KafkaJS client keeps one committed-offsets table per
    // group id for all its consumers, and each rebalance of one consumer clears the table for
    // every topic but its own, which crashes a sibling consumer of the same group on another
    // topic ("Cannot read properties of undefined" in OffsetManager.resolveOffsets).
    consumer: (options) => {
      const sockets = new KafkaSockets();
      return new KafkajsConsumer(client(sockets), sockets, options);
    },
  };
};

// ---- admin ----

class KafkajsAdmin implements DriverAdmin {
  private connected: Promise<void> | undefined;

  constructor(private readonly admin: Admin) {}

  connect(): Promise<void> {
    this.connected ??= this.admin.connect();
    return this.connected;
  }

  async close(): Promise<void> {
    await this.admin.disconnect();
  }

  async listTopics(): Promise<string[]> {
    return (await this.admin.listTopics()).filter((t) => !INTERNAL_TOPIC.test(t));
  }

  async createTopic(name: string, spec: DriverTopicSpec): Promise<boolean> {
    try {
      return await this.admin.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic: name,
            ...(spec.partitions === undefined ? {} : { numPartitions: spec.partitions }),
            configEntries: Object.entries(spec.config).map(([name, value]) => ({ name, value })),
          },
        ],
      });
    } catch (err) {
      // The create succeeded; KafkaJS' wait for leaders then gives up at once when the broker
      // answers the new topic's metadata with UNKNOWN_TOPIC_OR_PARTITION, which a KRaft broker
      // does until its metadata has caught up with the create (seen under load). Wait here.
      if (kafkaErrorType(err) !== "UNKNOWN_TOPIC_OR_PARTITION") throw err;
      const deadline = Date.now() + LEADERS_WAIT_MS;
      while (Date.now() < deadline) {
        const meta = await this.admin.fetchTopicMetadata({ topics: [name] }).catch(() => undefined);
        const partitions = meta?.topics.find((t) => t.name === name)?.partitions;
        if (partitions !== undefined && partitions.length > 0 && partitions.every((p) => p.leader >= 0)) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return true;
    }
  }

  async deleteTopic(name: string): Promise<void> {
    await this.admin.deleteTopics({ topics: [name] });
  }

  async describeTopic(name: string, configNames: string[]): Promise<{ partitions: number; config: Record<string, string> } | undefined> {
    if (!(await this.admin.listTopics()).includes(name)) return undefined;
    const { topics } = await this.admin.fetchTopicMetadata({ topics: [name] });
    const meta = topics.find((t) => t.name === name);
    if (meta === undefined) return undefined;
    const config: Record<string, string> = {};
    if (configNames.length > 0) {
      const described = await this.admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name, configNames }],
      });
      for (const resource of described.resources) {
        for (const entry of resource.configEntries) config[entry.configName] = entry.configValue;
      }
    }
    return { partitions: meta.partitions.length, config };
  }

  async messageMaxBytes(): Promise<number | undefined> {
    const cluster = await this.admin.describeCluster();
    const broker = cluster.brokers[0];
    if (broker === undefined) return undefined;
    const described = await this.admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.BROKER, name: String(broker.nodeId), configNames: ["message.max.bytes"] }],
    });
    const value = described.resources[0]?.configEntries.find((e) => e.configName === "message.max.bytes")?.configValue;
    const n = Number(value);
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  }

  async topicOffsets(topic: string): Promise<Array<{ partition: number; low: string; high: string }>> {
    return (await this.admin.fetchTopicOffsets(topic)).map((o) => ({ partition: o.partition, low: o.low, high: o.high }));
  }

  async offsetsForTime(topic: string, timestamp: number): Promise<Array<{ partition: number; offset: string }>> {
    return (await this.admin.fetchTopicOffsetsByTimestamp(topic, timestamp)).map((o) => ({ partition: o.partition, offset: o.offset }));
  }

  async committedOffsets(group: string, topic: string): Promise<Map<number, string | undefined>> {
    const out = new Map<number, string | undefined>();
    const result = await this.admin.fetchOffsets({ groupId: group, topics: [topic] });
    for (const t of result) {
      if (t.topic !== topic) continue;
      for (const p of t.partitions) out.set(p.partition, BigInt(p.offset) >= 0n ? p.offset : undefined);
    }
    return out;
  }

  async deleteGroup(group: string): Promise<void> {
    await this.admin.deleteGroups([group]);
  }

  async listGroups(): Promise<DriverGroup[]> {
    const { groups } = await this.admin.listGroups();
    const consumerGroups = groups.filter((g) => g.protocolType === "consumer" || g.protocolType === "").map((g) => g.groupId);
    if (consumerGroups.length === 0) return [];
    const described = await this.admin.describeGroups(consumerGroups);
    return described.groups.map((g) => ({
      group: g.groupId,
      members: g.members.map((m) => {
        const assignment = new Map<string, number[]>();
        // An empty buffer while the group is rebalancing: the member owns nothing yet.
        const decoded = m.memberAssignment.length === 0 ? null : AssignerProtocol.MemberAssignment.decode(m.memberAssignment);
        for (const [topic, partitions] of Object.entries(decoded?.assignment ?? {})) assignment.set(topic, partitions);
        return { id: m.memberId, assignment };
      }),
    }));
  }

  async groupOffsets(group: string): Promise<Map<string, Map<number, string>>> {
    const out = new Map<string, Map<number, string>>();
    for (const t of await this.admin.fetchOffsets({ groupId: group })) {
      const partitions = new Map<number, string>();
      for (const p of t.partitions) if (BigInt(p.offset) >= 0n) partitions.set(p.partition, p.offset);
      if (partitions.size > 0) out.set(t.topic, partitions);
    }
    return out;
  }

  async setGroupOffsets(group: string, topic: string, offsets: Array<{ partition: number; offset: string }>): Promise<void> {
    await this.admin.setOffsets({ groupId: group, topic, partitions: offsets });
  }
}

// ---- producer ----

/**
 * Attempts of one send inside KafkaJS, the first included, are this + 1; core's publisher
 * retries a failed send on top (maxRetries). KafkaJS' idempotent producer would otherwise retry
 * a retriable failure without end: a publish to a broker that stopped answering (a hung broker,
 * a half-open connection) measured 232 s before it failed with requestTimeoutMs 3000, and with
 * the defaults it does not end at all (test/faults/kafka.test.ts).
 */
const PRODUCER_RETRIES = 1;
/** how long close() waits for producers given up after a failed send to disconnect */
const RETIRED_PRODUCER_CLOSE_MS = 5_000;

/**
 * A KafkaJS producer that is never used again after a send failed. KafkaJS' idempotent producer
 * rolls a partition's sequence numbers back when a send fails, also when the broker had stored
 * the records (the answer was lost, the connection dropped after the request went out, or only
 * another partition of the request failed). The next records of that partition then carry the
 * stored records' sequence numbers, the broker takes them for duplicates and answers with the
 * stored records' offsets: acknowledged, never stored (test/faults/kafka.test.ts, "a publish that
 * failed after the broker stored it"). A fresh producer has a fresh producer id, so no later
 * record can be mistaken for an earlier one; a failed record resent by core's retry may be
 * stored twice (at least once), never lost. The fresh producer also has fresh connections, so a
 * connection that stopped answering is left behind.
 */
class KafkajsProducer implements DriverProducer {
  private producer: Producer;
  private connected: Promise<void> | undefined;
  private readonly compression: number;
  /** producers given up after a failed send, still disconnecting */
  private readonly retiring = new Set<Promise<void>>();

  constructor(
    private readonly kafka: Kafka,
    private readonly sockets: KafkaSockets,
    private readonly options: DriverProducerOptions,
  ) {
    this.compression = options.compression === "gzip" ? CompressionTypes.GZIP : CompressionTypes.None;
    this.producer = this.create();
  }

  private create(): Producer {
    const producer = this.kafka.producer({
      idempotent: this.options.idempotent,
      // The idempotent producer keeps order only with one request in flight per connection.
      ...(this.options.idempotent ? { maxInFlightRequests: 1 } : {}),
      retry: { retries: PRODUCER_RETRIES },
      allowAutoTopicCreation: false,
      createPartitioner: () => ({ partitionMetadata, message }) => {
        // KafkaJS runs the partitioner again for every attempt of a send. A record keeps the
        // partition of its first attempt: on another partition (round-robin for records without
        // a key) the first attempt's sequence numbers, possibly stored, would be reused for other
        // records, which the broker drops as duplicates (see the class comment).
        if (typeof message.partition === "number") return message.partition;
        const key = message.key === null || message.key === undefined ? null : Buffer.isBuffer(message.key) ? message.key : Buffer.from(message.key);
        // Recorded on the message (KafkaJS' own `partition` field, which this partitioner is the
        // only reader of) so send() can tell where each record went.
        const partition = this.options.partitioner(key, partitionMetadata.length);
        message.partition = partition;
        return partition;
      },
    });
    producer.on(producer.events.REQUEST_TIMEOUT, (e) => this.sockets.requestTimedOut(e.payload.broker));
    return producer;
  }

  async send(topic: string, messages: DriverOutgoing[]): Promise<Array<{ partition: string; offset: string }>> {
    const producer = this.producer;
    this.connected ??= producer.connect();
    let metadata: Awaited<ReturnType<Producer["send"]>>;
    try {
      await this.connected;
      // A DriverOutgoing is a KafkaJS Message as it is.
      metadata = await producer.send({ topic, messages, acks: -1, compression: this.compression });
    } catch (err) {
      this.retire(producer);
      throw err;
    }
    const records: Message[] = messages;
    // KafkaJS returns one base offset per partition; records of a partition are appended in
    // the order given, so each record's offset is its partition's base offset + its index there.
    // Offsets stay far below 2^53 in practice; BigInt only past that.
    const next: number[] = [];
    const names: string[] = [];
    const big = new Map<number, bigint>();
    for (const m of metadata) {
      const base = Number(m.baseOffset ?? "-1");
      names[m.partition] = String(m.partition);
      if (Number.isSafeInteger(base) && base >= 0 && base + records.length < Number.MAX_SAFE_INTEGER) next[m.partition] = base;
      else big.set(m.partition, BigInt(m.baseOffset ?? "-1"));
    }
    const positions = new Array<{ partition: string; offset: string }>(records.length);
    for (let i = 0; i < records.length; i++) {
      const partition = records[i]!.partition;
      if (partition === undefined) throw new Error(`kafkajs returned no partition for a record sent to topic "${topic}"`);
      const offset = next[partition];
      if (offset !== undefined) {
        next[partition] = offset + 1;
        positions[i] = { partition: names[partition]!, offset: String(offset) };
        continue;
      }
      const large = big.get(partition);
      if (large === undefined || large < 0n) throw new Error(`kafkajs returned no offset for partition ${partition} of topic "${topic}"`);
      big.set(partition, large + 1n);
      positions[i] = { partition: String(partition), offset: large.toString() };
    }
    return positions;
  }

  /** Replaces the producer after a failed send (see the class comment); the old one disconnects in the background. */
  private retire(producer: Producer): void {
    if (this.producer !== producer) return;
    const wasConnected = this.connected;
    this.producer = this.create();
    this.connected = undefined;
    const done = (async () => {
      await wasConnected?.catch(() => undefined);
      await producer.disconnect().catch(() => undefined);
    })();
    this.retiring.add(done);
    void done.finally(() => this.retiring.delete(done));
  }

  async close(): Promise<void> {
    const connected = this.connected;
    if (connected !== undefined) {
      await connected.catch(() => undefined);
      await this.producer.disconnect();
    }
    // Bounded: a retired producer's connection may be one that stopped answering.
    await waitWithTimeout(Promise.all(this.retiring), RETIRED_PRODUCER_CLOSE_MS);
  }
}

// ---- consumer ----

class KafkajsConsumer implements DriverConsumer {
  private readonly consumer: Consumer;
  private hooks: ConsumerHooks | undefined;
  /** partition counts for the leader's assignment; made on first use */
  private assignmentAdmin: Admin | undefined;

  constructor(
    private readonly kafka: Kafka,
    sockets: KafkaSockets,
    private readonly options: DriverConsumerOptions,
  ) {
    const assigner: PartitionAssigner = (config): Assigner => {
      this.hookJoin(config.cluster);
      return this.roundRobinAssigner();
    };
    this.consumer = kafka.consumer({
      groupId: options.group,
      sessionTimeout: options.sessionTimeoutMs,
      rebalanceTimeout: options.rebalanceTimeoutMs,
      heartbeatInterval: options.heartbeatIntervalMs,
      maxWaitTimeInMs: options.maxWaitTimeMs,
      allowAutoTopicCreation: false,
      partitionAssigners: [assigner],
    });
    this.consumer.on(this.consumer.events.REQUEST_TIMEOUT, (e) => sockets.requestTimedOut(e.payload.broker));
  }

  /**
   * Round-robin over all topic-partitions of the group, each given only to members subscribed to
   * its topic. A Brook group is one Kafka consumer group, and Brook subscriptions of one group
   * to different topics are members with different subscriptions; KafkaJS' own round-robin
   * assigner hands every member partitions of the leader's topics, which members not
   * subscribed to them ignore. Same protocol name as KafkaJS', so plain KafkaJS members of the
   * group still agree on it.
   */
  private roundRobinAssigner(): Assigner {
    return {
      name: "RoundRobinAssigner",
      version: 0,
      assign: async ({ members }: { members: GroupMember[]; topics: string[] }): Promise<GroupMemberAssignment[]> => {
        const subscriptions = new Map<string, Set<string>>();
        for (const m of members) {
          const metadata = AssignerProtocol.MemberMetadata.decode(m.memberMetadata);
          subscriptions.set(m.memberId, new Set(metadata?.topics ?? []));
        }
        const topics = [...new Set([...subscriptions.values()].flatMap((t) => [...t]))].sort();
        const counts = await this.partitionCounts(topics);
        const memberIds = [...subscriptions.keys()].sort();
        const assignment = new Map<string, Record<string, number[]>>(memberIds.map((id) => [id, {}]));
        let cursor = 0;
        for (const topic of topics) {
          for (let partition = 0; partition < (counts.get(topic) ?? 0); partition++) {
            for (let tried = 0; tried < memberIds.length; tried++) {
              const id = memberIds[cursor % memberIds.length]!;
              cursor += 1;
              if (!subscriptions.get(id)!.has(topic)) continue;
              const own = assignment.get(id)!;
              (own[topic] ??= []).push(partition);
              break;
            }
          }
        }
        return memberIds.map((memberId) => ({
          memberId,
          memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 0, assignment: assignment.get(memberId)!, userData: Buffer.alloc(0) }),
        }));
      },
      protocol: ({ topics }) => ({ name: "RoundRobinAssigner", metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }) }),
    };
  }

  /** Partition counts of the group's topics, through an admin client of this consumer's own. */
  private async partitionCounts(topics: string[]): Promise<Map<string, number>> {
    this.assignmentAdmin ??= this.kafka.admin();
    await this.assignmentAdmin.connect();
    const existing = new Set(await this.assignmentAdmin.listTopics());
    const wanted = topics.filter((t) => existing.has(t));
    const out = new Map<string, number>();
    if (wanted.length === 0) return out;
    const { topics: metadata } = await this.assignmentAdmin.fetchTopicMetadata({ topics: wanted });
    for (const t of metadata) out.set(t.name, t.partitions.length);
    return out;
  }

  /** Runs hooks.beforeJoin() ahead of every JoinGroup (see the file comment). */
  private hookJoin(cluster: Cluster): void {
    const findGroupCoordinator = cluster.findGroupCoordinator.bind(cluster);
    cluster.findGroupCoordinator = async (group) => {
      await this.hooks?.beforeJoin();
      const coordinator = await findGroupCoordinator(group);
      // JoinGroup is the next request consumerGroup.join() sends (to this coordinator).
      this.hooks?.joining();
      return coordinator;
    };
  }

  async run(topic: string, hooks: ConsumerHooks): Promise<void> {
    this.hooks = hooks;
    const { GROUP_JOIN, CRASH, REQUEST } = this.consumer.events;
    // Emitted for every response the consumer's connections receive (error responses too).
    // After a JoinGroup answer the join is still under way: KafkaJS sends JoinGroup again at
    // once when the answer was MEMBER_ID_REQUIRED (without a new findGroupCoordinator), and
    // then SyncGroup, whose answer waits for the leader's assignment.
    this.consumer.on(REQUEST, (event) => {
      hooks.answered(event.payload.broker);
      if (event.payload.apiName === "JoinGroup") hooks.joining();
    });
    this.consumer.on(GROUP_JOIN, (event) => {
      const assignment = event.payload.memberAssignment as Record<string, number[] | undefined>;
      hooks.assigned([...(assignment[topic] ?? [])].sort((a, b) => a - b));
    });
    this.consumer.on(CRASH, (event) => hooks.crashed(event.payload.error, event.payload.restart));
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [topic], fromBeginning: this.options.fromBeginning });
    // Resolves after the first join and sync (KafkaJS' runner.start awaits joinAndSync).
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload: EachBatchPayload) => this.eachBatch(payload, hooks),
    });
  }

  /**
   * Hands the batch to the adapter and waits for it, heartbeating meanwhile (KafkaJS only
   * heartbeats from its fetch loop, which is stopped here). A heartbeat that reports a
   * rebalance throws out of eachBatch, and KafkaJS rejoins (after beforeJoin has drained); the
   * adapter drops the rest of the batch on its own. Then the whole batch is resolved, unless a
   * seek is pending on the partition (KafkaJS' stale batch): the seek's position wins.
   */
  private async eachBatch(payload: EachBatchPayload, hooks: ConsumerHooks): Promise<void> {
    const { batch } = payload;
    // Fetched before a seek of its partition: the seek's position is fetched next.
    if (payload.isStale()) return;
    const handed = hooks.records(toDriverBatch(payload));
    let done = false;
    const settled = handed.then(
      () => {
        done = true;
      },
      (err: unknown) => {
        done = true;
        throw err;
      },
    );
    // A heartbeat that throws leaves `settled` behind; its outcome is the adapter's own.
    settled.catch(() => undefined);
    while (!done) {
      if (await waitWithTimeout(settled, this.options.heartbeatIntervalMs)) break;
      if (done || !payload.isRunning()) break;
      await payload.heartbeat();
    }
    await settled;
    const last = batch.messages[batch.messages.length - 1];
    if (last !== undefined && !payload.isStale()) payload.resolveOffset(last.offset);
  }

  commit(topic: string, offsets: Array<{ partition: number; offset: string }>): Promise<void> {
    return this.consumer.commitOffsets(offsets.map((o) => ({ topic, partition: o.partition, offset: o.offset })));
  }

  seek(topic: string, partition: number, offset: string): void {
    this.consumer.seek({ topic, partition, offset });
  }

  pause(topic: string, partitions: number[]): void {
    if (partitions.length > 0) this.consumer.pause([{ topic, partitions }]);
  }

  resume(topic: string, partitions: number[]): void {
    if (partitions.length > 0) this.consumer.resume([{ topic, partitions }]);
  }

  async stop(): Promise<void> {
    // disconnect() stops the fetch loop, sends LeaveGroup and closes the sockets.
    try {
      await this.consumer.disconnect();
    } finally {
      await this.assignmentAdmin?.disconnect().catch(() => undefined);
    }
  }
}

function toDriverBatch(payload: EachBatchPayload): DriverBatch {
  const { batch } = payload;
  const source = batch.messages;
  const messages = new Array<DriverRecord>(source.length);
  for (let i = 0; i < source.length; i++) {
    const m = source[i]!;
    messages[i] = { key: m.key, value: m.value, headers: decodeHeaders(m.headers), offset: m.offset, timestamp: m.timestamp };
  }
  return { topic: batch.topic, partition: batch.partition, highWatermark: batch.highWatermark, messages };
}

/** Shared by every record without headers (most of them); never written to. */
const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;

function decodeHeaders(headers: IHeaders | undefined): Record<string, string> {
  if (headers === undefined) return NO_HEADERS;
  let out: Record<string, string> | undefined;
  for (const name in headers) {
    const raw = headers[name];
    // A header repeated on the record arrives as an array; Brook's model keeps one value.
    const value = Array.isArray(raw) ? raw[raw.length - 1] : raw;
    if (value === undefined) continue;
    out ??= {};
    out[name] = typeof value === "string" ? value : value.toString("utf8");
  }
  return out ?? NO_HEADERS;
}
