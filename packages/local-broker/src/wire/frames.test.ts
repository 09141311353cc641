import { describe, expect, test } from "@jest/globals";
import { FrameReader, FrameType, ProtocolError, frame, jsonFrame, setFrameId } from "./frames.js";
import { encodeFetchRequest } from "./records.js";

function readAll(reader: FrameReader): Array<{ type: number; id: number; body: Buffer }> {
  const out = [];
  for (let f = reader.next(); f !== undefined; f = reader.next()) out.push(f);
  return out;
}

describe("FrameReader (PROTOCOL.md §2)", () => {
  test("reassembles frames fed one byte at a time, several per chunk, and large ones across chunks", () => {
    const big = Buffer.alloc(300_000, 7);
    const stream = Buffer.concat([frame(FrameType.LIST_TOPICS, 1), jsonFrame(FrameType.DELETE_TOPIC, 2, { name: "t" }), frame(FrameType.APPEND, 3, big)]);
    // One byte per chunk (a pathological sender) must stay linear.
    const byByte = new FrameReader(1 << 20);
    const frames = [];
    for (let i = 0; i < stream.length; i++) {
      byByte.push(stream.subarray(i, i + 1));
      frames.push(...readAll(byByte));
    }
    const whole = new FrameReader(1 << 20);
    whole.push(stream);
    const chunked = new FrameReader(1 << 20);
    for (let i = 0; i < stream.length; i += 65_536) chunked.push(stream.subarray(i, i + 65_536));
    for (const got of [frames, readAll(whole), readAll(chunked)]) {
      expect(got.map((f) => [f.type, f.id, f.body.length])).toEqual([
        [FrameType.LIST_TOPICS, 1, 0],
        [FrameType.DELETE_TOPIC, 2, Buffer.byteLength('{"name":"t"}')],
        [FrameType.APPEND, 3, big.length],
      ]);
      expect(got[2]!.body.equals(big)).toBe(true);
    }
    expect(whole.bufferedBytes).toBe(0);
  });

  test("refuses a length below 5 or above the limit as soon as the 4 length bytes are in", () => {
    const small = new FrameReader(1_000);
    small.push(Buffer.from([0, 0, 0, 4]));
    expect(() => small.next()).toThrow(ProtocolError);
    const large = new FrameReader(1_000);
    large.push(Buffer.from([0, 0, 0x10, 0]));
    expect(() => large.next()).toThrow(/bad frame length 4096: the limit is 1000 bytes/);
  });

  test("setFrameId fills in the id of a frame built before it was sent", () => {
    const bytes = encodeFetchRequest({ topic: "t", partition: 0, offset: 0, maxRecords: 1, waitMs: 0 });
    setFrameId(bytes, 0xfffffffe);
    const reader = new FrameReader(1_000);
    reader.push(bytes);
    expect(reader.next()).toMatchObject({ type: FrameType.FETCH, id: 0xfffffffe });
  });
});
