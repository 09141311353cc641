/**
 * `EngineApi` over TCP to `brook serve` (../../PROTOCOL.md): each engine call becomes one
 * request and its answer (§4 – §6), so LocalBroker runs unchanged on it. The connection
 * (connection.ts) pipelines the requests and reconnects; group members are membership.ts.
 * Arguments are checked here, before anything is sent.
 */
import { BrookError, defaultLogger, type PublishBatchResult } from "@brook/core";
import { invalidArgument, toBrookError, type WireMessage } from "@brook/core/spi";
import type { GroupMember } from "../coordinator.js";
import type { AppendOptions, CreateTopicConfig, EngineApi, FetchResult, GroupDescription, TopicDetails } from "../engine-api.js";
import { FrameType } from "../wire/frames.js";
import {
  decodeCommittedResponse,
  decodeDescribeGroupsResponse,
  decodeDescribeTopicResponse,
  decodeListTopicsResponse,
  decodeOffsetForTimeResponse,
  emptyRequest,
  encodeCommitRequest,
  encodeCommittedRequest,
  encodeCreateTopicRequest,
  encodeOffsetForTimeRequest,
  encodeTopicNameRequest,
} from "../wire/ops.js";
import { decodeAppendResponse, decodeFetchResponse, encodeAppendRequest, encodeFetchRequest } from "../wire/records.js";
import { ClientConnection, type RemoteEngineOptions } from "./connection.js";
import { RemoteMembership } from "./membership.js";

export class RemoteEngineApi implements EngineApi {
  private constructor(
    private readonly connection: ClientConnection,
    private readonly membership: RemoteMembership,
  ) {}

  /** Connects (one attempt, bounded by connectTimeoutMs) and says HELLO; fails with UNAVAILABLE or UNAUTHENTICATED. */
  static async connect(options: RemoteEngineOptions = {}): Promise<RemoteEngineApi> {
    const connection = await ClientConnection.connect(options);
    const membership = new RemoteMembership(connection, options.logger ?? defaultLogger);
    connection.setMembership(membership);
    return new RemoteEngineApi(connection, membership);
  }

  /** brook://host:port, without the token */
  get url(): string {
    return this.connection.url;
  }

  /** the server's limit, from HELLO_OK */
  get maxMessageBytes(): number {
    return this.connection.maxMessageBytes;
  }

  async createTopic(name: string, config: CreateTopicConfig, ifNotExists: boolean): Promise<void> {
    for (const key of ["partitions", "retentionMs", "retentionBytes"] as const) {
      const v = config[key];
      if (v !== undefined && (typeof v !== "number" || !Number.isFinite(v))) throw invalidArgument(key, "a finite number", v);
    }
    await this.connection.call(FrameType.CREATE_TOPIC, encodeCreateTopicRequest(name, config, ifNotExists), ignore);
  }

  async deleteTopic(name: string): Promise<void> {
    await this.connection.call(FrameType.DELETE_TOPIC, encodeTopicNameRequest(FrameType.DELETE_TOPIC, name), ignore);
  }

  listTopics(): Promise<string[]> {
    return this.connection.call(FrameType.LIST_TOPICS, emptyRequest(FrameType.LIST_TOPICS), decodeListTopicsResponse);
  }

  describeTopic(name: string): Promise<TopicDetails> {
    return this.connection.call(FrameType.DESCRIBE_TOPIC, encodeTopicNameRequest(FrameType.DESCRIBE_TOPIC, name), decodeDescribeTopicResponse);
  }

  append(topic: string, messages: readonly WireMessage[], options?: AppendOptions): Promise<PublishBatchResult[]> {
    if (options?.partition !== undefined) {
      // PROTOCOL.md's APPEND carries no partition: the server chooses by key.
      return Promise.reject(new BrookError("UNSUPPORTED", "append: options.partition is not carried over brook://; use the in-process LogEngine"));
    }
    let bytes: Buffer;
    try {
      bytes = encodeAppendRequest(topic, messages);
    } catch (err) {
      return Promise.reject(toBrookError(err, "INVALID_ARGUMENT"));
    }
    const maxFrameBytes = this.connection.maxFrameBytes;
    if (bytes.length - 4 > maxFrameBytes) {
      // §2.1: the server would take it for a bad frame and drop the connection.
      return Promise.reject(
        new BrookError("MESSAGE_TOO_LARGE", `a batch of ${messages.length} messages encodes to ${bytes.length} bytes, above the server's frame limit of ${maxFrameBytes}; send smaller batches`),
      );
    }
    return this.connection.call(FrameType.APPEND, bytes, decodeAppendResponse);
  }

  async fetch(topic: string, partition: number, offset: number, maxRecords: number, waitMs: number, signal?: AbortSignal): Promise<FetchResult> {
    checkInt("partition", partition);
    checkInt("offset", offset);
    checkInt("maxRecords", maxRecords);
    const empty: FetchResult = { records: [], endOffset: offset };
    if (signal?.aborted === true) return empty;
    const wait = Math.max(0, Math.floor(waitMs));
    return this.connection.call(FrameType.FETCH, encodeFetchRequest({ topic, partition, offset, maxRecords, waitMs: wait }), decodeFetchResponse, {
      timeoutMs: this.connection.requestTimeoutMs + wait,
      ...(signal === undefined ? {} : { signal, abortValue: empty }),
    });
  }

  async offsetForTime(topic: string, partition: number, time: number): Promise<number> {
    checkInt("partition", partition);
    return this.connection.call(FrameType.OFFSET_FOR_TIME, encodeOffsetForTimeRequest(topic, partition, time), decodeOffsetForTimeResponse);
  }

  committed(group: string, topic: string): Promise<Map<number, number>> {
    return this.connection.call(FrameType.COMMITTED, encodeCommittedRequest(group, topic), decodeCommittedResponse);
  }

  async commit(group: string, topic: string, offsets: Map<number, number>, memberId?: string): Promise<void> {
    for (const [partition, next] of offsets) {
      checkInt("partition", partition);
      checkInt("offset", next);
    }
    await this.connection.call(FrameType.COMMIT, encodeCommitRequest(group, topic, offsets, memberId), ignore);
  }

  async deleteGroup(group: string, topic: string): Promise<void> {
    await this.connection.call(FrameType.DELETE_GROUP, encodeCommittedRequest(group, topic, FrameType.DELETE_GROUP), ignore);
  }

  /** Joins; ASSIGN pushes this causes reach `member` before this resolves (§7). */
  join(group: string, topic: string, member: GroupMember): Promise<void> {
    return this.membership.join(group, topic, member);
  }

  leave(group: string, topic: string, memberId: string): Promise<void> {
    return this.membership.leave(group, topic, memberId);
  }

  describeGroups(): Promise<GroupDescription[]> {
    return this.connection.call(FrameType.DESCRIBE_GROUPS, emptyRequest(FrameType.DESCRIBE_GROUPS), decodeDescribeGroupsResponse);
  }

  async close(): Promise<void> {
    this.membership.clear();
    await this.connection.close();
  }
}

function ignore(): undefined {
  return undefined;
}

function checkInt(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw invalidArgument(name, "a non-negative integer", value);
}
