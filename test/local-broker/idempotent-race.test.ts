// A publish retried while its first attempt is still being appended (a retry on a new
// connection after a reset, before the first append's fsync finished) must not be stored twice:
// the repeat waits for the first and reports its position with duplicate: true.
import { describe, expect, test } from "@jest/globals";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@brook/core";
import { LogEngine, MemoryStore } from "@brook/local-broker/engine";
import "@brook/local-broker";

const message = (id: string, key?: string) => ({ key, idempotencyKey: id, headers: {}, value: Buffer.from(id) });

describe("an idempotent publish repeated while the first is in flight is stored once", () => {
  test("engine: concurrent appends of one idempotency key", async () => {
    const engine = await LogEngine.open(new MemoryStore());
    try {
      await engine.createTopic("t", { partitions: 2 }, false);
      const [a, b, c] = await Promise.all([
        engine.append("t", [message("order-1"), message("order-2", "k")]),
        engine.append("t", [message("order-1")]),
        engine.append("t", [message("order-2", "k"), message("order-3")]),
      ]);
      expect(a.map((r) => r.ok && r.duplicate)).toEqual([false, false]);
      expect(b[0]).toEqual({ ok: true, duplicate: true, position: (a[0] as { position: unknown }).position });
      expect(c[0]).toEqual({ ok: true, duplicate: true, position: (a[1] as { position: unknown }).position });
      expect(c[1]).toMatchObject({ ok: true, duplicate: false });
      const stored = (await Promise.all([0, 1].map((p) => engine.fetch("t", p, 0, 100, 0)))).flatMap((f) => f.records.map((r) => r.idempotencyKey));
      expect(stored.sort()).toEqual(["order-1", "order-2", "order-3"]);
    } finally {
      await engine.close();
    }
  });

  test("local: with fsync always, ten concurrent retries of each of 20 keys store each key once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "brook-idem-race-"));
    const broker = await connect(`local:${dir}?fsync=always`);
    try {
      await broker.admin.createTopic("t", { partitions: 3 });
      // One publisher per attempt: each is its own append call, as retries on new connections are.
      const pubs = Array.from({ length: 10 }, () => broker.publisher<string>("t", { codec: "string" }));
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => pubs[Math.floor(i / 20)]!.publish({ key: `k${i % 7}`, idempotencyKey: `id-${i % 20}`, data: `m${i % 20}` })),
      );
      expect(results.filter((r) => !r.duplicate)).toHaveLength(20);
      const firstOf = new Map<string, string>();
      results.forEach((r, i) => {
        const pos = `${r.position.partition}/${r.position.offset}`;
        const id = `id-${i % 20}`;
        if (!firstOf.has(id)) firstOf.set(id, pos);
        expect(pos).toBe(firstOf.get(id));
      });
      const offsets = await broker.admin.describeTopic("t");
      expect(offsets.partitions).toBe(3);
      await Promise.all(pubs.map((p) => p.close()));
    } finally {
      await broker.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
