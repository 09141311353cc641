/**
 * What each request does on the server (../../PROTOCOL.md §4 – §7): decode it, make the engine
 * call, encode the answer. The mirror of the client's dispatch.ts, which turns engine calls
 * into these requests. Decoding is synchronous, so a bad frame is caught before any work.
 */
import type { EngineApi } from "../engine-api.js";
import { FrameType, ProtocolError, type Frame } from "../wire/frames.js";
import {
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

export class RequestDispatcher {
  constructor(
    private readonly engine: EngineApi,
    private readonly membership: ServerMembership,
    private readonly maxFrameBytes: number,
  ) {}

  request(conn: ServerConnection, f: Frame): Reply {
    const engine = this.engine;
    const id = f.id;
    const done = (): Buffer => emptyResponse(f.type, id);
    const json = (value: unknown): Buffer => jsonResponse(f.type, id, value);
    switch (f.type) {
      case FrameType.APPEND: {
        const { topic, messages } = decodeAppendRequest(f.body);
        return engine.append(topic, messages).then((results) => encodeAppendResponse(id, results));
      }
      case FrameType.FETCH: {
        const req = decodeFetchRequest(f.body);
        const controller = conn.trackFetch(id);
        return engine
          .fetch(req.topic, req.partition, req.offset, Math.min(req.maxRecords, MAX_FETCH_RECORDS), Math.min(req.waitMs, MAX_FETCH_WAIT_MS), controller.signal)
          .then((res) => encodeFetchResponse(id, res.endOffset, res.records, this.maxFrameBytes))
          .finally(() => conn.untrackFetch(id));
      }
      case FrameType.CREATE_TOPIC: {
        const { name, config, ifNotExists } = decodeCreateTopicRequest(f.body);
        return engine.createTopic(name, config, ifNotExists).then(done);
      }
      case FrameType.DELETE_TOPIC:
        return engine.deleteTopic(decodeTopicNameRequest(f.body)).then(done);
      case FrameType.LIST_TOPICS:
        return engine.listTopics().then(json);
      case FrameType.DESCRIBE_TOPIC:
        return engine.describeTopic(decodeTopicNameRequest(f.body)).then(json);
      case FrameType.OFFSET_FOR_TIME: {
        const { topic, partition, time } = decodeOffsetForTimeRequest(f.body);
        return engine.offsetForTime(topic, partition, time).then((offset) => encodeOffsetForTimeResponse(id, offset));
      }
      case FrameType.COMMITTED: {
        const { group, topic } = decodeCommittedRequest(f.body);
        return engine.committed(group, topic).then((committed) => encodeCommittedResponse(id, committed));
      }
      case FrameType.COMMIT: {
        const { group, topic, offsets, memberId } = decodeCommitRequest(f.body);
        return engine.commit(group, topic, offsets, memberId).then(done);
      }
      case FrameType.JOIN:
        return this.membership.join(conn, id, decodeJoinRequest(f.body));
      case FrameType.LEAVE: {
        const { group, topic, memberId } = decodeLeaveRequest(f.body);
        return this.membership.leave(group, topic, memberId).then(done);
      }
      case FrameType.DESCRIBE_GROUPS:
        return engine.describeGroups().then(json);
      default:
        throw new ProtocolError(`unknown request type 0x${f.type.toString(16)}`);
    }
  }
}
