/**
 * Memory of a real `brook serve` process (packages/cli/dist/main.js) under clients that never
 * authenticate: its resident set size is read from /proc before and after, so this runs on
 * Linux only. The numbers are printed for the record; the assertion is a generous bound.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { waitFor } from "@brook/contract-tests";

const root = join(__dirname, "..", "..");
const main = join(root, "packages/cli/dist/main.js");
const onLinux = existsSync("/proc/self/status");
const MiB = 1024 * 1024;

let server: ChildProcess | undefined;
let port = 0;
let serverOut = "";
const sockets = new Set<net.Socket>();

function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (match === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

function connectRaw(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.resume(); // reads (and drops) what the server sends, so its close is seen
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
    socket.once("close", () => sockets.delete(socket));
  });
}

/**
 * Declares a frame just below the server's 64 MiB frame limit and streams zeros into it in
 * 1 MiB writes (waiting for 'drain'), until all is sent or the server closes the connection.
 */
async function streamHugeFrame(socket: net.Socket): Promise<number> {
  const declared = 64 * MiB - 16;
  const header = Buffer.alloc(9);
  header.writeUInt32BE(declared, 0);
  header[4] = 0x01;
  header.writeUInt32BE(1, 5);
  const chunk = Buffer.alloc(MiB);
  let sent = 0;
  let closed = socket.destroyed;
  socket.once("close", () => (closed = true));
  socket.write(header);
  while (!closed && sent < declared - 5) {
    const n = Math.min(chunk.length, declared - 5 - sent);
    const more = socket.write(n === chunk.length ? chunk : chunk.subarray(0, n));
    sent += n;
    if (!more) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          socket.off("drain", done);
          socket.off("close", done);
          resolve();
        };
        socket.once("drain", done);
        socket.once("close", done);
      });
    }
  }
  return sent;
}

beforeAll(async () => {
  if (!onLinux) return;
  const build = spawnSync("npx", ["tsc", "-b", "packages/cli"], { cwd: root, encoding: "utf8" });
  if (build.status !== 0 && !existsSync(main)) throw new Error(`tsc -b packages/cli failed:\n${build.stdout}${build.stderr}`);
  server = spawn(process.execPath, [main, "serve", "--port", "0", "--handshake-timeout-ms", "3000", "--max-connections", "200"], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  server.stdout!.on("data", (d) => (serverOut += d));
  server.stderr!.on("data", (d) => (serverOut += d));
  await waitFor(() => /listening on brook:\/\//.test(serverOut), 20_000, `brook serve to listen (${serverOut})`);
  port = Number(/listening on brook:\/\/127\.0\.0\.1:(\d+)/.exec(serverOut)![1]);
}, 180_000);

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  if (server !== undefined && server.exitCode === null) {
    const exited = new Promise((resolve) => server!.once("exit", resolve));
    server.kill("SIGKILL");
    await exited;
  }
});

describe("brook serve memory before authentication", () => {
  (onLinux ? test : test.skip)(
    "10 clients declaring 64 MiB frames and 100 idle clients, none authenticated: RSS grows by a few MiB, and the idle ones are closed after the handshake timeout",
    async () => {
      const pid = server!.pid!;
      await new Promise((r) => setTimeout(r, 500));
      const before = rssBytes(pid);
      const idle = await Promise.all(Array.from({ length: 100 }, () => connectRaw()));
      const hostile = await Promise.all(Array.from({ length: 10 }, () => connectRaw()));
      const sent = await Promise.all(hostile.map((s) => streamHugeFrame(s)));
      await new Promise((r) => setTimeout(r, 300));
      const after = rssBytes(pid);
      process.stdout.write(
        `[server-memory] RSS before ${(before / MiB).toFixed(1)} MiB, after 100 idle + 10 hostile unauthenticated clients ${(after / MiB).toFixed(1)} MiB ` +
          `(+${((after - before) / MiB).toFixed(1)} MiB); the hostile clients could write ${sent.map((n) => (n / MiB).toFixed(1)).join(", ")} MiB before the server closed them\n`,
      );
      expect(after - before).toBeLessThan(48 * MiB);
      for (const n of sent) expect(n).toBeLessThan(16 * MiB);
      // The idle ones are closed by the server once the handshake timeout (3 s) has passed.
      await waitFor(() => idle.every((s) => s.destroyed || s.readableEnded), 10_000, "the idle connections to be closed by the server");
    },
    60_000,
  );

  (onLinux ? test : test.skip)("--max-connections and --handshake-timeout-ms are checked", () => {
    for (const args of [["--max-connections", "0"], ["--handshake-timeout-ms", "abc"]]) {
      const run = spawnSync(process.execPath, [main, "serve", "--port", "0", ...args], { cwd: root, encoding: "utf8", timeout: 20_000 });
      expect(run.status).toBe(2);
      expect(run.stderr).toMatch(new RegExp(`^error INVALID_ARGUMENT: .*${args[0]}`, "m"));
    }
  });
});
