/**
 * What each request does on the server (../../PROTOCOL.md §4 – §7): decode it, make the engine
 * call, encode the answer. The mirror of the client's dispatch.ts, which turns engine calls
 * into these requests. Decoding is synchronous, so a bad frame is caught before any work.
 */
import { BrookError } from "@brook/core/base";
import { validateTopicName } from "@brook/core/base";
import type { EngineApi } from "../engine-api.js";
import { validateAppendCount, validateName } from "../limits.js";
import { FrameType, ProtocolError, type Frame } from "../wire/frames.js";
import {
  MAX_JSON_REQUEST_BYTES,
  decodeCommitRequest,
  decodeCommittedRequest,
  decodeCreateTopicRequest,
  decodeJoinRequest,
  decodeLeaveRequest,
  decodeOffsetForTimeRequest,
  decodeTopicNameRequest,
  emptyResponse,
  encodeCommittedResponse,
  encodeOffsetForTimeResponse,
  jsonResponse,
} from "../wire/ops.js";
import { MAX_FETCH_WAIT_MS, decodeAppendRequest, decodeFetchRequest, encodeAppendResponse, encodeFetchResponse } from "../wire/records.js";
import type { Reply, ServerConnection } from "./connection.js";
import type { ServerMembership } from "./membership.js";

/** A FETCH reads at most this many records, whatever the client asks. */
const MAX_FETCH_RECORDS = 65_536;

/** Requests whose body is json (§3, §4): bounded before they are parsed. */
const JSON_REQUESTS: ReadonlySet<number> = new Set([
  FrameType.CREATE_TOPIC,
  FrameType.DELETE_TOPIC,
  FrameType.DESCRIBE_TOPIC,
  FrameType.OFFSET_FOR_TIME,
  FrameType.COMMITTED,
  FrameType.COMMIT,
  FrameType.JOIN,
  FrameType.LEAVE,
]);

export class RequestDispatcher {
  constructor(
    private readonly engine: EngineApi,
    private readonly membership: ServerMembership,
    private readonly maxFrameBytes: number,
  ) {}

  /**
   * Decodes and starts one request. Besides the engine's own checks, the server checks what
   * only a raw client can get wrong (README "Limits"): a json body's size before parsing it,
   * the message count of an APPEND before decoding them, topic names by Brook's rules on every
   * request (no request names a path or echoes megabytes back in an error), group names and
   * member ids by length. Each refusal is a BrookError, sent as ERROR; the connection goes on.
   */
  request(conn: ServerConnection, f: Frame): Reply {
    const engine = this.engine;
    const id = f.id;
    const done = (): Buffer => emptyResponse(f.type, id);
    const json = (value: unknown): Buffer => jsonResponse(f.type, id, value);
    if (f.body.length > MAX_JSON_REQUEST_BYTES && JSON_REQUESTS.has(f.type)) {
      throw new BrookError("INVALID_ARGUMENT", `body: expected a json body of at most ${MAX_JSON_REQUEST_BYTES} bytes, got ${f.body.length}`);
    }
    switch (f.type) {
      case FrameType.APPEND: {
        const { topic, messages } = decodeAppendRequest(f.body, validateAppendCount);
        validateTopicName(topic, "topic");
        return engine.append(topic, messages).then((results) => encodeAppendResponse(id, results));
      }
      case FrameType.FETCH: {
        const req = decodeFetchRequest(f.body);
        validateTopicName(req.topic, "topic");
        const controller = conn.trackFetch(id);
        return engine
          .fetch(req.topic, req.partition, req.offset, Math.min(req.maxRecords, MAX_FETCH_RECORDS), Math.min(req.waitMs, MAX_FETCH_WAIT_MS), controller.signal)
          .then((res) => encodeFetchResponse(id, res.endOffset, res.records, this.maxFrameBytes))
          .finally(() => conn.untrackFetch(id));
      }
      case FrameType.CREATE_TOPIC: {
        const { name, config, ifNotExists } = decodeCreateTopicRequest(f.body);
        return engine.createTopic(validateTopicName(name, "name"), config, ifNotExists).then(done);
      }
      case FrameType.DELETE_TOPIC:
        return engine.deleteTopic(validateTopicName(decodeTopicNameRequest(f.body), "name")).then(done);
      case FrameType.LIST_TOPICS:
        return engine.listTopics().then(json);
      case FrameType.DESCRIBE_TOPIC:
        return engine.describeTopic(validateTopicName(decodeTopicNameRequest(f.body), "name")).then(json);
      case FrameType.OFFSET_FOR_TIME: {
        const { topic, partition, time } = decodeOffsetForTimeRequest(f.body);
        validateTopicName(topic, "topic");
        return engine.offsetForTime(topic, partition, time).then((offset) => encodeOffsetForTimeResponse(id, offset));
      }
      case FrameType.COMMITTED: {
        const { group, topic } = decodeCommittedRequest(f.body);
        validateName(group, "group");
        validateTopicName(topic, "topic");
        return engine.committed(group, topic).then((committed) => encodeCommittedResponse(id, committed));
      }
      case FrameType.COMMIT: {
        const { group, topic, offsets, memberId } = decodeCommitRequest(f.body);
        validateName(group, "group");
        validateTopicName(topic, "topic");
        if (memberId !== undefined) validateName(memberId, "memberId");
        return engine.commit(group, topic, offsets, memberId).then(done);
      }
      case FrameType.DELETE_GROUP: {
        const { group, topic } = decodeCommittedRequest(f.body);
        validateName(group, "group");
        validateTopicName(topic, "topic");
        return engine.deleteGroup(group, topic).then(done);
      }
      case FrameType.JOIN: {
        const join = decodeJoinRequest(f.body);
        validateName(join.group, "group");
        validateTopicName(join.topic, "topic");
        validateName(join.memberId, "memberId");
        return this.membership.join(conn, id, join);
      }
      case FrameType.LEAVE: {
        const { group, topic, memberId } = decodeLeaveRequest(f.body);
        validateName(group, "group");
        validateTopicName(topic, "topic");
        validateName(memberId, "memberId");
        return this.membership.leave(group, topic, memberId).then(done);
      }
      case FrameType.DESCRIBE_GROUPS:
        return engine.describeGroups().then(json);
      default:
        throw new ProtocolError(`unknown request type 0x${f.type.toString(16)}`);
    }
  }
}
