import { describe, expect, test } from "@jest/globals";
import { BrookError, type DedupeStore } from "@brook/core";
import { sleep, waitFor } from "./helpers.js";

/**
 * What every DedupeStore promises (core's dedupe.ts), run against each implementation: the
 * in-memory one and the durable ones on a real Redis and PostgreSQL. `make` returns a fresh,
 * empty store (its own table, prefix or scope), made with the given claim timeout; the caller
 * closes what it made.
 */
export function runDedupeStoreSuite(name: string, make: (options: { claimTimeoutMs?: number }) => DedupeStore | Promise<DedupeStore>): void {
  describe(`DedupeStore contract: ${name}`, () => {
    test("claim → busy for others → complete → done; a release gives the key back; a release by another token changes nothing", async () => {
      const s = await make({});
      expect(await s.claim("a", 60_000, "w1")).toBe("claimed");
      expect(await s.claim("a", 60_000, "w2")).toBe("busy");
      await s.complete("a", "w1");
      await s.complete("a", "w1"); // a retried complete of the same claim is accepted
      expect(await s.claim("a", 60_000, "w2")).toBe("done");
      expect(await s.claim("b", 60_000, "w1")).toBe("claimed");
      await s.release("b", "w2");
      expect(await s.claim("b", 60_000, "w2")).toBe("busy");
      await s.release("b", "w1");
      expect(await s.claim("b", 60_000, "w2")).toBe("claimed");
    });

    test("a worker that died loses its claim after claimTimeoutMs; its late complete is FENCED and the new holder's stands", async () => {
      const s = await make({ claimTimeoutMs: 150 });
      expect(await s.claim("k", 60_000, "dead")).toBe("claimed");
      await waitFor(async () => (await s.claim("k", 60_000, "alive")) === "claimed", 5_000, "the claim to expire");
      const late = await s.complete("k", "dead").then(() => undefined, (e: unknown) => e);
      expect(late).toBeInstanceOf(BrookError);
      expect(late).toMatchObject({ code: "FENCED", retriable: false });
      await s.complete("k", "alive");
      expect(await s.claim("k", 60_000, "third")).toBe("done");
      // expired and never taken over: still fenced
      expect(await s.claim("x", 60_000, "slow")).toBe("claimed");
      await sleep(300);
      await expect(s.complete("x", "slow")).rejects.toMatchObject({ code: "FENCED" });
    });

    test("a done key is remembered for the ttl given at claim time, then can be claimed again", async () => {
      const s = await make({});
      expect(await s.claim("t", 200, "w")).toBe("claimed");
      await s.complete("t", "w");
      expect(await s.claim("t", 200, "v")).toBe("done");
      await waitFor(async () => (await s.claim("t", 200, "v")) === "claimed", 5_000, "the done key to expire");
    });
  });
}
