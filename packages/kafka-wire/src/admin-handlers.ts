/** Admin and SASL APIs. Grammar per handler, as in handlers.ts. */
import { BrookError } from "@brook/core/base";
import type { CreateTopicConfig, TopicDetails } from "@brook/local-broker/engine";
import { ProtocolError, Writer } from "./codec.js";
import { KafkaError, kafkaCode } from "./errors.js";
import type { Handler } from "./handlers.js";

// ---------------------------------------------------------------- CreateTopics (19)
// Request:  topics [name string, num_partitions int32, replication_factor int16,
//             assignments [partition_index int32, broker_ids [int32]],
//             configs [name string, value nullable string]],
//           timeout_ms int32, v1+ validate_only bool
// Response: v2+ throttle_time_ms int32, topics [name string, error_code int16, v1+ error_message nullable string]
// num_partitions -1 means the default (1); replication factor must be -1 or 1 (one broker);
// explicit assignments are refused. Configs: retention.ms and retention.bytes; others refused.
const createTopics: Handler = {
  min: 0,
  max: 3,
  async handle(r, version, ctx) {
    const topics = r.array((r) => ({
      name: r.string(),
      partitions: r.int32(),
      replication: r.int16(),
      assignments: r.array((r) => [r.int32(), r.array((r) => r.int32())]),
      configs: r.array((r): [string, string | null] => [r.string(), r.nullableString()]),
    }));
    r.int32();
    const validateOnly = version >= 1 ? r.bool() : false;
    r.end("CreateTopics request");
    const out: Array<{ name: string; error: number; message: string | null }> = [];
    for (const t of topics) {
      const refuse = (error: number, message: string): void => void out.push({ name: t.name, error, message });
      if (t.assignments.length > 0) {
        refuse(KafkaError.INVALID_REQUEST, "explicit replica assignments are not supported (one broker)");
        continue;
      }
      if (t.replication !== -1 && t.replication !== 1) {
        refuse(KafkaError.INVALID_REPLICATION_FACTOR, `replication factor ${t.replication}: this broker is one node, use 1`);
        continue;
      }
      const config: CreateTopicConfig = { partitions: t.partitions === -1 ? 1 : t.partitions };
      let bad: string | undefined;
      for (const [name, value] of t.configs) {
        const n = Number(value);
        if (name === "retention.ms" && Number.isFinite(n)) config.retentionMs = n === -1 ? Number.MAX_SAFE_INTEGER : n;
        else if (name === "retention.bytes" && Number.isFinite(n)) {
          if (n !== -1) config.retentionBytes = n;
        } else bad = `config ${name}=${String(value)} is not supported (retention.ms and retention.bytes are)`;
      }
      if (bad !== undefined) {
        refuse(KafkaError.INVALID_CONFIG, bad);
        continue;
      }
      if (!(Number.isInteger(config.partitions) && config.partitions! >= 1)) {
        refuse(KafkaError.INVALID_PARTITIONS, `num_partitions ${t.partitions}: expected at least 1`);
        continue;
      }
      try {
        if (validateOnly) {
          if ((await ctx.engine.listTopics()).includes(t.name)) throw new BrookError("ALREADY_EXISTS", `topic "${t.name}" already exists`);
        } else await ctx.engine.createTopic(t.name, config, false);
        out.push({ name: t.name, error: KafkaError.NONE, message: null });
      } catch (err) {
        const code = err instanceof BrookError && err.code === "INVALID_ARGUMENT" ? (err.message.startsWith("partitions") ? KafkaError.INVALID_PARTITIONS : KafkaError.INVALID_TOPIC_EXCEPTION) : kafkaCode(err);
        refuse(code, (err as Error).message);
      }
    }
    const w = new Writer();
    if (version >= 2) w.int32(0);
    return w.array(out, (w, t) => {
      w.string(t.name).int16(t.error);
      if (version >= 1) w.nullableString(t.message);
    });
  },
};

// ---------------------------------------------------------------- DeleteTopics (20)
// Request:  topic_names [string], timeout_ms int32
// Response: v1+ throttle_time_ms int32, responses [name string, error_code int16]
const deleteTopics: Handler = {
  min: 0,
  max: 3,
  async handle(r, version, ctx) {
    const names = r.array((r) => r.string());
    r.int32();
    r.end("DeleteTopics request");
    const out = [];
    for (const name of names) {
      try {
        await ctx.engine.deleteTopic(name);
        out.push({ name, error: KafkaError.NONE });
      } catch (err) {
        out.push({ name, error: kafkaCode(err) });
      }
    }
    const w = new Writer();
    if (version >= 1) w.int32(0);
    return w.array(out, (w, t) => w.string(t.name).int16(t.error));
  },
};

// ---------------------------------------------------------------- DescribeConfigs (32)
// Request:  resources [resource_type int8, resource_name string, configuration_keys nullable [string]],
//           v1+ include_synonyms bool
// Response: throttle_time_ms int32, results [error_code int16, error_message nullable string,
//             resource_type int8, resource_name string,
//             configs [name string, value nullable string, read_only bool,
//               v0 is_default bool | v1+ config_source int8, is_sensitive bool,
//               v1+ synonyms [name string, value nullable string, source int8]]]
// Topics (type 2) report partitions-independent settings the engine has; the broker (type 4)
// reports its message size limit.
const describeConfigs: Handler = {
  min: 0,
  max: 2,
  async handle(r, version, ctx) {
    const resources = r.array((r) => ({ type: r.int8(), name: r.string(), keys: r.nullableArray((r) => r.string()) }));
    if (version >= 1) r.bool();
    r.end("DescribeConfigs request");
    const results = [];
    for (const res of resources) {
      let configs: Array<[string, string]> = [];
      let error: number = KafkaError.NONE;
      let message: string | null = null;
      if (res.type === 2) {
        try {
          const d: TopicDetails = await ctx.engine.describeTopic(res.name);
          configs = [
            ["retention.ms", String(d.config.retentionMs)],
            ["retention.bytes", String(d.config.retentionBytes ?? -1)],
            ["max.message.bytes", String(ctx.engine.maxMessageBytes)],
            ["message.timestamp.type", "LogAppendTime"],
            ["cleanup.policy", "delete"],
          ];
        } catch (err) {
          error = kafkaCode(err);
          message = (err as Error).message;
        }
      } else if (res.type === 4) {
        configs = [
          ["message.max.bytes", String(ctx.engine.maxMessageBytes)],
          ["auto.create.topics.enable", "false"],
          ["log.message.timestamp.type", "LogAppendTime"],
        ];
      } else {
        error = KafkaError.INVALID_REQUEST;
        message = `resource type ${res.type} is not supported (2 topic, 4 broker)`;
      }
      if (res.keys !== null) configs = configs.filter(([n]) => res.keys!.includes(n));
      results.push({ ...res, error, message, configs });
    }
    const w = new Writer().int32(0);
    return w.array(results, (w, res) => {
      w.int16(res.error).nullableString(res.message).int8(res.type).string(res.name);
      w.array(res.configs, (w, [name, value]) => {
        w.string(name).nullableString(value).bool(true);
        if (version === 0) w.bool(false);
        else w.int8(res.type === 2 ? 1 : 5); // TOPIC_CONFIG / DEFAULT_CONFIG
        w.bool(false);
        if (version >= 1) w.array([], () => undefined);
      });
    });
  },
};

// ---------------------------------------------------------------- SaslHandshake (17)
// Request:  mechanism string
// Response: error_code int16, mechanisms [string]
// Only v1 (SaslAuthenticate frames follow) and only PLAIN.
const saslHandshake: Handler = {
  min: 1,
  max: 1,
  beforeAuth: true,
  async handle(r, _version, ctx) {
    const mechanism = r.string();
    r.end("SaslHandshake request");
    const ok = mechanism === "PLAIN" && ctx.token !== undefined;
    if (ok) ctx.saslMechanism = mechanism;
    return new Writer().int16(ok ? KafkaError.NONE : KafkaError.UNSUPPORTED_SASL_MECHANISM).array(ctx.token === undefined ? [] : ["PLAIN"], (w, m) => w.string(m));
  },
};

// ---------------------------------------------------------------- SaslAuthenticate (36)
// Request:  auth_bytes bytes                      PLAIN: authzid NUL authcid NUL password
// Response: error_code int16, error_message nullable string, auth_bytes bytes,
//           v1+ session_lifetime_ms int64
// Any user name; the password must be the server's token. A failure closes the connection
// after the answer, as Kafka does.
const saslAuthenticate: Handler = {
  min: 0,
  max: 1,
  beforeAuth: true,
  async handle(r, version, ctx) {
    const bytes = r.bytes();
    r.end("SaslAuthenticate request");
    if (ctx.saslMechanism !== "PLAIN") throw new ProtocolError("SaslAuthenticate before a PLAIN SaslHandshake");
    const parts = bytes.toString("utf8").split("\0");
    const ok = parts.length === 3 && ctx.token !== undefined && parts[2] === ctx.token;
    const w = new Writer();
    if (ok) {
      ctx.authenticated = true;
      w.int16(KafkaError.NONE).nullableString(null);
    } else {
      ctx.closeAfterResponse = "SASL PLAIN authentication failed";
      w.int16(KafkaError.SASL_AUTHENTICATION_FAILED).nullableString("authentication failed: wrong token");
    }
    w.bytes(Buffer.alloc(0));
    if (version >= 1) w.int64(0);
    return w;
  },
};

// ---------------------------------------------------------------- DeleteRecords (21)
// Request v0-1:  topics [name string, partitions [partition_index int32, offset int64]], timeout_ms int32
//                offset -1 = the high watermark (delete everything)
// Response v0-1: throttle_time_ms int32, topics [name string, partitions [partition_index int32,
//                  low_watermark int64, error_code int16]]
// The engine's store must support it: the memory store does; the file store (brook serve --dir)
// refuses, answered POLICY_VIOLATION (Kafka's refusal of a deletion its configuration forbids).
const deleteRecords: Handler = {
  min: 0,
  max: 1,
  async handle(r, _version, ctx) {
    const topics = r.array((r) => ({ name: r.string(), partitions: r.array((r) => ({ index: r.int32(), offset: r.int64() })) }));
    r.int32();
    r.end("DeleteRecords request");
    const out = [];
    for (const t of topics) {
      const partitions = [];
      for (const p of t.partitions) {
        try {
          if (ctx.engine.deleteRecords === undefined) throw new BrookError("UNSUPPORTED", "deleteRecords: not offered by this engine");
          const details = await ctx.engine.describeTopic(t.name);
          const info = details.partitions[p.index];
          if (info === undefined) {
            partitions.push({ index: p.index, low: -1, error: KafkaError.UNKNOWN_TOPIC_OR_PARTITION });
            continue;
          }
          const low = await ctx.engine.deleteRecords(t.name, p.index, p.offset === -1 ? info.end : p.offset);
          partitions.push({ index: p.index, low, error: KafkaError.NONE });
        } catch (err) {
          const code = err instanceof BrookError && err.code === "UNSUPPORTED" ? KafkaError.POLICY_VIOLATION : kafkaCode(err);
          ctx.logger.debug(`kafka-wire: DeleteRecords ${t.name}/${p.index}: ${(err as Error).message}`);
          partitions.push({ index: p.index, low: -1, error: code });
        }
      }
      out.push({ name: t.name, partitions });
    }
    return new Writer().int32(0).array(out, (w, t) => {
      w.string(t.name).array(t.partitions, (w, p) => void w.int32(p.index).int64(p.low).int16(p.error));
    });
  },
};

export const adminHandlers: Record<number, Handler> = {
  21: deleteRecords,
  17: saslHandshake,
  19: createTopics,
  20: deleteTopics,
  32: describeConfigs,
  36: saslAuthenticate,
};
