/**
 * The dedupe window expires entries from the head of its put-order queue: what publish dedupe
 * relies on is that a key is found exactly while its entry is live — a key put again keeps its
 * newer entry when the older one's slot expires, and an entry put out of expiry order is still
 * not returned once expired.
 */
import { describe, expect, it } from "@jest/globals";
import { DedupeWindow } from "./dedupe-window.js";

const entry = (offset: number, expiresAt: number) => ({ partition: 0, offset, expiresAt });

describe("DedupeWindow", () => {
  it("drops entries in put order as they expire, and only those", () => {
    const w = new DedupeWindow();
    for (let i = 0; i < 10_000; i++) w.put(`k${i}`, entry(i, 1_000 + i));
    w.expire(1_000 + 5_000); // k0..k5000 expired (expiresAt <= now)
    expect(w.size).toBe(4_999);
    expect(w.get("k5000", 6_000)).toBeUndefined();
    expect(w.get("k5001", 6_000)?.offset).toBe(5_001);
    expect(w.get("k9999", 10_998)?.offset).toBe(9_999);
    expect(w.get("k9999", 10_999)).toBeUndefined(); // expired at get even before expire() ran
  });

  it("a key put again keeps its newer entry when the old slot expires", () => {
    const w = new DedupeWindow();
    w.put("a", entry(1, 100));
    w.put("b", entry(2, 150));
    w.put("a", entry(3, 300));
    w.expire(200);
    expect(w.get("a", 200)).toEqual(entry(3, 300));
    expect(w.get("b", 200)).toBeUndefined();
    expect(w.size).toBe(1);
  });

  it("an entry out of expiry order (restored from the log) is not returned once expired", () => {
    const w = new DedupeWindow();
    w.put("late", entry(1, 1_000));
    w.put("early", entry(2, 100));
    w.expire(500); // the head is not expired yet: the queue stops there
    expect(w.get("early", 500)).toBeUndefined();
    expect(w.get("late", 500)?.offset).toBe(1);
    w.expire(1_000);
    expect(w.size).toBe(0);
  });
});
