import { describe, expect, test } from "@jest/globals";
import { inspect } from "node:util";
import type { ReceivedMessage } from "../contract.js";
import { lazyMessages } from "./message-view.js";

const message = (i: number): ReceivedMessage<number> => ({
  id: `0/${i}`,
  topic: "t",
  data: i,
  headers: {},
  publishTime: new Date(0),
  position: { partition: "0", offset: String(i) },
  deliveryAttempt: 1,
});

function view(count: number): { messages: ReceivedMessage<number>[]; made: number[] } {
  const made: number[] = [];
  return {
    made,
    messages: lazyMessages(count, (i) => {
      made.push(i);
      return message(i);
    }),
  };
}

describe("lazyMessages (a batch handler's view)", () => {
  test("length and single reads make only the messages read, each once", () => {
    const { messages, made } = view(1000);
    expect(messages.length).toBe(1000);
    expect(Array.isArray(messages)).toBe(true);
    expect(made).toEqual([]);
    expect(messages[7]!.data).toBe(7);
    expect(messages[7]).toBe(messages[7]);
    expect(messages.at(-1)!.data).toBe(999);
    expect(made).toEqual([7, 999]);
    expect(messages[1000]).toBeUndefined();
    expect((messages as unknown as Record<string, unknown>)["07"]).toBeUndefined();
    expect(made).toEqual([7, 999]);
  });

  test("iteration and Array methods see every message, in order", () => {
    const { messages } = view(50);
    const seen: number[] = [];
    for (const m of messages) seen.push(m.data);
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(messages.map((m) => m.data).reduce((a, b) => a + b, 0)).toBe(1225);
    expect(messages.some((m) => m.data === 49)).toBe(true);
    expect(messages.filter((m) => m.data % 10 === 0)).toHaveLength(5);
    expect([...messages].length).toBe(50);
    expect(0 in messages && !(50 in messages)).toBe(true);
  });

  test("equality, keys, JSON and inspect see a plain array of the messages", () => {
    const { messages } = view(3);
    expect(messages).toEqual([message(0), message(1), message(2)]);
    expect(Object.keys(messages)).toEqual(["0", "1", "2"]);
    expect(JSON.parse(JSON.stringify(messages))).toHaveLength(3);
    expect(inspect(messages)).toContain("'0/2'");
    expect(inspect(messages)).not.toContain("empty");
  });

  test("writes, push, sort and splice work as on an array", () => {
    const { messages } = view(4);
    messages.reverse();
    expect(messages.map((m) => m.data)).toEqual([3, 2, 1, 0]);
    messages.push(message(9));
    messages[0] = message(8);
    expect(messages.map((m) => m.data)).toEqual([8, 2, 1, 0, 9]);
    messages.splice(1, 2);
    expect(messages.map((m) => m.data)).toEqual([8, 0, 9]);
    const { messages: other, made } = view(3);
    other.sort((a, b) => b.data - a.data);
    expect(other.map((m) => m.data)).toEqual([2, 1, 0]);
    expect(made.sort()).toEqual([0, 1, 2]);
  });

  test("an empty batch is an empty array", () => {
    const { messages, made } = view(0);
    expect(messages).toEqual([]);
    expect(made).toEqual([]);
  });
});
