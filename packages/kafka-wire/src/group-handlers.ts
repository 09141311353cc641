/** Consumer group APIs over groups.ts (membership) and the engine (committed offsets). Grammar per handler, as in handlers.ts. */
import { BrookError } from "@brook/core/base";
import { Writer } from "./codec.js";
import { KafkaError, kafkaCode } from "./errors.js";
import type { Handler } from "./handlers.js";

// ---------------------------------------------------------------- FindCoordinator (10)
// Request:  key string, v1+ key_type int8                     (0 = group, 1 = transaction)
// Response: v1+ throttle_time_ms int32, error_code int16, v1+ error_message nullable string,
//           node_id int32, host string, port int32
const findCoordinator: Handler = {
  min: 0,
  max: 2,
  async handle(r, version, ctx) {
    r.string();
    const keyType = version >= 1 ? r.int8() : 0;
    r.end("FindCoordinator request");
    const w = new Writer();
    if (version >= 1) w.int32(0);
    if (keyType !== 0) {
      w.int16(KafkaError.COORDINATOR_NOT_AVAILABLE);
      if (version >= 1) w.nullableString("transactions are not supported");
      return w.int32(-1).string("").int32(-1);
    }
    w.int16(KafkaError.NONE);
    if (version >= 1) w.nullableString(null);
    return w.int32(ctx.node.id).string(ctx.node.host).int32(ctx.node.port);
  },
};

// ---------------------------------------------------------------- JoinGroup (11)
// Request:  group_id string, session_timeout_ms int32, v1+ rebalance_timeout_ms int32,
//           member_id string, v5+ group_instance_id nullable string, protocol_type string,
//           protocols [name string, metadata bytes]
// Response: v2+ throttle_time_ms int32, error_code int16, generation_id int32,
//           protocol_name string, leader string, member_id string,
//           members [member_id string, v5+ group_instance_id nullable string, metadata bytes]
const joinGroup: Handler = {
  min: 0,
  max: 5,
  async handle(r, version, ctx) {
    const groupId = r.string();
    const sessionTimeoutMs = r.int32();
    const rebalanceTimeoutMs = version >= 1 ? r.int32() : sessionTimeoutMs;
    const memberId = r.string();
    const groupInstanceId = version >= 5 ? r.nullableString() : null;
    const protocolType = r.string();
    const protocols = r.array((r): [string, Buffer] => [r.string(), Buffer.from(r.bytes())]);
    r.end("JoinGroup request");
    const result = await ctx.groups.join(groupId, {
      memberId,
      groupInstanceId,
      clientId: ctx.clientId ?? "",
      clientHost: ctx.connection,
      sessionTimeoutMs,
      rebalanceTimeoutMs,
      protocolType,
      protocols,
    });
    const w = new Writer();
    if (version >= 2) w.int32(0);
    w.int16(result.error).int32(result.generation).string(result.protocol).string(result.leader).string(result.memberId);
    w.array(result.members, (w, m) => {
      w.string(m.memberId);
      if (version >= 5) w.nullableString(m.groupInstanceId);
      w.bytes(m.metadata);
    });
    return w;
  },
};

// ---------------------------------------------------------------- SyncGroup (14)
// Request:  group_id string, generation_id int32, member_id string,
//           v3+ group_instance_id nullable string, assignments [member_id string, assignment bytes]
// Response: v1+ throttle_time_ms int32, error_code int16, assignment bytes
const syncGroup: Handler = {
  min: 0,
  max: 3,
  async handle(r, version, ctx) {
    const groupId = r.string();
    const generation = r.int32();
    const memberId = r.string();
    if (version >= 3) r.nullableString();
    const assignments = r.array((r): [string, Buffer] => [r.string(), Buffer.from(r.bytes())]);
    r.end("SyncGroup request");
    const result = await ctx.groups.sync(groupId, memberId, generation, assignments);
    const w = new Writer();
    if (version >= 1) w.int32(0);
    return w.int16(result.error).bytes(result.assignment);
  },
};

// ---------------------------------------------------------------- Heartbeat (12)
// Request:  group_id string, generation_id int32, member_id string, v3+ group_instance_id nullable string
// Response: v1+ throttle_time_ms int32, error_code int16
const heartbeat: Handler = {
  min: 0,
  max: 3,
  async handle(r, version, ctx) {
    const groupId = r.string();
    const generation = r.int32();
    const memberId = r.string();
    if (version >= 3) r.nullableString();
    r.end("Heartbeat request");
    const w = new Writer();
    if (version >= 1) w.int32(0);
    return w.int16(ctx.groups.heartbeat(groupId, memberId, generation));
  },
};

// ---------------------------------------------------------------- LeaveGroup (13)
// Request v0-2: group_id string, member_id string
//         v3:   group_id string, members [member_id string, group_instance_id nullable string]
// Response:     v1+ throttle_time_ms int32, error_code int16,
//               v3 members [member_id string, group_instance_id nullable string, error_code int16]
const leaveGroup: Handler = {
  min: 0,
  max: 3,
  async handle(r, version, ctx) {
    const groupId = r.string();
    const members = version >= 3 ? r.array((r) => ({ id: r.string(), instance: r.nullableString() })) : [{ id: r.string(), instance: null }];
    r.end("LeaveGroup request");
    const results = members.map((m) => ({ ...m, error: ctx.groups.leave(groupId, m.id) }));
    const w = new Writer();
    if (version >= 1) w.int32(0);
    if (version < 3) return w.int16(results[0]!.error);
    w.int16(KafkaError.NONE);
    return w.array(results, (w, m) => w.string(m.id).nullableString(m.instance).int16(m.error));
  },
};

// ---------------------------------------------------------------- OffsetCommit (8)
// Request:  group_id string, generation_id int32, member_id string,
//           v2-4 retention_time_ms int64, v7+ group_instance_id nullable string,
//           topics [name string, partitions [partition_index int32, committed_offset int64,
//             v6+ committed_leader_epoch int32, committed_metadata nullable string]]
// Response: v3+ throttle_time_ms int32, topics [name string, partitions [partition_index int32, error_code int16]]
// generation -1 with an empty member id is a commit from outside the group (allowed while it
// has no members). Offsets go to the engine; the metadata string is not kept.
const offsetCommit: Handler = {
  min: 2,
  max: 7,
  async handle(r, version, ctx) {
    const groupId = r.string();
    const generation = r.int32();
    const memberId = r.string();
    if (version <= 4) r.int64();
    if (version >= 7) r.nullableString();
    const topics = r.array((r) => ({
      name: r.string(),
      partitions: r.array((r) => {
        const index = r.int32();
        const offset = r.int64();
        if (version >= 6) r.int32();
        r.nullableString();
        return { index, offset };
      }),
    }));
    r.end("OffsetCommit request");
    let fence: number = KafkaError.NONE;
    if (generation === -1 && memberId === "") {
      if ((ctx.groups.groups.get(groupId)?.members.size ?? 0) > 0) fence = KafkaError.UNKNOWN_MEMBER_ID;
    } else {
      fence = ctx.groups.check(groupId, memberId, generation, "commit");
    }
    const out = [];
    for (const t of topics) {
      let error = fence;
      if (error === KafkaError.NONE) {
        try {
          await ctx.engine.commit(groupId, t.name, new Map(t.partitions.map((p) => [p.index, p.offset])));
        } catch (err) {
          error = err instanceof BrookError && err.code === "INVALID_ARGUMENT" ? KafkaError.OFFSET_OUT_OF_RANGE : kafkaCode(err);
          ctx.logger.debug(`kafka-wire: commit of group ${groupId} topic ${t.name} refused: ${(err as Error).message}`);
        }
      }
      out.push({ name: t.name, partitions: t.partitions.map((p) => ({ index: p.index, error })) });
    }
    const w = new Writer();
    if (version >= 3) w.int32(0);
    return w.array(out, (w, t) => w.string(t.name).array(t.partitions, (w, p) => w.int32(p.index).int16(p.error)));
  },
};

// ---------------------------------------------------------------- OffsetFetch (9)
// Request:  group_id string, topics nullable [name string, partition_indexes [int32]]  (v2+: null = all)
// Response: v3+ throttle_time_ms int32,
//           topics [name string, partitions [partition_index int32, committed_offset int64,
//             v5+ committed_leader_epoch int32, metadata nullable string, error_code int16]],
//           v2+ error_code int16
// committed_offset -1: nothing committed.
const offsetFetch: Handler = {
  min: 1,
  max: 5,
  async handle(r, version, ctx) {
    const groupId = r.string();
    const requested = r.nullableArray((r) => ({ name: r.string(), partitions: r.array((r) => r.int32()) }));
    r.end("OffsetFetch request");
    let topics: Array<{ name: string; partitions: number[] | undefined }>;
    if (requested === null) {
      const described = await ctx.engine.describeGroups();
      topics = described.filter((d) => d.group === groupId).map((d) => ({ name: d.topic, partitions: undefined }));
    } else topics = requested;
    const out = [];
    for (const t of topics) {
      let committed = new Map<number, number>();
      let error: number = KafkaError.NONE;
      try {
        committed = await ctx.engine.committed(groupId, t.name);
      } catch (err) {
        error = kafkaCode(err);
      }
      const partitions = t.partitions ?? [...committed.keys()].sort((a, b) => a - b);
      out.push({ name: t.name, partitions: partitions.map((p) => ({ index: p, offset: committed.get(p) ?? -1, error })) });
    }
    const w = new Writer();
    if (version >= 3) w.int32(0);
    w.array(out, (w, t) =>
      w.string(t.name).array(t.partitions, (w, p) => {
        w.int32(p.index).int64(p.offset);
        if (version >= 5) w.int32(-1);
        w.nullableString("").int16(p.error);
      }),
    );
    if (version >= 2) w.int16(KafkaError.NONE);
    return w;
  },
};

// ---------------------------------------------------------------- DescribeGroups (15)
// Request:  groups [string], v3+ include_authorized_operations bool
// Response: v1+ throttle_time_ms int32, groups [error_code int16, group_id string, group_state string,
//             protocol_type string, protocol_data string,
//             members [member_id string, v4+ group_instance_id nullable string, client_id string,
//               client_host string, member_metadata bytes, member_assignment bytes],
//             v3+ authorized_operations int32]
// An unknown group is described as "Dead" with no members, as Kafka does.
const describeGroups: Handler = {
  min: 0,
  max: 4,
  async handle(r, version, ctx) {
    const ids = r.array((r) => r.string());
    if (version >= 3) r.bool();
    r.end("DescribeGroups request");
    const w = new Writer();
    if (version >= 1) w.int32(0);
    w.array(ids, (w, id) => {
      const g = ctx.groups.groups.get(id);
      w.int16(KafkaError.NONE).string(id).string(g?.state ?? "Dead").string(g?.protocolType ?? "").string(g?.protocol ?? "");
      w.array([...(g?.members.values() ?? [])], (w, m) => {
        w.string(m.id);
        if (version >= 4) w.nullableString(m.groupInstanceId);
        w.string(m.clientId).string(m.clientHost);
        w.bytes(m.protocols.find(([n]) => n === g!.protocol)?.[1] ?? Buffer.alloc(0));
        w.bytes(m.assignment);
      });
      if (version >= 3) w.int32(-2147483648);
    });
    return w;
  },
};

// ---------------------------------------------------------------- ListGroups (16)
// Request:  (empty)
// Response: v1+ throttle_time_ms int32, error_code int16, groups [group_id string, protocol_type string]
// Kafka groups with members, plus every group with committed offsets in the engine (Brook's
// own groups among them) with protocol type "".
const listGroups: Handler = {
  min: 0,
  max: 2,
  async handle(r, version, ctx) {
    r.end("ListGroups request");
    const groups = new Map<string, string>();
    for (const d of await ctx.engine.describeGroups()) groups.set(d.group, "");
    for (const g of ctx.groups.groups.values()) if (g.members.size > 0 || groups.has(g.id)) groups.set(g.id, g.protocolType);
    const w = new Writer();
    if (version >= 1) w.int32(0);
    w.int16(KafkaError.NONE);
    return w.array([...groups], (w, [id, type]) => w.string(id).string(type));
  },
};

export const groupHandlers: Record<number, Handler> = {
  8: offsetCommit,
  9: offsetFetch,
  10: findCoordinator,
  11: joinGroup,
  12: heartbeat,
  13: leaveGroup,
  14: syncGroup,
  15: describeGroups,
  16: listGroups,
};
