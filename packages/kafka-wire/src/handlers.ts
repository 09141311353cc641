/**
 * One handler per API key: the versions it implements and, above each, the grammar of the
 * request and response bodies it reads and writes (after the headers in server.ts), from
 * https://kafka.apache.org/protocol#protocol_messages. `vN+` marks a field present from
 * version N on.
 */
import type { Logger } from "@brook/core";
import type { EngineApi, StoredRecord, TopicDetails } from "@brook/local-broker/engine";
import { ProtocolError, type Reader, Writer } from "./codec.js";
import { KafkaError, kafkaCode } from "./errors.js";
import { decodeBatches, encodeStoredBatch, IDEMPOTENCY_HEADER, RecordError } from "./records.js";
import type { GroupCoordinator } from "./groups.js";
import { groupHandlers } from "./group-handlers.js";
import type { ProducerState } from "./producers.js";
import { adminHandlers } from "./admin-handlers.js";

export interface Context {
  engine: EngineApi;
  groups: GroupCoordinator;
  logger: Logger;
  token: string | undefined;
  node: { id: number; host: string; port: number };
  /** false until SASL PLAIN succeeds when a token is set */
  authenticated: boolean;
  /** remote address, for logs and group membership */
  connection: string;
  clientId: string | null;
  /** set by SaslHandshake */
  saslMechanism?: string;
  producers: ProducerState;
  /** set by a handler whose answer must be the connection's last (failed authentication) */
  closeAfterResponse?: string;
}

export interface Handler {
  min: number;
  max: number;
  /** allowed before SASL authentication */
  beforeAuth?: boolean;
  /** the response body, or null for no response (Produce with acks 0) */
  handle(r: Reader, version: number, ctx: Context): Promise<Writer | null>;
}

// ---------------------------------------------------------------- ApiVersions (18)
// Request v0-2:  (empty)
// Response v0:   error_code int16, api_keys [api_key int16, min_version int16, max_version int16]
//          v1+:  ..., throttle_time_ms int32
const apiVersions: Handler = {
  min: 0,
  max: 2,
  beforeAuth: true,
  async handle(_r, version) {
    const w = new Writer().int16(KafkaError.NONE);
    writeApiKeys(w);
    if (version >= 1) w.int32(0);
    return w;
  },
};

// ---------------------------------------------------------------- Metadata (3)
// Request v0:   topics [name string]                          (empty = all topics)
//         v1+:  topics nullable [name string]                 (null = all, empty = none)
//         v4+:  ..., allow_auto_topic_creation bool           (ignored: auto-create is off)
// Response:     v3+ throttle_time_ms int32,
//               brokers [node_id int32, host string, port int32, v1+ rack nullable string],
//               v2+ cluster_id nullable string, v1+ controller_id int32,
//               topics [error_code int16, name string, v1+ is_internal bool,
//                 partitions [error_code int16, partition_index int32, leader_id int32,
//                   v7+ leader_epoch int32, replica_nodes [int32], isr_nodes [int32],
//                   v5+ offline_replicas [int32]]]
export const CLUSTER_ID = "brook-local";
const metadata: Handler = {
  min: 0,
  max: 7,
  async handle(r, version, ctx) {
    const requested = version === 0 ? r.array((r) => r.string()) : r.nullableArray((r) => r.string());
    if (version >= 4) r.bool();
    r.end("Metadata request");
    const names = requested === null || (version === 0 && requested.length === 0) ? await ctx.engine.listTopics() : requested;
    const topics: Array<{ name: string; error: number; details?: TopicDetails }> = [];
    for (const name of names) {
      try {
        topics.push({ name, error: KafkaError.NONE, details: await ctx.engine.describeTopic(name) });
      } catch (err) {
        topics.push({ name, error: kafkaCode(err) });
      }
    }
    const node = ctx.node;
    const w = new Writer();
    if (version >= 3) w.int32(0);
    w.array([node], (w, n) => {
      w.int32(n.id).string(n.host).int32(n.port);
      if (version >= 1) w.nullableString(null);
    });
    if (version >= 2) w.nullableString(CLUSTER_ID);
    if (version >= 1) w.int32(node.id);
    w.array(topics, (w, t) => {
      w.int16(t.error).string(t.name);
      if (version >= 1) w.bool(false);
      w.array(t.details?.partitions ?? [], (w, p) => {
        w.int16(KafkaError.NONE).int32(p.partition).int32(node.id);
        if (version >= 7) w.int32(0);
        w.array([node.id], (w, id) => w.int32(id));
        w.array([node.id], (w, id) => w.int32(id));
        if (version >= 5) w.int32(0);
      });
    });
    return w;
  },
};

// ---------------------------------------------------------------- Produce (0)
// Request v3-7:  transactional_id nullable string, acks int16, timeout_ms int32,
//                topic_data [name string, partition_data [index int32, records nullable bytes]]
// Response v3-7: responses [name string, partition_responses [index int32, error_code int16,
//                  base_offset int64, log_append_time_ms int64, v5+ log_start_offset int64]],
//                throttle_time_ms int32
// acks 0 gets no response. acks 1 and -1 are the same here: one broker, the append is as
// durable as the engine's store promises when it resolves.
const produce: Handler = {
  min: 3,
  max: 7,
  async handle(r, version, ctx) {
    const transactionalId = r.nullableString();
    const acks = r.int16();
    r.int32();
    const topics = r.array((r) => ({ name: r.string(), partitions: r.array((r) => ({ index: r.int32(), records: r.nullableBytes() })) }));
    r.end("Produce request");
    const results = await Promise.all(
      topics.map(async (t) => ({
        name: t.name,
        partitions: await Promise.all(t.partitions.map((p) => appendPartition(ctx, t.name, p.index, p.records, transactionalId))),
      })),
    );
    if (acks === 0) return null;
    const w = new Writer();
    w.array(results, (w, t) => {
      w.string(t.name).array(t.partitions, (w, p) => {
        w.int32(p.index).int16(p.error).int64(p.baseOffset).int64(p.appendTime);
        if (version >= 5) w.int64(p.logStart);
      });
    });
    w.int32(0);
    return w;
  },
};

interface ProduceResult {
  index: number;
  error: number;
  baseOffset: number;
  appendTime: number;
  logStart: number;
}

async function appendPartition(ctx: Context, topic: string, index: number, set: Buffer | null, transactionalId: string | null): Promise<ProduceResult> {
  const fail = (error: number, why: string): ProduceResult => {
    ctx.logger.debug(`kafka-wire: produce to ${topic}/${index} refused: ${why}`);
    return { index, error, baseOffset: -1, appendTime: -1, logStart: -1 };
  };
  if (transactionalId !== null) return fail(KafkaError.UNSUPPORTED_FOR_MESSAGE_FORMAT, "transactions are not supported");
  if (set === null) return fail(KafkaError.CORRUPT_MESSAGE, "null record set");
  let batches;
  try {
    batches = decodeBatches(set).map((b) => {
      if (b.transactional || b.control) throw new RecordError(KafkaError.UNSUPPORTED_FOR_MESSAGE_FORMAT, "transactional and control batches are not supported");
      return { batch: b, messages: b.records.map(toWireMessage) };
    });
  } catch (err) {
    if (err instanceof RecordError) return fail(err.code, err.message);
    throw err;
  }
  if (batches.length === 0) return fail(KafkaError.CORRUPT_MESSAGE, "empty record set");
  try {
    const details = await ctx.engine.describeTopic(topic);
    if (index < 0 || index >= details.partitions.length) return fail(KafkaError.UNKNOWN_TOPIC_OR_PARTITION, `no partition ${index}`);
    let first: { baseOffset: number; appendTime: number } | undefined;
    for (const { batch, messages } of batches) {
      // idempotent producer: a batch seen before gets its first answer; a gap is refused
      const seq = ctx.producers.check(batch, topic, index);
      if (typeof seq === "number") return fail(seq, `producer ${batch.producerId} sequence ${batch.baseSequence} out of order`);
      let appended = seq.duplicate;
      if (appended === undefined) {
        if (messages.length === 0) continue;
        const results = await ctx.engine.append(topic, messages, { partition: index });
        const firstError = results.find((x) => !x.ok);
        if (firstError !== undefined && !firstError.ok) return fail(kafkaCode(firstError.error), firstError.error.message);
        const r0 = results[0]!;
        const baseOffset = r0.ok ? Number(r0.position.offset) : -1;
        const stored = await ctx.engine.fetch(topic, index, baseOffset, 1, 0);
        appended = { baseOffset, appendTime: stored.records[0]?.timestamp ?? Date.now() };
        ctx.producers.record(batch, topic, index, appended);
      }
      first ??= appended;
    }
    if (first === undefined) return fail(KafkaError.CORRUPT_MESSAGE, "empty record set");
    return { index, error: KafkaError.NONE, baseOffset: first.baseOffset, appendTime: first.appendTime, logStart: details.partitions[index]!.start };
  } catch (err) {
    return fail(kafkaCode(err), (err as Error).message);
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function text(b: Buffer, what: string): string {
  try {
    return utf8.decode(b);
  } catch {
    throw new RecordError(KafkaError.INVALID_RECORD, `${what} is not UTF-8 text`);
  }
}

function toWireMessage(rec: { key: Buffer | null; value: Buffer | null; headers: Array<[string, Buffer | null]> }) {
  if (rec.value === null) throw new RecordError(KafkaError.INVALID_RECORD, "a null value (tombstone) has no place in Brook's log");
  const headers: Record<string, string> = {};
  let idempotencyKey: string | undefined;
  for (const [name, value] of rec.headers) {
    if (value === null) throw new RecordError(KafkaError.INVALID_RECORD, `header "${name}" has a null value`);
    if (name.length === 0) throw new RecordError(KafkaError.INVALID_RECORD, "a header name is empty");
    if (name in headers || (name === IDEMPOTENCY_HEADER && idempotencyKey !== undefined)) throw new RecordError(KafkaError.INVALID_RECORD, `header "${name}" is repeated`);
    if (name === IDEMPOTENCY_HEADER) idempotencyKey = text(value, `header ${name}`);
    else headers[name] = text(value, `header "${name}"`);
  }
  return { key: rec.key === null ? undefined : text(rec.key, "the key"), idempotencyKey, headers, value: rec.value };
}

// ---------------------------------------------------------------- Fetch (1)
// Request v4-11: replica_id int32, max_wait_ms int32, min_bytes int32, max_bytes int32,
//                isolation_level int8, v7+ session_id int32, v7+ session_epoch int32,
//                topics [topic string, partitions [partition int32, v9+ current_leader_epoch int32,
//                  fetch_offset int64, v5+ log_start_offset int64, partition_max_bytes int32]],
//                v7+ forgotten_topics_data [topic string, partitions [int32]], v11+ rack_id string
// Response:      throttle_time_ms int32, v7+ error_code int16, v7+ session_id int32,
//                responses [topic string, partitions [partition_index int32, error_code int16,
//                  high_watermark int64, last_stable_offset int64, v5+ log_start_offset int64,
//                  aborted_transactions nullable [producer_id int64, first_offset int64],
//                  v11+ preferred_read_replica int32, records nullable bytes]]
// Sessionless (session_id 0): every request names all its partitions. Waits up to max_wait_ms
// until min_bytes of records are there.
const fetch: Handler = {
  min: 4,
  max: 11,
  async handle(r, version, ctx) {
    r.int32();
    const maxWait = Math.max(0, Math.min(r.int32(), 60_000));
    const minBytes = r.int32();
    let maxBytes = r.int32();
    r.int8();
    if (version >= 7) {
      r.int32();
      r.int32();
    }
    const topics = r.array((r) => ({
      topic: r.string(),
      partitions: r.array((r) => {
        const partition = r.int32();
        if (version >= 9) r.int32();
        const offset = r.int64();
        if (version >= 5) r.int64();
        return { partition, offset, maxBytes: r.int32() };
      }),
    }));
    if (version >= 7) r.array((r) => [r.string(), r.array((r) => r.int32())]);
    if (version >= 11) r.string();
    r.end("Fetch request");
    if (maxBytes <= 0) maxBytes = 50 * 1024 * 1024;

    const deadline = Date.now() + maxWait;
    let results = await readAll(ctx, topics, maxBytes);
    // an error (unknown partition, offset out of range) is answered at once, as Kafka does
    while (!results.failed && results.bytes < Math.max(1, minBytes) && Date.now() < deadline) {
      await waitForAny(ctx, topics, deadline - Date.now());
      results = await readAll(ctx, topics, maxBytes);
    }
    const w = new Writer().int32(0);
    if (version >= 7) w.int16(KafkaError.NONE).int32(0);
    w.array(results.topics, (w, t) => {
      w.string(t.topic).array(t.partitions, (w, p) => {
        w.int32(p.partition).int16(p.error).int64(p.end).int64(p.end);
        if (version >= 5) w.int64(p.start);
        w.int32(-1); // aborted_transactions: null
        if (version >= 11) w.int32(-1);
        w.nullableBytes(p.records);
      });
    });
    return w;
  },
};

interface FetchTopic {
  topic: string;
  partitions: Array<{ partition: number; offset: number; maxBytes: number }>;
}

async function readAll(ctx: Context, topics: FetchTopic[], maxBytes: number) {
  let budget = maxBytes;
  let bytes = 0;
  const out = [];
  for (const t of topics) {
    const partitions = [];
    let details: TopicDetails | undefined;
    try {
      details = await ctx.engine.describeTopic(t.topic);
    } catch {
      details = undefined;
    }
    for (const p of t.partitions) {
      const info = details?.partitions[p.partition];
      if (info === undefined) {
        partitions.push({ partition: p.partition, error: KafkaError.UNKNOWN_TOPIC_OR_PARTITION, end: -1, start: -1, records: null });
        continue;
      }
      if (p.offset < info.start || p.offset > info.end) {
        partitions.push({ partition: p.partition, error: KafkaError.OFFSET_OUT_OF_RANGE, end: info.end, start: info.start, records: null });
        continue;
      }
      let records: Buffer | null = Buffer.alloc(0);
      let error: number = KafkaError.NONE;
      // the first batch goes out even above the limits (KIP-74), so a large record never stalls
      const limit = Math.min(p.maxBytes, budget);
      if (p.offset < info.end && (limit > 0 || bytes === 0)) {
        try {
          // Read on until the partition's limit is filled (or the log's end): one Fetch carries
          // as much as Kafka's would, so a client needs as few round trips.
          const out: Buffer[] = [];
          let size = 0;
          let offset = p.offset;
          while (offset < info.end) {
            const read = await ctx.engine.fetch(t.topic, p.partition, offset, READ_CHUNK_RECORDS, 0);
            info.end = read.endOffset;
            if (read.records.length === 0) break;
            const added = appendBatches(out, read.records, limit, size);
            size = added.size;
            offset = added.nextOffset;
            if (added.full) break;
          }
          records = out.length === 1 ? out[0]! : Buffer.concat(out, size);
        } catch (err) {
          error = kafkaCode(err);
          records = null;
        }
      }
      const size = records?.length ?? 0;
      budget -= size;
      bytes += size;
      partitions.push({ partition: p.partition, error, end: info.end, start: info.start, records });
    }
    out.push({ topic: t.topic, partitions });
  }
  const failed = out.some((t) => t.partitions.some((p) => p.error !== KafkaError.NONE));
  return { topics: out, bytes, failed };
}

/** Records the Fetch handler reads from the engine at a time (it reads on up to the byte limit). */
const READ_CHUNK_RECORDS = 2_000;

/**
 * Encoded batches by the stored record they start with. The memory store hands out the same
 * record objects on every read, so a batch is encoded once and then served as stored bytes to
 * every later fetch at that offset (another consumer group, a re-read); an entry goes when its
 * record does (retention, topic deletion). The file store reads fresh objects: no hits there.
 */
const encodedBatches = new WeakMap<StoredRecord, { bytes: Buffer; count: number }>();

/**
 * Adds `records` to `out` as batches, one per run of consecutive offsets appended at the same
 * time, while the total stays within `limit` bytes (the first batch of a response always goes).
 * Returns the new total, the offset after the last record sent and whether the limit was hit.
 */
function appendBatches(out: Buffer[], records: readonly StoredRecord[], limit: number, size: number): { size: number; nextOffset: number; full: boolean } {
  let i = 0;
  while (i < records.length) {
    const first = records[i]!;
    let batch = encodedBatches.get(first);
    if (batch === undefined || i + batch.count > records.length) {
      let end = i + 1;
      while (end < records.length && records[end]!.timestamp === first.timestamp && records[end]!.offset === records[end - 1]!.offset + 1) end += 1;
      batch = { bytes: encodeStoredBatch(records, i, end), count: end - i };
      encodedBatches.set(first, batch);
    }
    if (out.length > 0 && size + batch.bytes.length > limit) return { size, nextOffset: first.offset, full: true };
    out.push(batch.bytes);
    size += batch.bytes.length;
    i += batch.count;
    if (size >= limit) return { size, nextOffset: records[i - 1]!.offset + 1, full: true };
  }
  return { size, nextOffset: records[records.length - 1]!.offset + 1, full: false };
}

/** Records as batches, one per run of records appended at the same time, within `limit` bytes (at least one batch). */
export function encodeRecords(records: readonly StoredRecord[], limit: number): Buffer {
  const out: Buffer[] = [];
  const { size } = appendBatches(out, records, limit, 0);
  return Buffer.concat(out, size);
}

async function waitForAny(ctx: Context, topics: FetchTopic[], waitMs: number): Promise<void> {
  if (waitMs <= 0) return;
  const abort = new AbortController();
  const waits: Array<Promise<unknown>> = [];
  for (const t of topics) {
    for (const p of t.partitions) {
      waits.push(ctx.engine.fetch(t.topic, p.partition, p.offset, 1, waitMs, abort.signal).catch(() => undefined));
    }
  }
  // nothing readable to wait on (unknown topics, bad offsets): sleep out the wait like Kafka
  if (waits.length === 0) waits.push(new Promise((resolve) => setTimeout(resolve, waitMs)));
  const timer = new Promise((resolve) => setTimeout(resolve, waitMs));
  await Promise.race([...waits, timer]);
  abort.abort();
}

// ---------------------------------------------------------------- ListOffsets (2)
// Request v1-5:  replica_id int32, v2+ isolation_level int8,
//                topics [name string, partitions [partition_index int32,
//                  v4+ current_leader_epoch int32, timestamp int64]]
//                timestamp -1 = latest (the end), -2 = earliest, else the first offset whose
//                append time is >= timestamp
// Response:      v2+ throttle_time_ms int32, topics [name string, partitions [partition_index int32,
//                  error_code int16, timestamp int64, offset int64, v4+ leader_epoch int32]]
// ---------------------------------------------------------------- InitProducerId (22)
// Request v0-1:  transactional_id nullable string, transaction_timeout_ms int32
// Response v0-1: throttle_time_ms int32, error_code int16, producer_id int64, producer_epoch int16
// Idempotent producers only: a transactional id is refused.
const initProducerId: Handler = {
  min: 0,
  max: 1,
  async handle(r, _version, ctx) {
    const transactionalId = r.nullableString();
    r.int32();
    r.end("InitProducerId request");
    const w = new Writer().int32(0);
    if (transactionalId !== null) return w.int16(KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED).int64(-1).int16(-1);
    return w.int16(KafkaError.NONE).int64(ctx.producers.newId()).int16(0);
  },
};

const listOffsets: Handler = {
  min: 1,
  max: 5,
  async handle(r, version, ctx) {
    r.int32();
    if (version >= 2) r.int8();
    const topics = r.array((r) => ({
      name: r.string(),
      partitions: r.array((r) => {
        const index = r.int32();
        if (version >= 4) r.int32();
        return { index, timestamp: r.int64() };
      }),
    }));
    r.end("ListOffsets request");
    const out = [];
    for (const t of topics) {
      const partitions = [];
      let details: TopicDetails | undefined;
      try {
        details = await ctx.engine.describeTopic(t.name);
      } catch {
        details = undefined;
      }
      for (const p of t.partitions) {
        const info = details?.partitions[p.index];
        if (info === undefined) {
          partitions.push({ index: p.index, error: KafkaError.UNKNOWN_TOPIC_OR_PARTITION, timestamp: -1, offset: -1 });
        } else if (p.timestamp === -1) {
          partitions.push({ index: p.index, error: KafkaError.NONE, timestamp: -1, offset: info.end });
        } else if (p.timestamp === -2) {
          partitions.push({ index: p.index, error: KafkaError.NONE, timestamp: -1, offset: info.start });
        } else {
          try {
            const offset = await ctx.engine.offsetForTime(t.name, p.index, p.timestamp);
            if (offset >= info.end) partitions.push({ index: p.index, error: KafkaError.NONE, timestamp: -1, offset: -1 });
            else {
              const rec = (await ctx.engine.fetch(t.name, p.index, offset, 1, 0)).records[0];
              partitions.push({ index: p.index, error: KafkaError.NONE, timestamp: rec?.timestamp ?? -1, offset });
            }
          } catch (err) {
            partitions.push({ index: p.index, error: kafkaCode(err), timestamp: -1, offset: -1 });
          }
        }
      }
      out.push({ name: t.name, partitions });
    }
    const w = new Writer();
    if (version >= 2) w.int32(0);
    w.array(out, (w, t) => {
      w.string(t.name).array(t.partitions, (w, p) => {
        w.int32(p.index).int16(p.error).int64(p.timestamp).int64(p.offset);
        if (version >= 4) w.int32(0);
      });
    });
    return w;
  },
};

export const handlers: Record<number, Handler> = {
  0: produce,
  1: fetch,
  2: listOffsets,
  3: metadata,
  18: apiVersions,
  22: initProducerId,
  ...groupHandlers,
  ...adminHandlers,
};

export { ProtocolError };

/** api_keys [api_key int16, min_version int16, max_version int16] of ApiVersions */
export function writeApiKeys(w: Writer): void {
  const keys = Object.keys(handlers)
    .map(Number)
    .sort((a, b) => a - b);
  w.array(keys, (w, key) => {
    const h = handlers[key]!;
    w.int16(key).int16(h.min).int16(h.max);
  });
}
