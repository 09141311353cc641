/**
 * Concurrent createTopic of one name: exactly one succeeds and the others get ALREADY_EXISTS;
 * with ifNotExists they all resolve and then all see the winner's partition count. In the
 * engine itself (memory and file store) and through `brook serve` from separate clients.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "@jest/globals";
import { BrookError, type Admin } from "@brook/core";
import { openDirectoryEngine } from "@brook/local-broker";
import { LogEngine, MemoryStore } from "@brook/local-broker/engine";
import { uniqueTopic } from "@brook/contract-tests";
import { cleanups, open, serve } from "./serve-helpers.js";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const N = 8;

/**
 * N admins racing to create `topic` with partition counts 17..16+N (above 16, a creation lets the
 * event loop run, so requests from other connections do interleave); what each call saw.
 */
async function race(admins: Admin[], topic: string, ifNotExists: boolean): Promise<Array<{ ok: true; partitions: number } | { ok: false; error: unknown }>> {
  return Promise.all(
    admins.map(async (admin, i) => {
      try {
        await admin.createTopic(topic, { partitions: 17 + i, ifNotExists });
        return { ok: true as const, partitions: (await admin.describeTopic(topic)).partitions };
      } catch (error) {
        return { ok: false as const, error };
      }
    }),
  );
}

function expectOneWinner(outcomes: Awaited<ReturnType<typeof race>>, actual: number): void {
  const winners = outcomes.filter((o) => o.ok);
  expect(winners).toHaveLength(1);
  expect(winners[0]).toEqual({ ok: true, partitions: actual });
  for (const o of outcomes) {
    if (o.ok) continue;
    expect(o.error).toBeInstanceOf(BrookError);
    expect(o.error).toMatchObject({ code: "ALREADY_EXISTS" });
  }
}

function expectAllSame(outcomes: Awaited<ReturnType<typeof race>>, actual: number): void {
  expect(outcomes).toEqual(outcomes.map(() => ({ ok: true, partitions: actual })));
}

/** The engine as an Admin (what LocalAdmin would do, without its client-side checks). */
function engineAdmin(engine: LogEngine): Admin {
  return {
    createTopic: (name, options = {}) => engine.createTopic(name, { partitions: options.partitions ?? 1 }, (options as { ifNotExists?: boolean }).ifNotExists ?? false),
    describeTopic: async (name) => {
      const d = await engine.describeTopic(name);
      return { name, partitions: d.config.partitions, retentionMs: d.config.retentionMs };
    },
    deleteTopic: (name) => engine.deleteTopic(name),
    listTopics: () => engine.listTopics(),
    topicExists: async (name) => engine.hasTopic(name),
  };
}

describe.each([
  ["memory store", async () => LogEngine.open(new MemoryStore())],
  [
    "file store",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "brook-create-"));
      dirs.push(dir);
      return openDirectoryEngine(dir, { fsync: "never" });
    },
  ],
])("concurrent createTopic in the engine (%s)", (_name, openEngine) => {
  test("exactly one succeeds, the others get ALREADY_EXISTS; with ifNotExists all resolve and see the same partitions", async () => {
    const engine = await openEngine();
    cleanups.push(() => engine.close());
    const admins = Array.from({ length: N }, () => engineAdmin(engine));
    const plain = await race(admins, "raced", false);
    const actual = (await engine.describeTopic("raced")).config.partitions;
    expectOneWinner(plain, actual);
    expect((await engine.describeTopic("raced")).partitions).toHaveLength(actual);

    const lenient = await race(admins, "raced-lenient", true);
    expectAllSame(lenient, (await engine.describeTopic("raced-lenient")).config.partitions);
  });
});

describe("concurrent createTopic through brook serve", () => {
  test("from separate clients: exactly one succeeds; with ifNotExists all resolve and see the same partitions", async () => {
    const { server, engine } = await serve();
    const url = `brook://127.0.0.1:${server.port}`;
    const brokers = await Promise.all(Array.from({ length: N }, () => open(url)));
    const admins = brokers.map((b) => b.admin);
    const topic = uniqueTopic("raced");
    const plain = await race(admins, topic, false);
    expectOneWinner(plain, engine.partitionCount(topic));

    const lenientTopic = uniqueTopic("raced-lenient");
    const lenient = await race(admins, lenientTopic, true);
    expectAllSame(lenient, engine.partitionCount(lenientTopic));
  });
});
