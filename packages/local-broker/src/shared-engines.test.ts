import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, test } from "@jest/globals";
import { connect, silentLogger } from "@brook/core";
import "./index.js";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "brook-shared-engine-"));
  dirs.push(dir);
  return dir;
}

describe("brokers sharing one engine in a process", () => {
  test("memory:<name>: closing one broker leaves the other working; after the last close the name starts empty", async () => {
    const url = `memory:shared-${process.pid}-${Date.now()}`;
    const a = await connect(url, { logger: silentLogger });
    const b = await connect(url, { logger: silentLogger });
    await a.admin.createTopic("t");
    expect(await b.admin.listTopics()).toEqual(["t"]);
    await b.close();
    const r = await a.publisher("t").publish({ data: "after b closed" });
    expect(r.position).toEqual({ partition: "0", offset: "0" });
    await a.close();
    const c = await connect(url, { logger: silentLogger });
    expect(await c.admin.listTopics()).toEqual([]);
    await c.close();
  });

  test("local:<dir>: the directory's engine stays open until its last broker closes, then releases the lock", async () => {
    const dir = tempDir();
    const a = await connect(`local:${dir}`, { logger: silentLogger });
    const b = await connect(`local:${dir}`, { logger: silentLogger });
    await a.admin.createTopic("t");
    await a.close();
    expect(fs.existsSync(path.join(dir, "LOCK"))).toBe(true);
    const r = await b.publisher("t").publish({ data: "after a closed" });
    expect(r.position).toEqual({ partition: "0", offset: "0" });
    await b.close();
    expect(fs.existsSync(path.join(dir, "LOCK"))).toBe(false);
    const c = await connect(`local:${dir}`, { logger: silentLogger });
    expect(await c.admin.listTopics()).toEqual(["t"]);
    await c.close();
  });
});
