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
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { HOST, freePort, launch, noop, runStartCommand, waitReady } from "./process.mjs";

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
  const proc = launch({ name: "redis-server", cmd: bin, args, logFile, cwd: dataDir, removeOnExit: ownDir ? dataDir : undefined });
  const pid = proc.pid;
  let stopped = null;
  const stop = async ({ keepDir = !ownDir } = {}) => {
    stopped ??= proc.stop("SIGTERM", 10_000);
    await stopped;
    if (!keepDir) rmSync(dataDir, { recursive: true, force: true });
  };
  /** SIGKILL: a crash; the folder is kept (for a restart) until stop(). */
  const kill = () => {
    stopped ??= proc.stop("SIGKILL");
    return stopped;
  };
  let last = "";
  const pong = async () => {
    try {
      last = await ping(usePort);
    } catch (e) {
      last = e.message;
    }
    return last === "+PONG";
  };
  try {
    await waitReady(proc, pong, { timeoutMs: readyTimeoutMs, what: () => `PING on ${HOST}:${usePort} with +PONG (last: ${last})`, intervalMs: 50 });
  } catch (err) {
    await stop({ keepDir: !ownDir });
    throw err;
  }
  const url = `redis://${HOST}:${usePort}`;
  log(`redis: pid ${pid} ready at ${url} (dir ${dataDir})`);
  return { url, port: usePort, pid, dir: dataDir, logFile, stop, kill };
}

runStartCommand(import.meta.url, {
  usage: "node scripts/backends/redis.mjs start [--dir D] [--port P]",
  start: ({ log, opt }) => startRedis({ log, dir: opt("--dir"), port: opt("--port") ? Number(opt("--port")) : undefined }),
  lines: (redis) => [redis.url],
});
