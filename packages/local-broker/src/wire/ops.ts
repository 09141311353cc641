/**
 * The json bodies of the brook:// wire protocol (../../PROTOCOL.md §4, §7, §8): the handshake,
 * the admin and group requests with their answers, and the ASSIGN/REVOKE pushes. The client
 * encodes what the server decodes and the other way round, so both read one grammar. Request
 * frames are built with id 0; the client sets the id when it sends them (`setFrameId`).
 * Decoders throw `ProtocolError` for a body of the wrong shape (§2.1).
 */
import type { CreateTopicConfig, GroupDescription, TopicDetails } from "../engine-api.js";
import { decodeJson, field } from "./codec.js";
import { FrameType, PROTOCOL_VERSION, RESPONSE_BIT, frame, jsonFrame } from "./frames.js";

/**
 * §3: a json request body is at most this long; a longer one is refused (INVALID_ARGUMENT) without
 * being parsed. The largest real one, a COMMIT of 1000 partitions, is about 30 KiB.
 */
export const MAX_JSON_REQUEST_BYTES = 1024 * 1024;

// ---- HELLO (§8) and HELLO_OK (§4) ----

export function encodeHello(token: string | undefined): Buffer {
  const hello: Record<string, unknown> = { version: PROTOCOL_VERSION, client: "brook-node" };
  if (token !== undefined) hello.token = token;
  return jsonFrame(FrameType.HELLO, 1, hello);
}

/** The server checks version and token itself (§8): their refusals have their own codes. */
export function decodeHello(body: Buffer): { version: unknown; token: unknown } {
  const hello = field.object(decodeJson(body), "HELLO");
  return { version: hello.version, token: hello.token };
}

/** What the server announces in HELLO_OK besides its version. */
export interface ServerHello {
  maxMessageBytes: number;
  maxFrameBytes: number;
  maxInFlight: number;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
}

export function encodeHelloOk(id: number, hello: ServerHello): Buffer {
  return jsonFrame(FrameType.HELLO | RESPONSE_BIT, id, {
    version: PROTOCOL_VERSION,
    maxMessageBytes: hello.maxMessageBytes,
    maxFrameBytes: hello.maxFrameBytes,
    maxInFlight: hello.maxInFlight,
    sessionTimeoutMs: hello.sessionTimeoutMs,
    heartbeatIntervalMs: hello.heartbeatIntervalMs,
  });
}

export function decodeHelloOk(body: Buffer): ServerHello {
  const hello = field.object(decodeJson(body), "HELLO_OK");
  return {
    sessionTimeoutMs: field.int(hello, "sessionTimeoutMs"),
    maxMessageBytes: field.int(hello, "maxMessageBytes"),
    maxFrameBytes: field.int(hello, "maxFrameBytes"),
    maxInFlight: field.int(hello, "maxInFlight"),
    heartbeatIntervalMs: field.int(hello, "heartbeatIntervalMs"),
  };
}

// ---- topics (§4) ----

export function encodeCreateTopicRequest(name: string, config: CreateTopicConfig, ifNotExists: boolean): Buffer {
  const body = { name, config: { partitions: config.partitions, retentionMs: config.retentionMs, retentionBytes: config.retentionBytes }, ifNotExists };
  return jsonFrame(FrameType.CREATE_TOPIC, 0, body);
}

export function decodeCreateTopicRequest(body: Buffer): { name: string; config: CreateTopicConfig; ifNotExists: boolean } {
  const value = requestBody(body);
  const name = field.string(value, "name");
  const config = field.object(value.config ?? {}, "config");
  const ifNotExists = field.boolean(value, "ifNotExists");
  const create: CreateTopicConfig = {};
  const partitions = field.optionalNumber(config, "partitions");
  const retentionMs = field.optionalNumber(config, "retentionMs");
  const retentionBytes = field.optionalNumber(config, "retentionBytes");
  if (partitions !== undefined) create.partitions = partitions;
  if (retentionMs !== undefined) create.retentionMs = retentionMs;
  if (retentionBytes !== undefined) create.retentionBytes = retentionBytes;
  return { name, config: create, ifNotExists };
}

/** DELETE_TOPIC and DESCRIBE_TOPIC: `{ name }`. */
export function encodeTopicNameRequest(type: typeof FrameType.DELETE_TOPIC | typeof FrameType.DESCRIBE_TOPIC, name: string): Buffer {
  return jsonFrame(type, 0, { name });
}

export function decodeTopicNameRequest(body: Buffer): string {
  return field.string(requestBody(body), "name");
}

export function decodeListTopicsResponse(body: Buffer): string[] {
  return decodeJson(body) as string[];
}

export function decodeDescribeTopicResponse(body: Buffer): TopicDetails {
  const details = decodeJson(body) as TopicDetails;
  details.config.retentionBytes ??= undefined; // JSON has no undefined: "unlimited" comes back absent
  return details;
}

export function encodeOffsetForTimeRequest(topic: string, partition: number, time: number): Buffer {
  return jsonFrame(FrameType.OFFSET_FOR_TIME, 0, { topic, partition, time: Math.max(0, Math.floor(time)) });
}

export function decodeOffsetForTimeRequest(body: Buffer): { topic: string; partition: number; time: number } {
  const value = requestBody(body);
  const topic = field.string(value, "topic");
  const partition = field.int(value, "partition");
  const time = field.int(value, "time");
  return { topic, partition, time };
}

export function encodeOffsetForTimeResponse(id: number, offset: number): Buffer {
  return jsonFrame(FrameType.OFFSET_FOR_TIME | RESPONSE_BIT, id, { offset });
}

export function decodeOffsetForTimeResponse(body: Buffer): number {
  return field.int(field.object(decodeJson(body), "body"), "offset");
}

// ---- committed offsets (§4) ----

/** COMMITTED and DELETE_GROUP: `{ group, topic }`. */
export function encodeCommittedRequest(group: string, topic: string, type: typeof FrameType.COMMITTED | typeof FrameType.DELETE_GROUP = FrameType.COMMITTED): Buffer {
  return jsonFrame(type, 0, { group, topic });
}

export function decodeCommittedRequest(body: Buffer): { group: string; topic: string } {
  const value = requestBody(body);
  return { group: field.string(value, "group"), topic: field.string(value, "topic") };
}

export function encodeCommittedResponse(id: number, committed: Map<number, number>): Buffer {
  return jsonFrame(FrameType.COMMITTED | RESPONSE_BIT, id, [...committed]);
}

export function decodeCommittedResponse(body: Buffer): Map<number, number> {
  return new Map(field.pairs({ pairs: decodeJson(body) }, "pairs"));
}

/** §7 COMMIT; `memberId` fences it: only the member owning each partition may commit it. */
export function encodeCommitRequest(group: string, topic: string, offsets: Map<number, number>, memberId?: string): Buffer {
  return jsonFrame(FrameType.COMMIT, 0, { group, topic, offsets: [...offsets], ...(memberId === undefined ? {} : { memberId }) });
}

export function decodeCommitRequest(body: Buffer): { group: string; topic: string; offsets: Map<number, number>; memberId: string | undefined } {
  const value = requestBody(body);
  const group = field.string(value, "group");
  const topic = field.string(value, "topic");
  const memberId = value.memberId === undefined ? undefined : field.string(value, "memberId");
  return { group, topic, offsets: new Map(field.pairs(value, "offsets")), memberId };
}

// ---- groups (§7) ----

export interface JoinRequest {
  group: string;
  topic: string;
  memberId: string;
  /** after a reconnect: take back the member the server may still hold */
  rejoin: boolean;
}

export function encodeJoinRequest(join: JoinRequest): Buffer {
  return jsonFrame(FrameType.JOIN, 0, { group: join.group, topic: join.topic, memberId: join.memberId, rejoin: join.rejoin });
}

export function decodeJoinRequest(body: Buffer): JoinRequest {
  const value = requestBody(body);
  return { group: field.string(value, "group"), topic: field.string(value, "topic"), memberId: field.string(value, "memberId"), rejoin: field.boolean(value, "rejoin") };
}

/** §7: a plain JOIN is "joined"; a rejoin is "rejoined" with the member's partitions, or "unknown". */
export type JoinAnswer = { status: "joined" } | { status: "rejoined"; partitions: number[] } | { status: "unknown" };

export function encodeJoinResponse(id: number, answer: JoinAnswer): Buffer {
  return jsonFrame(FrameType.JOIN | RESPONSE_BIT, id, answer);
}

export function decodeJoinResponse(body: Buffer): JoinAnswer {
  const value = field.object(decodeJson(body), "JOIN answer");
  if (value.status === "rejoined") return { status: "rejoined", partitions: field.partitions(value, "partitions") };
  return value.status === "joined" ? { status: "joined" } : { status: "unknown" };
}

export function encodeLeaveRequest(group: string, topic: string, memberId: string): Buffer {
  return jsonFrame(FrameType.LEAVE, 0, { group, topic, memberId });
}

export function decodeLeaveRequest(body: Buffer): { group: string; topic: string; memberId: string } {
  const value = requestBody(body);
  const group = field.string(value, "group");
  const topic = field.string(value, "topic");
  return { group, topic, memberId: field.string(value, "memberId") };
}

export function decodeDescribeGroupsResponse(body: Buffer): GroupDescription[] {
  return decodeJson(body) as GroupDescription[];
}

/** ASSIGN / REVOKE (§7), pushed by the server with its own id; the reply is an empty `type | 0x80`. */
export function encodePush(type: typeof FrameType.ASSIGN | typeof FrameType.REVOKE, id: number, memberId: string, partitions: number[]): Buffer {
  return jsonFrame(type, id, { memberId, partitions });
}

export function decodePush(body: Buffer): { memberId: string; partitions: number[] } {
  const value = field.object(decodeJson(body), "push");
  return { memberId: field.string(value, "memberId"), partitions: field.partitions(value, "partitions") };
}

// ---- requests and answers without a body ----

/** LIST_TOPICS and DESCRIBE_GROUPS. */
export function emptyRequest(type: typeof FrameType.LIST_TOPICS | typeof FrameType.DESCRIBE_GROUPS): Buffer {
  return frame(type, 0);
}

/** The answer of a request that returns nothing, or the reply to a push. */
export function emptyResponse(type: number, id: number): Buffer {
  return frame(type | RESPONSE_BIT, id);
}

/** An answer whose body is `value` as json. */
export function jsonResponse(type: number, id: number, value: unknown): Buffer {
  return jsonFrame(type | RESPONSE_BIT, id, value);
}

function requestBody(body: Buffer): Record<string, unknown> {
  return field.object(decodeJson(body), "body");
}
