import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, test } from "@jest/globals";
import { BrookError, silentLogger } from "@brook/core";
import { LogEngine } from "./engine.js";
import { openDirectoryEngine } from "./local-dir.js";
import { MemoryStore } from "./storage/memory-store.js";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

const member = (id: string) => ({ id, onAssign: () => undefined, onRevoke: async () => undefined });

describe("deleteGroup (brook groups delete)", () => {
  test("forgets the group's offsets on that topic only; describeGroups no longer lists it", async () => {
    const engine = await LogEngine.open(new MemoryStore());
    try {
      await engine.createTopic("a", { partitions: 2 });
      await engine.createTopic("b", {});
      await engine.append("a", [{ key: undefined, idempotencyKey: undefined, value: Buffer.from("x"), headers: {} }]);
      await engine.commit("g", "a", new Map([[0, 0]]));
      await engine.commit("g", "b", new Map([[0, 0]]));
      expect((await engine.describeGroups()).map((g) => `${g.group}/${g.topic}`)).toEqual(["g/a", "g/b"]);
      await engine.deleteGroup("g", "a");
      expect(await engine.committed("g", "a")).toEqual(new Map());
      expect((await engine.describeGroups()).map((g) => `${g.group}/${g.topic}`)).toEqual(["g/b"]);
    } finally {
      await engine.close();
    }
  });

  test("is refused while the group has members, and for a missing topic", async () => {
    const engine = await LogEngine.open(new MemoryStore());
    try {
      await engine.createTopic("a", {});
      await engine.join("g", "a", member("m1"));
      const err = (await engine.deleteGroup("g", "a").catch((e: unknown) => e)) as BrookError;
      expect(err).toBeInstanceOf(BrookError);
      expect(err.code).toBe("INVALID_ARGUMENT");
      expect(err.message).toContain("has members");
      await engine.leave("g", "a", "m1");
      await engine.deleteGroup("g", "a");
      // Nothing is left of it: no members, no offsets, so describeGroups no longer lists it.
      expect(await engine.describeGroups()).toEqual([]);
      expect(((await engine.deleteGroup("g", "nope").catch((e: unknown) => e)) as BrookError).code).toBe("TOPIC_NOT_FOUND");
    } finally {
      await engine.close();
    }
  });

  test("a deleted group stays deleted after the directory is reopened (journal entry groupDeleted)", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "brook-delete-group-"));
    dirs.push(dir);
    let engine = await openDirectoryEngine(dir, { logger: silentLogger });
    await engine.createTopic("a", {});
    await engine.append("a", [{ key: undefined, idempotencyKey: undefined, value: Buffer.from("x"), headers: {} }]);
    await engine.commit("kept", "a", new Map([[0, 1]]));
    await engine.commit("gone", "a", new Map([[0, 1]]));
    await engine.deleteGroup("gone", "a");
    await engine.close();
    engine = await openDirectoryEngine(dir, { logger: silentLogger });
    try {
      expect(await engine.committed("gone", "a")).toEqual(new Map());
      expect(await engine.committed("kept", "a")).toEqual(new Map([[0, 1]]));
    } finally {
      await engine.close();
    }
  });
});
