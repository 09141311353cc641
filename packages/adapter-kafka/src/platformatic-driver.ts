/**
 * A second driver: @platformatic/kafka 2.12.1 behind the interfaces of driver.ts, chosen with
 * `driver=platformatic` (URL) or `driver: "platformatic"` (typed option). The package needs
 * Node >= 22.22 and is an optional peer dependency: index.ts checks the Node version and loads
 * this file lazily, so the adapter never loads it unless asked to.
 *
 * What is used of the library: its connections, metadata, admin calls, its idempotent producer,
 * and its consumer's group membership (JoinGroup/SyncGroup, heartbeats on a timer of its own,
 * rejoin on REBALANCE_IN_PROGRESS) and raw `fetch()`. The fetch loop is this file's own, not the
 * library's MessagesStream, because the adapter needs per-partition pause, seek and
 * back-pressure that waits inside a batch:
 *
 * - one loop per consumer: fetch every owned, unpaused partition (one request per leader),
 *   then hand each partition's records to `hooks.records` and await it; nothing is fetched
 *   while it is pending, so the adapter's waiting is the back-pressure.
 * - positions are this driver's: a seek sets one; a partition resumed without one starts at the
 *   group's committed offset (read then), as Kafka's clients do.
 * - `hooks.beforeJoin` runs before every JoinGroup through the library's `protocolsMetadata`
 *   callback, which it awaits (first join, every rejoin and every retry of one).
 * - the assignment is round-robin over every member's own subscriptions (the library's own
 *   round-robin hands every member partitions of the leader's topics; see kafkajs-driver.ts),
 *   under KafkaJS's assignor name, so members of both drivers can share a group.
 *
 * Errors are turned into the shape errors.ts reads (`type`, `retriable`, a known `name`).
 */
import {
  Admin,
  Consumer,
  ConfigResourceTypes,
  ListOffsetTimestamps,
  Producer,
  ProduceAcks,
  stringSerializer,
  type ClusterMetadata,
  type ExtendedGroupProtocolSubscription,
  type GroupPartitionsAssignments,
  type KafkaRecord,
  type MessageToProduce,
  type RecordsBatch,
  type SASLOptions,
} from "@platformatic/kafka";
import type {
  ConsumerHooks,
  DriverAdmin,
  DriverBatch,
  DriverConfig,
  DriverConsumer,
  DriverConsumerOptions,
  DriverGroup,
  DriverOutgoing,
  DriverProducer,
  DriverProducerOptions,
  DriverRecord,
  DriverTopicSpec,
  KafkaDriver,
  KafkaDriverFactory,
} from "./driver.js";

/** The version this driver is written and tested against (pinned in package.json). */
export const PLATFORMATIC_KAFKA_VERSION = "2.12.1";

const MECHANISMS = { plain: "PLAIN", "scram-sha-256": "SCRAM-SHA-256", "scram-sha-512": "SCRAM-SHA-512" } as const;
/** Retries of one request inside the library; core retries a failed publish on top. */
const RETRIES = 3;
const RETRY_DELAY_MS = 250;
/** how long createTopic waits for every partition of a new topic to have a leader */
const LEADERS_WAIT_MS = 10_000;
/** pause of the fetch loop after a failed fetch before it tries again */
const FETCH_RETRY_MS = 500;
/** largest response of one fetch, and per partition */
const FETCH_MAX_BYTES = 50 * 1024 * 1024;
const FETCH_PARTITION_MAX_BYTES = 1024 * 1024;
/**
 * The group protocol (assignor) name and version: KafkaJS's round-robin assignor's, which
 * kafkajs-driver.ts's assignor keeps too, so members on either driver join one group (a rolling
 * switch of driver) and either can lead it: both assign the same way (subscription-aware
 * round-robin over sorted member ids) and encode the standard consumer protocol (version 0).
 */
const PROTOCOL = { name: "RoundRobinAssigner", version: 0 };
/** how long the producer trusts a topic's partition count (the library's metadataMaxAge) */
const PARTITION_COUNT_MAX_AGE_MS = 5_000;

export const platformaticDriver: KafkaDriverFactory = (config: DriverConfig): KafkaDriver => {
  const base = {
    clientId: config.clientId,
    bootstrapBrokers: config.brokers,
    connectTimeout: config.connectionTimeoutMs,
    timeout: config.requestTimeoutMs,
    retries: RETRIES,
    retryDelay: RETRY_DELAY_MS,
    autocreateTopics: false,
    ...(config.ssl ? { tls: {} } : {}),
    ...(config.sasl === undefined
      ? {}
      : { sasl: { mechanism: MECHANISMS[config.sasl.mechanism], username: config.sasl.username, password: config.sasl.password } as SASLOptions }),
  };
  return {
    name: "platformatic",
    admin: () => new PlatformaticAdmin(new Admin(base), config),
    producer: (options) => new PlatformaticProducer(base, options),
    consumer: (options) => new PlatformaticConsumer(base, options, config),
  };
};

// ---- errors ----

interface ProtocolLike {
  apiId?: unknown;
  canRetry?: unknown;
  code?: unknown;
  message?: unknown;
  errors?: unknown;
  cause?: unknown;
}

/** The first protocol error (one with an `apiId`) in a library error's chain. */
function protocolError(err: unknown): ProtocolLike | undefined {
  const seen = new Set<unknown>();
  const queue: unknown[] = [err];
  while (queue.length > 0 && seen.size < 50) {
    const e = queue.shift();
    if (typeof e !== "object" || e === null || seen.has(e)) continue;
    seen.add(e);
    const p = e as ProtocolLike;
    if (typeof p.apiId === "string") return p;
    if (Array.isArray(p.errors)) queue.push(...(p.errors as unknown[]));
    if (p.cause !== undefined) queue.push(p.cause);
  }
  return undefined;
}

/**
 * An error in the shape errors.ts maps (see driver.ts), keeping the library's as `cause`. Duck
 * typed, not `instanceof`: under jest the library is loaded by Node's own loader (another realm).
 */
export function toDriverError(err: unknown): Error {
  if (typeof err !== "object" || err === null) return new Error(String(err));
  const protocol = protocolError(err);
  let name = "KafkaError";
  if (protocol === undefined) {
    const codes = new Set<unknown>();
    let inner: unknown = err;
    for (let i = 0; i < 5 && typeof inner === "object" && inner !== null; i++) {
      const e = inner as { code?: unknown; errors?: unknown; cause?: unknown };
      codes.add(e.code);
      inner = Array.isArray(e.errors) && e.errors.length > 0 ? e.errors[0] : e.cause;
    }
    if (codes.has("PLT_KFK_TIMEOUT")) name = "KafkaTimeoutError";
    else if (codes.has("PLT_KFK_AUTHENTICATION")) name = "KafkaAuthenticationError";
    else if (codes.has("PLT_KFK_NETWORK")) name = "KafkaConnectionError";
  }
  const message = typeof protocol?.message === "string" ? protocol.message : String((err as { message?: unknown }).message ?? err);
  const out = new Error(message, { cause: err }) as Error & { type?: string; retriable?: boolean };
  out.name = name;
  if (protocol !== undefined) {
    out.type = protocol.apiId as string;
    out.retriable = protocol.canRetry === true;
  } else if (name === "KafkaConnectionError" || name === "KafkaTimeoutError") out.retriable = true;
  return out;
}

async function call<T>(operation: Promise<T>): Promise<T> {
  try {
    return await operation;
  } catch (err) {
    throw toDriverError(err);
  }
}

function hasType(err: unknown, type: string): boolean {
  return protocolError(err)?.apiId === type;
}

// ---- admin ----

class PlatformaticAdmin implements DriverAdmin {
  constructor(
    private readonly admin: Admin,
    private readonly config: DriverConfig,
  ) {}

  async connect(): Promise<void> {
    // The library connects on first use; a metadata request proves the cluster answers.
    await call(this.admin.metadata({ topics: [] }));
  }

  async close(): Promise<void> {
    await this.admin.close();
  }

  listTopics(): Promise<string[]> {
    return call(this.admin.listTopics());
  }

  async createTopic(name: string, spec: DriverTopicSpec): Promise<boolean> {
    try {
      await this.admin.createTopics({
        topics: [name],
        ...(spec.partitions === undefined ? {} : { partitions: spec.partitions }),
        configs: Object.entries(spec.config).map(([key, value]) => ({ name: key, value })),
      });
    } catch (err) {
      if (hasType(err, "TOPIC_ALREADY_EXISTS")) return false;
      throw toDriverError(err);
    }
    // As KafkaJS' waitForLeaders: a publish right after create finds every partition led.
    const deadline = Date.now() + LEADERS_WAIT_MS;
    while (Date.now() < deadline) {
      const metadata = await this.admin.metadata({ topics: [name], forceUpdate: true }).catch(() => undefined);
      const topic = metadata?.topics.get(name);
      if (topic !== undefined && topic.partitions.every((p) => p.leader >= 0)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    return true;
  }

  async deleteTopic(name: string): Promise<void> {
    await call(this.admin.deleteTopics({ topics: [name] }));
  }

  private async partitionCount(name: string): Promise<number | undefined> {
    try {
      const metadata = await this.admin.metadata({ topics: [name], forceUpdate: true });
      return metadata.topics.get(name)?.partitionsCount;
    } catch (err) {
      if (hasType(err, "UNKNOWN_TOPIC_OR_PARTITION")) return undefined;
      throw toDriverError(err);
    }
  }

  async describeTopic(name: string, configNames: string[]): Promise<{ partitions: number; config: Record<string, string> } | undefined> {
    if (!(await this.listTopics()).includes(name)) return undefined;
    const partitions = await this.partitionCount(name);
    if (partitions === undefined) return undefined;
    const config: Record<string, string> = {};
    if (configNames.length > 0) {
      const described = await call(
        this.admin.describeConfigs({ resources: [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: name, configurationKeys: configNames }] }),
      );
      for (const resource of described) for (const c of resource.configs) if (typeof c.value === "string") config[c.name] = c.value;
    }
    return { partitions, config };
  }

  async messageMaxBytes(): Promise<number | undefined> {
    const metadata = await call(this.admin.metadata({ topics: [] }));
    const nodeId = [...metadata.brokers.keys()][0];
    if (nodeId === undefined) return undefined;
    const described = await call(
      this.admin.describeConfigs({ resources: [{ resourceType: ConfigResourceTypes.BROKER, resourceName: String(nodeId), configurationKeys: ["message.max.bytes"] }] }),
    );
    const value = described[0]?.configs.find((c) => c.name === "message.max.bytes")?.value;
    const n = Number(value);
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  }

  private async listOffsets(topic: string, timestamp: bigint): Promise<Map<number, bigint>> {
    const count = await this.partitionCount(topic);
    if (count === undefined) throw toDriverError(Object.assign(new Error(`topic "${topic}" does not exist`), { apiId: "UNKNOWN_TOPIC_OR_PARTITION", canRetry: false }));
    const partitions = Array.from({ length: count }, (_, i) => ({ partitionIndex: i, timestamp }));
    const listed = await call(this.admin.listOffsets({ topics: [{ name: topic, partitions }] }));
    const out = new Map<number, bigint>();
    for (const t of listed) for (const p of t.partitions) out.set(p.partitionIndex, p.offset);
    return out;
  }

  async topicOffsets(topic: string): Promise<Array<{ partition: number; low: string; high: string }>> {
    const [low, high] = [await this.listOffsets(topic, ListOffsetTimestamps.EARLIEST), await this.listOffsets(topic, ListOffsetTimestamps.LATEST)];
    return [...high].sort((a, b) => a[0] - b[0]).map(([partition, h]) => ({ partition, low: String(low.get(partition) ?? 0n), high: String(h) }));
  }

  async offsetsForTime(topic: string, timestamp: number): Promise<Array<{ partition: number; offset: string }>> {
    const byTime = await this.listOffsets(topic, BigInt(timestamp));
    const missing = [...byTime].some(([, o]) => o < 0n);
    const high = missing ? await this.listOffsets(topic, ListOffsetTimestamps.LATEST) : undefined;
    return [...byTime].sort((a, b) => a[0] - b[0]).map(([partition, o]) => ({ partition, offset: String(o >= 0n ? o : (high?.get(partition) ?? 0n)) }));
  }

  async committedOffsets(group: string, topic: string): Promise<Map<number, string | undefined>> {
    const count = (await this.partitionCount(topic)) ?? 0;
    const partitionIndexes = Array.from({ length: count }, (_, i) => i);
    const out = new Map<number, string | undefined>(partitionIndexes.map((p) => [p, undefined]));
    if (count === 0) return out;
    const groups = await call(this.admin.listConsumerGroupOffsets({ groups: [{ groupId: group, topics: [{ name: topic, partitionIndexes }] }] }));
    for (const g of groups) {
      for (const t of g.topics) {
        if (t.name !== topic) continue;
        for (const p of t.partitions) out.set(p.partitionIndex, p.committedOffset >= 0n ? String(p.committedOffset) : undefined);
      }
    }
    return out;
  }

  async deleteGroup(group: string): Promise<void> {
    await call(this.admin.deleteGroups({ groups: [group] }));
  }

  async listGroups(): Promise<DriverGroup[]> {
    const listed = await call(this.admin.listGroups());
    const ids = [...listed.values()].filter((g) => g.protocolType === "consumer" || g.protocolType === "").map((g) => g.id);
    if (ids.length === 0) return [];
    const described = await call(this.admin.describeGroups({ groups: ids }));
    return [...described.values()].map((g) => ({
      group: g.id,
      members: [...g.members.values()].map((m) => {
        const assignment = new Map<string, number[]>();
        for (const [topic, a] of m.assignments ?? new Map()) assignment.set(topic, [...a.partitions].sort((x, y) => x - y));
        return { id: m.id, assignment };
      }),
    }));
  }

  async groupOffsets(group: string): Promise<Map<string, Map<number, string>>> {
    const out = new Map<string, Map<number, string>>();
    const groups = await call(this.admin.listConsumerGroupOffsets({ groups: [group] }));
    for (const g of groups) {
      for (const t of g.topics) {
        const partitions = new Map<number, string>();
        for (const p of t.partitions) if (p.committedOffset >= 0n) partitions.set(p.partitionIndex, String(p.committedOffset));
        if (partitions.size > 0) out.set(t.name, partitions);
      }
    }
    return out;
  }

  async setGroupOffsets(group: string, topic: string, offsets: Array<{ partition: number; offset: string }>): Promise<void> {
    await call(
      this.admin.alterConsumerGroupOffsets({
        groupId: group,
        topics: [{ name: topic, partitionOffsets: offsets.map((o) => ({ partition: o.partition, offset: BigInt(o.offset) })) }],
      }),
    );
  }
}

// ---- producer ----

type BaseOptions = ConstructorParameters<typeof Admin>[0];

/**
 * The library's idempotent producer takes a fresh producer id after a failed send (it drops
 * its producer info and sequences), which is what kafkajs-driver.ts does by hand: no record
 * sent later can be mistaken for a duplicate of one the broker stored from the failed send.
 */
class PlatformaticProducer implements DriverProducer {
  private readonly producer: Producer<Buffer, Buffer, string, string>;
  private readonly partitionCounts = new Map<string, { count: number; at: number }>();

  constructor(
    base: BaseOptions,
    private readonly options: DriverProducerOptions,
  ) {
    this.producer = new Producer<Buffer, Buffer, string, string>({
      ...base,
      serializers: { headerKey: stringSerializer, headerValue: stringSerializer },
      idempotent: options.idempotent,
      acks: ProduceAcks.ALL,
      compression: options.compression,
    });
  }

  async send(topic: string, messages: DriverOutgoing[]): Promise<Array<{ partition: string; offset: string }>> {
    // The partition count, for the partitioner, before the library's own metadata look-up: read
    // at most every PARTITION_COUNT_MAX_AGE_MS (and after a failed send), as the library's cache.
    const now = Date.now();
    let known = this.partitionCounts.get(topic);
    if (known === undefined || now - known.at > PARTITION_COUNT_MAX_AGE_MS) {
      const metadata = await call(this.producer.metadata({ topics: [topic] }));
      const count = metadata.topics.get(topic)?.partitionsCount ?? 0;
      if (count === 0) throw toDriverError(Object.assign(new Error(`topic "${topic}" does not exist`), { apiId: "UNKNOWN_TOPIC_OR_PARTITION", canRetry: true }));
      this.partitionCounts.set(topic, (known = { count, at: now }));
    }
    const count = known.count;
    const partitions = new Array<number>(messages.length);
    const out = new Array<MessageToProduce<Buffer, Buffer, string, string>>(messages.length);
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      const partition = this.options.partitioner(m.key, count);
      partitions[i] = partition;
      // Headers as a plain object of strings (the string header serializers encode them); not a
      // Map: the library tests `instanceof Map`, which fails across realms (under jest).
      out[i] = { topic, partition, value: m.value, headers: m.headers, ...(m.key === null ? {} : { key: m.key }) };
    }
    let result: Awaited<ReturnType<typeof this.producer.send>>;
    try {
      result = await this.producer.send({ messages: out, acks: ProduceAcks.ALL, idempotent: this.options.idempotent });
    } catch (err) {
      this.partitionCounts.delete(topic);
      throw toDriverError(err);
    }
    // One base offset per partition; records of a partition are stored in the order given.
    const next = new Map<number, bigint>();
    for (const o of result.offsets ?? []) if (o.topic === topic) next.set(o.partition, o.offset);
    const positions = new Array<{ partition: string; offset: string }>(messages.length);
    for (let i = 0; i < messages.length; i++) {
      const partition = partitions[i]!;
      const offset = next.get(partition);
      if (offset === undefined || offset < 0n) throw new Error(`@platformatic/kafka returned no offset for partition ${partition} of topic "${topic}"`);
      next.set(partition, offset + 1n);
      positions[i] = { partition: String(partition), offset: String(offset) };
    }
    return positions;
  }

  async close(): Promise<void> {
    await this.producer.close();
  }
}

// ---- consumer ----

/** Shared by every record without headers (most of them); never written to. */
const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;

class PlatformaticConsumer implements DriverConsumer {
  private readonly consumer: Consumer;
  private topic = "";
  private hooks: ConsumerHooks | undefined;
  private stopped = false;
  /** partitions of the topic this member owns (the latest assignment) */
  private owned: number[] = [];
  private readonly paused = new Set<number>();
  /** next offset to fetch, per partition; none: the committed offset is read first */
  private readonly positions = new Map<number, bigint>();
  /** per partition, bumped by every seek, so a fetch in flight does not move a sought position */
  private readonly seeks = new Map<number, number>();
  /** wakes the idle fetch loop (resume, seek, assignment, stop) */
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  /** node id → "host:port", from the latest metadata */
  private readonly brokers = new Map<number, string>();

  constructor(
    base: BaseOptions,
    private readonly options: DriverConsumerOptions,
    private readonly config: DriverConfig,
  ) {
    this.consumer = new Consumer({
      ...base,
      groupId: options.group,
      autocommit: false,
      sessionTimeout: options.sessionTimeoutMs,
      rebalanceTimeout: options.rebalanceTimeoutMs,
      heartbeatInterval: options.heartbeatIntervalMs,
      maxWaitTime: options.maxWaitTimeMs,
      protocols: [PROTOCOL],
      partitionAssigner: subscriptionRoundRobin,
      // Awaited by the library before every JoinGroup: the adapter drains and commits here.
      protocolsMetadata: async () => {
        await this.hooks?.beforeJoin();
        // JoinGroup is the library's next request (the watchdog allows the join's long wait).
        this.hooks?.joining();
        return Buffer.alloc(0);
      },
    });
  }

  async run(topic: string, hooks: ConsumerHooks): Promise<void> {
    this.topic = topic;
    this.hooks = hooks;
    // Answers for the watchdog: heartbeats (also while the adapter holds a batch), joins and
    // fetches (fetchOnce); the coordinator's address from the metadata the loop last read.
    const coordinator = (): string => {
      const id = this.consumer.coordinatorId;
      const broker = id === null ? undefined : this.brokers.get(id);
      return broker ?? this.config.brokers[0]!;
    };
    this.consumer.on("consumer:heartbeat:end", () => hooks.answered(coordinator()));
    this.consumer.on("consumer:group:join", (payload) => {
      hooks.answered(coordinator());
      const assignment = payload.assignments?.find((a) => a.topic === topic);
      this.owned = [...(assignment?.partitions ?? [])].sort((a, b) => a - b);
      this.positions.clear();
      this.paused.clear();
      hooks.assigned(this.owned);
      this.poke();
    });
    // A rejoin that failed for good (the library emits it as 'error'): the member is out.
    this.consumer.on("error", (error: unknown) => {
      if (!this.stopped) hooks.crashed(toDriverError(error), false);
    });
    this.consumer.topics.track(topic);
    await call(this.consumer.joinGroup({}));
    this.loop = this.fetchLoop();
  }

  async commit(topic: string, offsets: Array<{ partition: number; offset: string }>): Promise<void> {
    if (offsets.length === 0) return;
    await call(this.consumer.commit({ offsets: offsets.map((o) => ({ topic, partition: o.partition, offset: BigInt(o.offset), leaderEpoch: -1 })) }));
  }

  seek(_topic: string, partition: number, offset: string): void {
    this.seeks.set(partition, (this.seeks.get(partition) ?? 0) + 1);
    this.positions.set(partition, BigInt(offset));
    this.poke();
  }

  pause(_topic: string, partitions: number[]): void {
    for (const p of partitions) this.paused.add(p);
  }

  resume(_topic: string, partitions: number[]): void {
    for (const p of partitions) this.paused.delete(p);
    this.poke();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.poke();
    // close() leaves the group and closes the connections; a fetch in flight fails and ends the loop.
    try {
      await this.consumer.close(true);
    } finally {
      await this.loop?.catch(() => undefined);
    }
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  private async fetchLoop(): Promise<void> {
    while (!this.stopped) {
      try {
        const fetched = await this.fetchOnce();
        if (!fetched) await this.idle(this.options.maxWaitTimeMs);
      } catch (err) {
        if (this.stopped) return;
        const error = toDriverError(err);
        if ((error as { retriable?: boolean }).retriable !== true) {
          this.hooks?.crashed(error, false);
          return;
        }
        this.hooks?.crashed(error, true);
        await this.idle(FETCH_RETRY_MS);
      }
    }
  }

  /** One round: fetch every owned, unpaused partition and hand the records over; false when there was nothing to fetch. */
  private async fetchOnce(): Promise<boolean> {
    const topic = this.topic;
    const wanted = this.owned.filter((p) => !this.paused.has(p));
    if (wanted.length === 0) return false;
    await this.placeMissing(wanted);
    if (this.stopped) return true;
    const metadata = await this.consumer.metadata({ topics: [topic] });
    for (const [id, b] of metadata.brokers) this.brokers.set(id, `${b.host}:${b.port}`);
    const meta = metadata.topics.get(topic);
    if (meta === undefined) return false;
    // One request per leader, all partitions of it; positions and seek counts as requested.
    const byNode = new Map<number, Array<{ partition: number; fetchOffset: bigint; seeks: number }>>();
    for (const partition of wanted) {
      const fetchOffset = this.positions.get(partition);
      if (fetchOffset === undefined || this.paused.has(partition)) continue;
      const leader = meta.partitions[partition]?.leader ?? -1;
      if (leader < 0) continue;
      let list = byNode.get(leader);
      if (list === undefined) byNode.set(leader, (list = []));
      list.push({ partition, fetchOffset, seeks: this.seeks.get(partition) ?? 0 });
    }
    if (byNode.size === 0) return false;
    const responses = await Promise.all(
      [...byNode].map(async ([node, requested]) => {
        const response = await this.consumer.fetch({
          node,
          maxWaitTime: this.options.maxWaitTimeMs,
          minBytes: 1,
          maxBytes: FETCH_MAX_BYTES,
          topics: [
            {
              topicId: meta.id,
              partitions: requested.map((r) => ({
                partition: r.partition,
                fetchOffset: r.fetchOffset,
                partitionMaxBytes: FETCH_PARTITION_MAX_BYTES,
                currentLeaderEpoch: -1,
                lastFetchedEpoch: -1,
              })),
            },
          ],
        });
        return { requested, response };
      }),
    );
    for (const node of byNode.keys()) {
      const address = this.brokers.get(node);
      if (address !== undefined) this.hooks?.answered(address);
    }
    for (const { requested, response } of responses) {
      const byPartition = new Map(requested.map((r) => [r.partition, r]));
      for (const t of response.responses) {
        for (const p of t.partitions) {
          const r = byPartition.get(p.partitionIndex);
          if (r === undefined || this.stopped) continue;
          await this.handOver(r, p.highWatermark, p.records ?? []);
        }
      }
    }
    return true;
  }

  /** Hands one partition's fetched records to the adapter and moves its position past them. */
  private async handOver(requested: { partition: number; fetchOffset: bigint; seeks: number }, highWatermark: bigint, batches: RecordsBatch[]): Promise<void> {
    const { partition, fetchOffset, seeks } = requested;
    const current = (): boolean =>
      !this.stopped && !this.paused.has(partition) && (this.seeks.get(partition) ?? 0) === seeks && this.positions.get(partition) === fetchOffset && this.owned.includes(partition);
    if (!current() || batches.length === 0) return;
    const last = batches[batches.length - 1]!;
    const next = last.firstOffset + BigInt(last.lastOffsetDelta) + 1n;
    const messages = toRecords(batches, fetchOffset);
    if (messages.length > 0) {
      await this.hooks!.records({ topic: this.topic, partition, highWatermark: String(highWatermark), messages } satisfies DriverBatch);
    }
    // A seek (or a new assignment) meanwhile wins over the end of this batch.
    if ((this.seeks.get(partition) ?? 0) === seeks && this.positions.get(partition) === fetchOffset) this.positions.set(partition, next);
  }

  /** Partitions resumed without a seek start at the group's committed offset. */
  private async placeMissing(partitions: number[]): Promise<void> {
    const missing = partitions.filter((p) => !this.positions.has(p));
    if (missing.length === 0) return;
    const topic = this.topic;
    const seeks = new Map(missing.map((p) => [p, this.seeks.get(p) ?? 0]));
    const unmoved = (p: number): boolean => !this.positions.has(p) && (this.seeks.get(p) ?? 0) === seeks.get(p);
    const committed = await this.consumer.listCommittedOffsets({ topics: [{ topic, partitions: missing }] });
    const offsets = committed.get(topic) ?? [];
    const none: number[] = [];
    for (const p of missing) {
      const offset = offsets[p];
      if (offset === undefined || offset < 0n) none.push(p);
      else if (unmoved(p)) this.positions.set(p, offset);
    }
    if (none.length === 0) return;
    // No committed offset (the adapter seeks such partitions itself; this is the fallback).
    const listed = await this.consumer.listOffsets({
      topics: [topic],
      partitions: { [topic]: none },
      timestamp: this.options.fromBeginning ? ListOffsetTimestamps.EARLIEST : ListOffsetTimestamps.LATEST,
    });
    const start = listed.get(topic) ?? [];
    for (const p of none) {
      const offset = start[p];
      if (offset !== undefined && offset >= 0n && unmoved(p)) this.positions.set(p, offset);
    }
  }
}

/** The records of fetched batches at or after `from`, without control batches. */
function toRecords(batches: RecordsBatch[], from: bigint): DriverRecord[] {
  const out: DriverRecord[] = [];
  const fromNumber = Number(from);
  for (const batch of batches) {
    // Control batches (transaction markers) carry no application records.
    if ((batch.attributes & 0x20) !== 0) continue;
    const first = Number(batch.firstOffset);
    const firstTimestamp = Number(batch.firstTimestamp);
    const safe = Number.isSafeInteger(first + batch.lastOffsetDelta);
    const records = batch.records;
    for (let i = 0; i < records.length; i++) {
      const r: KafkaRecord = records[i]!;
      let offset: string;
      if (safe) {
        const n = first + r.offsetDelta;
        if (n < fromNumber) continue;
        offset = String(n);
      } else {
        const n = batch.firstOffset + BigInt(r.offsetDelta);
        if (n < from) continue;
        offset = n.toString();
      }
      out.push({ key: r.key, value: r.value, headers: decodeHeaders(r.headers), offset, timestamp: String(firstTimestamp + Number(r.timestampDelta)) });
    }
  }
  return out;
}

function decodeHeaders(headers: [Buffer | null, Buffer | null][]): Record<string, string> {
  if (headers.length === 0) return NO_HEADERS;
  const out: Record<string, string> = {};
  // A header repeated on the record: the last value wins (Brook's model keeps one).
  for (const [name, value] of headers) if (name !== null) out[name.toString("utf8")] = value === null ? "" : value.toString("utf8");
  return out;
}

/**
 * Round-robin over all topic-partitions of the group, each given only to members subscribed to
 * its topic (see the file comment).
 */
function subscriptionRoundRobin(
  _current: string,
  members: Map<string, ExtendedGroupProtocolSubscription>,
  _topics: Set<string>,
  metadata: ClusterMetadata,
): GroupPartitionsAssignments[] {
  const memberIds = [...members.keys()].sort();
  const subscriptions = new Map(memberIds.map((id) => [id, new Set(members.get(id)!.topics ?? [])]));
  const topics = [...new Set([...subscriptions.values()].flatMap((t) => [...t]))].sort();
  const out = new Map<string, GroupPartitionsAssignments>(memberIds.map((memberId) => [memberId, { memberId, assignments: new Map() }]));
  let cursor = 0;
  for (const topic of topics) {
    const count = metadata.topics.get(topic)?.partitionsCount ?? 0;
    for (let partition = 0; partition < count; partition++) {
      for (let tried = 0; tried < memberIds.length; tried++) {
        const id = memberIds[cursor % memberIds.length]!;
        cursor += 1;
        if (!subscriptions.get(id)!.has(topic)) continue;
        const own = out.get(id)!.assignments;
        let entry = own.get(topic);
        if (entry === undefined) own.set(topic, (entry = { topic, partitions: [] }));
        entry.partitions.push(partition);
        break;
      }
    }
  }
  return [...out.values()];
}
