import { describe, expect, test } from "@jest/globals";
import { FRAME_HEADER_BYTES, FrameReader, FrameType, ProtocolError, RESPONSE_BIT } from "./frames.js";
import {
  decodeCommitRequest,
  decodeCommittedRequest,
  decodeCommittedResponse,
  decodeCreateTopicRequest,
  decodeDescribeTopicResponse,
  decodeHello,
  decodeHelloOk,
  decodeJoinRequest,
  decodeJoinResponse,
  decodeLeaveRequest,
  decodeOffsetForTimeRequest,
  decodeOffsetForTimeResponse,
  decodePush,
  decodeTopicNameRequest,
  encodeCommitRequest,
  encodeCommittedRequest,
  encodeCommittedResponse,
  encodeCreateTopicRequest,
  encodeHello,
  encodeHelloOk,
  encodeJoinRequest,
  encodeJoinResponse,
  encodeLeaveRequest,
  encodeOffsetForTimeRequest,
  encodeOffsetForTimeResponse,
  encodePush,
  encodeTopicNameRequest,
  jsonResponse,
} from "./ops.js";

function read(bytes: Buffer): { type: number; id: number; body: Buffer } {
  const reader = new FrameReader(1 << 20);
  reader.push(bytes);
  return reader.next()!;
}

const body = (bytes: Buffer): Buffer => bytes.subarray(FRAME_HEADER_BYTES);

describe("json bodies (PROTOCOL.md §4, §7, §8): what the client encodes the server decodes, and back", () => {
  test("HELLO carries version and token only when given; HELLO_OK the server's limits", () => {
    expect(read(encodeHello(undefined))).toMatchObject({ type: FrameType.HELLO, id: 1 });
    expect(JSON.parse(body(encodeHello(undefined)).toString())).toEqual({ version: 1, client: "brook-node" });
    expect(decodeHello(body(encodeHello("s3cret")))).toEqual({ version: 1, token: "s3cret" });
    const limits = { maxMessageBytes: 1, maxFrameBytes: 2, maxInFlight: 3, sessionTimeoutMs: 4, heartbeatIntervalMs: 5 };
    const ok = encodeHelloOk(9, limits);
    expect(read(ok)).toMatchObject({ type: FrameType.HELLO | RESPONSE_BIT, id: 9 });
    expect(JSON.parse(body(ok).toString())).toEqual({ version: 1, ...limits });
    expect(decodeHelloOk(body(ok))).toEqual(limits);
  });

  test("topic requests and answers round-trip; an absent retentionBytes comes back as undefined", () => {
    const create = encodeCreateTopicRequest("orders", { partitions: 4, retentionMs: 1_000 }, true);
    expect(read(create)).toMatchObject({ type: FrameType.CREATE_TOPIC, id: 0 });
    expect(decodeCreateTopicRequest(body(create))).toEqual({ name: "orders", config: { partitions: 4, retentionMs: 1_000 }, ifNotExists: true });
    expect(decodeTopicNameRequest(body(encodeTopicNameRequest(FrameType.DELETE_TOPIC, "gone")))).toBe("gone");
    expect(decodeOffsetForTimeRequest(body(encodeOffsetForTimeRequest("t", 2, 1_700_000_000_000.7)))).toEqual({ topic: "t", partition: 2, time: 1_700_000_000_000 });
    expect(decodeOffsetForTimeResponse(body(encodeOffsetForTimeResponse(3, 42)))).toBe(42);
    const details = { name: "t", config: { partitions: 1, retentionMs: 5, retentionBytes: undefined, createdAt: 7 }, partitions: [{ partition: 0, start: 0, end: 3, bytes: 99 }] };
    const decoded = decodeDescribeTopicResponse(body(jsonResponse(FrameType.DESCRIBE_TOPIC, 1, details)));
    expect(decoded).toEqual(details);
    expect("retentionBytes" in decoded.config).toBe(true);
  });

  test("committed offsets and commits round-trip as [partition, offset] pairs", () => {
    const offsets = new Map([
      [0, 10],
      [3, 2 ** 40],
    ]);
    expect(decodeCommittedRequest(body(encodeCommittedRequest("g", "t")))).toEqual({ group: "g", topic: "t" });
    expect(decodeCommittedResponse(body(encodeCommittedResponse(5, offsets)))).toEqual(offsets);
    expect(decodeCommitRequest(body(encodeCommitRequest("g", "t", offsets)))).toEqual({ group: "g", topic: "t", offsets });
  });

  test("JOIN, LEAVE and pushes round-trip", () => {
    const join = { group: "g", topic: "t", memberId: "m-1", rejoin: true };
    expect(decodeJoinRequest(body(encodeJoinRequest(join)))).toEqual(join);
    for (const answer of [{ status: "joined" }, { status: "rejoined", partitions: [0, 2] }, { status: "unknown" }] as const) {
      expect(decodeJoinResponse(body(encodeJoinResponse(1, answer)))).toEqual(answer);
    }
    expect(decodeLeaveRequest(body(encodeLeaveRequest("g", "t", "m-1")))).toEqual({ group: "g", topic: "t", memberId: "m-1" });
    const push = encodePush(FrameType.REVOKE, 77, "m-1", [1, 3]);
    expect(read(push)).toMatchObject({ type: FrameType.REVOKE, id: 77 });
    expect(decodePush(body(push))).toEqual({ memberId: "m-1", partitions: [1, 3] });
  });

  test("a body of the wrong shape is a bad frame", () => {
    const bad = (json: string): Buffer => Buffer.from(json);
    expect(() => decodeCreateTopicRequest(bad('{"name":"t","config":{"partitions":"4"},"ifNotExists":false}'))).toThrow(ProtocolError);
    expect(() => decodeJoinRequest(bad('{"group":"g","topic":"t","memberId":"m"}'))).toThrow(/field "rejoin"/);
    expect(() => decodeCommitRequest(bad('{"group":"g","topic":"t","offsets":[[0,-1]]}'))).toThrow(ProtocolError);
    expect(() => decodePush(bad('{"memberId":"m","partitions":[1.5]}'))).toThrow(ProtocolError);
    expect(() => decodeTopicNameRequest(bad("[]"))).toThrow(/expected a JSON object/);
    expect(() => decodeHello(bad("{not json"))).toThrow(/not valid JSON/);
  });
});
