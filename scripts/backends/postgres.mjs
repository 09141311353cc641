// Real PostgreSQL server for the tests and benchmarks: Debian's postgresql binaries, a fresh
// cluster (initdb) in a temp folder, on 127.0.0.1 and a free port, stopped by pid. Node
// built-ins only, no top-level await (jest imports this file).
//
//   node scripts/backends/postgres.mjs start [--dir D] [--port P]   # prints the URL, stops on SIGINT/SIGTERM
//
// Library use:
//   const { startPostgres } = await import("./scripts/backends/postgres.mjs");
//   const pg = await startPostgres({ log: console.log });   // { url, port, pid, dir, stop, kill }
//   ...; await pg.stop();                                   // SIGINT: fast shutdown, by pid
//   const again = await startPostgres({ dir: pg.dir, port: pg.port });   // same cluster, same URL
//
// PostgreSQL refuses to run as root. Run as root (CI, these machines), initdb and postgres run
// as an unprivileged user: POSTGRES_RUN_AS, else the Debian package's "postgres" user, else a
// system user "brook-pg" made with useradd. The cluster has one superuser "brook" with trust
// authentication on 127.0.0.1 only; the URL is postgres://brook@127.0.0.1:<port>/postgres.
// Install: `apt-get install -y postgresql` (Debian 12: PostgreSQL 15); its own cluster and
// service are not used.
import { spawn, execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { HOST, freePort, launch, noop, runStartCommand, waitReady } from "./process.mjs";

export const POSTGRES_INSTALL_HINT = "PostgreSQL server binaries (initdb, postgres) not found: install them with `apt-get update && apt-get install -y postgresql` (.ci/run does this)";

/** The folder holding initdb and postgres: POSTGRES_BIN, the newest /usr/lib/postgresql/N/bin, or PATH. */
export function findPostgresBin() {
  if (process.env.POSTGRES_BIN) return process.env.POSTGRES_BIN;
  const base = "/usr/lib/postgresql";
  if (existsSync(base)) {
    const versions = readdirSync(base).filter((v) => existsSync(path.join(base, v, "bin", "postgres"))).sort((a, b) => Number(b) - Number(a));
    if (versions.length > 0) return path.join(base, versions[0], "bin");
  }
  try {
    const initdb = execFileSync("sh", ["-c", "command -v initdb"], { encoding: "utf8" }).trim();
    if (initdb) return path.dirname(initdb);
  } catch {}
  throw new Error(POSTGRES_INSTALL_HINT);
}

/** uid/gid to run as: ourselves unless root; then an unprivileged user (made when missing). */
function runAs(log) {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return {};
  const id = (name) => {
    try {
      return { uid: Number(execFileSync("id", ["-u", name], { encoding: "utf8" })), gid: Number(execFileSync("id", ["-g", name], { encoding: "utf8" })) };
    } catch {
      return null;
    }
  };
  const wanted = process.env.POSTGRES_RUN_AS;
  for (const name of wanted ? [wanted] : ["postgres", "brook-pg"]) {
    const found = id(name);
    if (found) return found;
  }
  log("postgres: running as root, making the system user brook-pg to run the server");
  execFileSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "brook-pg"]);
  return id("brook-pg");
}

function run(cmd, args, opts) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`${path.basename(cmd)} exited with ${code}:\n${out}`))));
  });
}

/**
 * Asks the server for a startup with user brook; resolves true once it answers
 * AuthenticationOk (a server still starting answers an error: "the database system is starting up").
 */
function probe(port, timeoutMs = 2000) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: HOST, port });
    const timer = setTimeout(() => done(false), timeoutMs);
    function done(ok) {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    }
    sock.once("error", () => done(false));
    sock.on("connect", () => {
      const params = Buffer.from("user\0brook\0database\0postgres\0\0");
      const msg = Buffer.alloc(8 + params.length);
      msg.writeInt32BE(msg.length, 0);
      msg.writeInt32BE(196608, 4); // protocol 3.0
      params.copy(msg, 8);
      sock.write(msg);
    });
    sock.on("data", (d) => {
      // 'R' with int32 0 = AuthenticationOk; 'E' = an error (not ready, or refused)
      done(d[0] === 0x52 && d.length >= 9 && d.readInt32BE(5) === 0);
    });
  });
}

/**
 * Starts PostgreSQL (making the cluster when `dir` has none) and waits until it accepts logins.
 * @param {{ log?: (m: string) => void, dir?: string, port?: number, readyTimeoutMs?: number, settings?: Record<string, string> }} [opts]
 *   dir: cluster folder (kept on stop); without it a temp folder is made and removed on stop.
 *   settings: extra `-c name=value` server settings.
 */
export async function startPostgres({ log = noop, dir, port, readyTimeoutMs = 60_000, settings = {} } = {}) {
  const started = Date.now();
  const bin = findPostgresBin();
  const user = runAs(log);
  const ownDir = !dir;
  const base = dir ? path.resolve(dir) : await mkdtemp(path.join(os.tmpdir(), "brook-pg-"));
  mkdirSync(base, { recursive: true });
  const data = path.join(base, "data");
  const logFile = path.join(base, "postgres.log");
  if (user.uid !== undefined) chownSync(base, user.uid, user.gid);
  const spawnOpts = { cwd: base, ...user };
  if (!existsSync(path.join(data, "PG_VERSION"))) {
    await run(path.join(bin, "initdb"), ["-D", data, "-U", "brook", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"], spawnOpts);
  }
  const usePort = port ?? (await freePort());
  const conf = {
    listen_addresses: HOST,
    port: String(usePort),
    unix_socket_directories: base,
    max_connections: "200",
    shared_buffers: "64MB",
    logging_collector: "off",
    log_min_messages: "warning",
    ...settings,
  };
  const args = ["-D", data, ...Object.entries(conf).flatMap(([k, v]) => ["-c", `${k}=${v}`])];
  if (user.uid !== undefined && !existsSync(logFile)) {
    writeFileSync(logFile, "");
    chownSync(logFile, user.uid, user.gid);
  }
  const proc = launch({ name: "postgres", cmd: path.join(bin, "postgres"), args, logFile, ...spawnOpts, removeOnExit: ownDir ? base : undefined });
  const pid = proc.pid;
  let stopped = null;
  // SIGINT is PostgreSQL's fast shutdown: clients are disconnected, a checkpoint is written.
  // SIGKILL goes to the whole process group so no backend outlives the postmaster.
  const stop = async ({ keepDir = !ownDir } = {}) => {
    stopped ??= proc.stop("SIGINT", 15_000);
    await stopped;
    if (!keepDir) rmSync(base, { recursive: true, force: true });
  };
  /** SIGKILL of the whole server: a crash; the folder is kept (for a restart) until stop(). */
  const kill = () => {
    stopped ??= proc.stop("SIGKILL");
    return stopped;
  };
  try {
    await waitReady(proc, () => probe(usePort), { timeoutMs: readyTimeoutMs, what: `a login on ${HOST}:${usePort}`, intervalMs: 50 });
  } catch (err) {
    await stop({ keepDir: !ownDir });
    throw err;
  }
  const url = `postgres://brook@${HOST}:${usePort}/postgres`;
  log(`postgres: pid ${pid} ready at ${url} in ${((Date.now() - started) / 1000).toFixed(1)} s (dir ${base})`);
  return { url, port: usePort, pid, dir: base, logFile, stop, kill };
}

runStartCommand(import.meta.url, {
  usage: "node scripts/backends/postgres.mjs start [--dir D] [--port P]",
  start: ({ log, opt }) => startPostgres({ log, dir: opt("--dir"), port: opt("--port") ? Number(opt("--port")) : undefined }),
  lines: (pg) => [pg.url],
});
