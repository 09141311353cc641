/**
 * Smoke tests of the built `brook` command (packages/cli/dist/main.js): serve, topics,
 * publish, tail, groups and the one-line error exit.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { BrookError, connect, silentLogger, type PublishResult } from "@brook/core";
import { RemoteEngineApi } from "@brook/local-broker/engine";
import { uniqueTopic, waitFor } from "@brook/contract-tests";

const root = join(__dirname, "..", "..");
const main = join(root, "packages/cli/dist/main.js");
const token = "cli-test-token";
let server: ChildProcess;
let serverOut = "";
let serverErr = "";
let url = "";
let dataDir = "";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `brook …` against the test server (BROOK_URL/BROOK_TOKEN) and resolves when it exits. */
function brook(args: string[], options: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main, ...args], {
      cwd: root,
      env: { ...process.env, BROOK_URL: url, BROOK_TOKEN: token, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`brook ${args.join(" ")} did not exit within ${options.timeoutMs ?? 20_000} ms; stdout: ${stdout} stderr: ${stderr}`));
    }, options.timeoutMs ?? 20_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? "");
  });
}

beforeAll(async () => {
  // Build the CLI and what it depends on; a build broken elsewhere must not hide a built CLI.
  const build = spawnSync("npx", ["tsc", "-b", "packages/cli"], { cwd: root, encoding: "utf8" });
  if (build.status !== 0 && !existsSync(main)) throw new Error(`tsc -b packages/cli failed:\n${build.stdout}${build.stderr}`);
  dataDir = mkdtempSync(join(tmpdir(), "brook-cli-"));
  server = spawn(process.execPath, [main, "serve", "--port", "0", "--dir", dataDir, "--token", token], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  server.stdout!.on("data", (d) => (serverOut += d));
  server.stderr!.on("data", (d) => (serverErr += d));
  await waitFor(() => /listening on brook:\/\//.test(serverOut), 20_000, `brook serve to listen (stdout: ${serverOut} stderr: ${serverErr})`);
  url = /listening on (brook:\/\/\S+)/.exec(serverOut)![1]!;
}, 180_000);

afterAll(async () => {
  if (server !== undefined && server.exitCode === null) {
    const exited = new Promise((resolve) => server.once("exit", resolve));
    server.kill("SIGKILL");
    await exited;
  }
  if (dataDir !== "") rmSync(dataDir, { recursive: true, force: true });
});

describe("brook CLI", () => {
  test("serve listens on 127.0.0.1 with a token and says which store it serves", () => {
    expect(serverOut).toMatch(/^brook serve: listening on brook:\/\/127\.0\.0\.1:\d+ \(file store in .+, fsync interval; token required\)$/m);
    expect(serverErr).toBe("");
  });

  test("topics create, list, describe and delete", async () => {
    const topic = uniqueTopic("cli-topics");
    const created = await brook(["topics", "create", topic, "--partitions", "3"]);
    expect(created).toMatchObject({ code: 0, stderr: "" });
    expect(created.stdout).toBe(`created topic ${topic} (3 partitions)\n`);
    const list = await brook(["topics", "list"]);
    expect(list.code).toBe(0);
    expect(list.stdout.split("\n")).toContain(topic);
    const described = await brook(["topics", "describe", topic]);
    expect(described.code).toBe(0);
    expect(described.stdout).toMatch(new RegExp(`topic ${topic}: 3 partitions`));
    expect(described.stdout).toMatch(/partition\s+start\s+end\s+records\s+bytes/);
    expect((await brook(["topics", "delete", topic])).stdout).toBe(`deleted topic ${topic}\n`);
    expect((await brook(["topics", "list"])).stdout.split("\n")).not.toContain(topic);
  }, 60_000);

  test("publish (arguments and stdin lines), tail from earliest, and groups with lag", async () => {
    const topic = uniqueTopic("cli-pub");
    expect((await brook(["topics", "create", topic, "--partitions", "2"])).code).toBe(0);
    const published = await brook(["publish", topic, "first", "second", "--key", "k1", "--header", "source=cli"]);
    expect(published.code).toBe(0);
    const positions = published.stdout.trim().split("\n");
    expect(positions).toHaveLength(2);
    const [p] = positions[0]!.split("/");
    expect(positions).toEqual([`${p}/0`, `${p}/1`]); // one key: one partition, in order
    const piped = await brook(["publish", topic], { input: "line-1\nline-2\nline-3\n" });
    expect(piped.code).toBe(0);
    expect(piped.stdout).toBe(`published 3 messages to ${topic}\n`);

    const tail = await brook(["tail", topic, "--from", "earliest", "--count", "5", "--group", "cli-readers", "--headers"]);
    expect(tail.code).toBe(0);
    const lines = tail.stdout.trim().split("\n");
    expect(lines).toHaveLength(5);
    const values = lines.map((l) => l.split(" ")[2]);
    expect([...values].sort()).toEqual(["first", "line-1", "line-2", "line-3", "second"]);
    expect(values.indexOf("first")).toBeLessThan(values.indexOf("second"));
    expect(values.indexOf("line-1")).toBeLessThan(values.indexOf("line-3"));
    expect(lines.find((l) => l.includes(" first"))).toMatch(/^\d+\/0 k1 first \{"source":"cli"\}$/);

    // Two more arrive; the group's committed position leaves them as lag.
    expect((await brook(["publish", topic, "later-1", "later-2", "--key", "k1"])).code).toBe(0);
    let groups = "";
    await waitFor(async () => /^cli-readers\s+\S+\s+0\s+2$/m.test((groups = (await brook(["groups", "list"])).stdout)), 10_000, "lag 2 in groups list");
    expect(groups).toMatch(/^group\s+topic\s+members\s+lag$/m);
    const described = await brook(["groups", "describe", "cli-readers"]);
    expect(described.code).toBe(0);
    expect(described.stdout).toContain(`group cli-readers on topic ${topic}: 0 members`);
    const row = new RegExp(`^${p}\\s+-\\s+(\\d+)\\s+(\\d+)\\s+2$`, "m").exec(described.stdout);
    expect(row).not.toBeNull();
    expect(Number(row![2]) - Number(row![1])).toBe(2); // end - committed: the two later messages
  }, 60_000);

  test("tail from latest prints what is published while it runs, then exits after --count", async () => {
    const topic = uniqueTopic("cli-tail");
    expect((await brook(["topics", "create", topic])).code).toBe(0);
    const tail = brook(["tail", topic, "--count", "2"]);
    // Publish until the tail (which starts at "latest") has seen two messages.
    let n = 0;
    let result: Run | undefined;
    void tail.then((r) => (result = r));
    await waitFor(async () => {
      if (result !== undefined) return true;
      await brook(["publish", topic, `live-${n++}`]);
      return result !== undefined;
    }, 20_000, "tail to print two messages and exit");
    expect(result!.code).toBe(0);
    const lines = result!.stdout.trim().split("\n");
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).toMatch(/^0\/\d+ - live-\d+$/);
  }, 60_000);

  test("errors print one line `error CODE: message` and exit non-zero", async () => {
    const missing = await brook(["topics", "describe", "no-such-topic-here"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('error TOPIC_NOT_FOUND: topic "no-such-topic-here" does not exist\n');
    expect(missing.stdout).toBe("");

    const wrongToken = await brook(["topics", "list", "--token", "not-it"]);
    expect(wrongToken.code).toBe(1);
    expect(wrongToken.stderr).toMatch(/^error UNAUTHENTICATED: authentication failed \(wrong token\)/);
    expect(wrongToken.stderr).not.toContain("not-it");
    expect(wrongToken.stderr.trim().split("\n")).toHaveLength(1);

    const unreachable = await brook(["topics", "list", "--url", "brook://127.0.0.1:1"]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/^error UNAVAILABLE: cannot connect to brook:\/\/127\.0\.0\.1:1/);

    const usage = await brook(["topics", "create"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toBe("error INVALID_ARGUMENT: missing required argument 'name'\n");

    const badPort = await brook(["serve", "--port", "99999"]);
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toMatch(/^error INVALID_ARGUMENT: .*--port must be an integer from 0 to 65535/);
  }, 60_000);

  test("serve --dir killed (SIGKILL) under load and restarted: acknowledged publishes survive, in-flight ones fail with UNAVAILABLE", async () => {
    const dir = mkdtempSync(join(tmpdir(), "brook-cli-kill-"));
    const startServe = async (port: number): Promise<{ child: ChildProcess; port: number }> => {
      const child = spawn(process.execPath, [main, "serve", "--dir", dir, "--port", String(port)], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout!.on("data", (d) => (out += d));
      await waitFor(() => /listening on/.test(out) || child.exitCode !== null, 20_000, "brook serve --dir to listen");
      const m = /listening on brook:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m === null) throw new Error(`brook serve did not start: ${out}`);
      return { child, port: Number(m[1]) };
    };
    const kill = async (child: ChildProcess, signal: NodeJS.Signals): Promise<void> => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill(signal);
      await exited;
    };
    let current = await startServe(0);
    const port = current.port;
    const broker = await connect(`brook://127.0.0.1:${port}`, { logger: silentLogger });
    try {
      const topic = uniqueTopic("cli-kill");
      await broker.admin.createTopic(topic, { partitions: 2 });
      const pub = broker.publisher<number>(topic, { maxRetries: 0 });
      const outcomes = new Map<number, PublishResult | BrookError>();
      let next = 0;
      let stop = false;
      const workers = Array.from({ length: 4 }, async () => {
        while (!stop) {
          const i = next++;
          try {
            outcomes.set(i, await pub.publish({ data: i, key: `k${i % 7}` }));
          } catch (err) {
            outcomes.set(i, err as BrookError);
          }
        }
      });
      const acked = (): number => [...outcomes.values()].filter((o) => !(o instanceof Error)).length;
      await waitFor(() => acked() >= 300, 20_000, "300 publishes before the kill");
      await kill(current.child, "SIGKILL");
      current = await startServe(port);
      const before = acked();
      await waitFor(() => acked() >= before + 300, 30_000, "300 publishes after the restart");
      stop = true;
      await Promise.all(workers);
      await pub.close();
      for (const o of outcomes.values()) if (o instanceof Error) expect({ code: o.code, retriable: o.retriable }).toEqual({ code: "UNAVAILABLE", retriable: true });

      // Read the whole log back from the restarted server: every acknowledged publish is where it was acknowledged.
      const api = await RemoteEngineApi.connect({ port, logger: silentLogger });
      try {
        const stored = new Map<string, string>();
        for (const p of (await api.describeTopic(topic)).partitions) {
          for (let offset = p.start; offset < p.end; ) {
            const { records } = await api.fetch(topic, p.partition, offset, 4_096, 0);
            for (const r of records) stored.set(`${p.partition}/${r.offset}`, r.value.toString());
            offset = records.length === 0 ? p.end : records[records.length - 1]!.offset + 1;
          }
        }
        let checked = 0;
        for (const [i, o] of outcomes) {
          if (o instanceof Error) continue;
          expect(stored.get(`${o.position.partition}/${o.position.offset}`)).toBe(JSON.stringify(i));
          checked += 1;
        }
        expect(checked).toBeGreaterThanOrEqual(600);
      } finally {
        await api.close();
      }
    } finally {
      await broker.close();
      await kill(current.child, "SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  test("serve stops cleanly on SIGTERM", async () => {
    const other = spawn(process.execPath, [main, "serve", "--port", "0"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    other.stdout.on("data", (d) => (out += d));
    await waitFor(() => out.includes("listening on"), 20_000, "the second server");
    const exited = new Promise<number | null>((resolve) => other.once("exit", resolve));
    other.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(out).toContain("brook serve: stopping");
  }, 30_000);
});
