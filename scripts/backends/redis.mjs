// Real Redis server for the tests and benchmarks: Debian's redis-server, on 127.0.0.1 and a free
// port, with an append-only file fsynced on every write so a restart (even after SIGKILL) keeps
// every acknowledged write. Node built-ins only, no top-level await (jest imports this file).
//
//   node scripts/backends/redis.mjs start [--dir D] [--port P]   # prints the URL, stops on SIGINT/SIGTERM
//
// Library use:
//   const { startRedis } = await import("./scripts/backends/redis.mjs");
//   const redis = await startRedis({ log: console.log });   // { url, port, pid, dir, stop, kill }
//   ...; await redis.stop();                                // SIGTERM (Redis fsyncs and exits), by pid
//   const again = await startRedis({ dir: redis.dir, port: redis.port });   // same data, same URL
//
// Install: `apt-get install -y redis-server` (Debian 12: Redis 7.0). The package's own service
// is not used. Facts this relies on: redis-server loads the AOF before it answers PING with
// +PONG (it answers -LOADING meanwhile); SIGTERM makes it fsync and exit in well under a second.
import { spawn, execFileSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HOST = "127.0.0.1";
const noop = () => {};
export const REDIS_INSTALL_HINT = "redis-server not found: install it with `apt-get update && apt-get install -y redis-server` (.ci/run does this)";

/** Path of redis-server (REDIS_SERVER, PATH, then /usr/bin). */
export function findRedisServer() {
  if (process.env.REDIS_SERVER) return process.env.REDIS_SERVER;
  try {
    return execFileSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" }).trim();
  } catch {
    if (existsSync("/usr/bin/redis-server")) return "/usr/bin/redis-server";
    throw new Error(REDIS_INSTALL_HINT);
  }
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Sends PING over a raw socket; resolves with the first reply line ("+PONG", "-LOADING …"). */
function ping(port, timeoutMs = 2000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: HOST, port });
    let buf = "";
    const timer = setTimeout(() => done(new Error("PING timed out")), timeoutMs);
    function done(err, value) {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value);
    }
    sock.once("error", (e) => done(e));
    sock.on("connect", () => sock.write("PING\r\n"));
    sock.on("data", (d) => {
      buf += d.toString();
      const i = buf.indexOf("\r\n");
      if (i >= 0) done(null, buf.slice(0, i));
    });
  });
}

const running = new Map(); // pid -> own temp dir (or null)
let exitHook = false;
function installExitHook() {
  if (exitHook) return;
  exitHook = true;
  process.on("exit", () => {
    for (const [pid, dir] of running) {
      try { process.kill(pid, "SIGKILL"); } catch {}
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };

/**
 * Starts redis-server and waits until it answers PONG.
 * @param {{ log?: (m: string) => void, dir?: string, port?: number, readyTimeoutMs?: number, appendfsync?: "always" | "everysec" }} [opts]
 *   dir: data folder (kept on stop); without it a temp folder is made and removed on stop.
 *   port: default a free one. appendfsync: "always" (default) fsyncs every write.
 */
export async function startRedis({ log = noop, dir, port, readyTimeoutMs = 30_000, appendfsync = "always" } = {}) {
  const bin = findRedisServer();
  const ownDir = !dir;
  const dataDir = dir ? path.resolve(dir) : await mkdtemp(path.join(os.tmpdir(), "brook-redis-"));
  mkdirSync(dataDir, { recursive: true });
  const usePort = port ?? (await freePort());
  const logFile = path.join(dataDir, "redis.log");
  const args = [
    "--bind", HOST, "--port", String(usePort), "--protected-mode", "yes", "--daemonize", "no",
    "--dir", dataDir, "--appendonly", "yes", "--appendfsync", appendfsync, "--save", "",
    "--logfile", logFile, "--databases", "16", "--maxclients", "1000",
  ];
  const out = openSync(logFile, "a");
  const child = spawn(bin, args, { cwd: dataDir, stdio: ["ignore", out, out], detached: true });
  closeSync(out);
  const pid = child.pid;
  let exited = null;
  child.on("exit", (code, signal) => {
    exited = { code, signal };
    running.delete(pid);
  });
  child.unref();
  running.set(pid, ownDir ? dataDir : null);
  installExitHook();

  const stopWith = async (signal) => {
    if (exited === null && alive(pid)) {
      try { process.kill(pid, signal); } catch {}
      const deadline = Date.now() + 10_000;
      while (exited === null && alive(pid) && Date.now() < deadline) await sleep(50);
      if (exited === null && alive(pid)) {
        try { process.kill(pid, "SIGKILL"); } catch {}
        while (exited === null && alive(pid)) await sleep(20);
      }
    }
    running.delete(pid);
  };
  let stopped = null;
  const stop = async ({ keepDir = !ownDir } = {}) => {
    stopped ??= stopWith("SIGTERM");
    await stopped;
    if (!keepDir) rmSync(dataDir, { recursive: true, force: true });
  };
  /** SIGKILL: a crash; the folder is kept (for a restart) until stop(). */
  const kill = () => {
    stopped ??= stopWith("SIGKILL");
    return stopped;
  };

  const deadline = Date.now() + readyTimeoutMs;
  let last = "";
  for (;;) {
    if (exited !== null) {
      const tail = existsSync(logFile) ? readFileSync(logFile, "utf8").split("\n").slice(-30).join("\n") : "";
      await stop({ keepDir: !ownDir });
      throw new Error(`redis-server exited during startup (code ${exited.code}, signal ${exited.signal})\n${tail}`);
    }
    try {
      last = await ping(usePort);
      if (last === "+PONG") break;
    } catch (e) {
      last = e.message;
    }
    if (Date.now() > deadline) {
      await stop({ keepDir: !ownDir });
      throw new Error(`redis-server not ready after ${readyTimeoutMs} ms (last: ${last})`);
    }
    await sleep(50);
  }
  const url = `redis://${HOST}:${usePort}`;
  log(`redis: pid ${pid} ready at ${url} (dir ${dataDir})`);
  return { url, port: usePort, pid, dir: dataDir, logFile, stop, kill };
}

async function main(argv) {
  const log = (m) => process.stderr.write(`${m}\n`);
  if (argv[0] !== "start") {
    process.stderr.write("usage: node scripts/backends/redis.mjs start [--dir D] [--port P]\n");
    process.exitCode = 2;
    return;
  }
  const opt = (name) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
  const redis = await startRedis({ log, dir: opt("--dir"), port: opt("--port") ? Number(opt("--port")) : undefined });
  process.stdout.write(`${redis.url}\n`);
  await new Promise((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
    const t = setInterval(() => { if (!alive(redis.pid)) { process.exitCode = 1; clearInterval(t); resolve(); } }, 1000);
    process.once("exit", () => clearInterval(t));
  });
  await redis.stop();
  process.exit(process.exitCode ?? 0);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`${e?.stack ?? e}\n`);
    process.exit(1);
  });
}
