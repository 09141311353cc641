// What every backend launcher in this folder shares: free 127.0.0.1 ports, a server process
// spawned detached with its output in a log file, stopped by pid (a signal, a bounded wait, then
// SIGKILL), killed when this Node process exits without stopping it, a bounded readiness loop
// that fails with the log's tail, and the `start` command line that prints the endpoints and runs
// until SIGINT/SIGTERM. Node built-ins only, no top-level await (jest imports these files).
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const HOST = "127.0.0.1";
export const noop = () => {};
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Whether a process with this pid exists (EPERM: it exists, owned by another user). */
export function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === "EPERM";
  }
}

/** The last `lines` lines of a log file, or "(no log)". */
export function tail(file, lines = 30) {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Distinct free ports on 127.0.0.1 (held open together, then released). */
export async function freePorts(n) {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = net.createServer();
      await new Promise((resolve, reject) => {
        s.once("error", reject);
        s.listen(0, HOST, resolve);
      });
      servers.push(s);
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(() => r()))));
  }
}

export async function freePort() {
  return (await freePorts(1))[0];
}

/** Processes to SIGKILL (and folders to remove) if this process exits without stopping them. */
const orphans = new Map(); // pid -> folder to remove (or undefined)
let exitHook = false;
function guard(pid, dir) {
  orphans.set(pid, dir);
  if (exitHook) return;
  exitHook = true;
  process.on("exit", () => {
    for (const [p, dir] of orphans) {
      try { process.kill(-p, "SIGKILL"); } catch {}
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });
}

/**
 * Spawns a server detached (a process group of its own, so SIGKILL reaches every process it
 * forked), its stdout and stderr appended to `logFile`.
 * @param {{ name: string, cmd: string, args: string[], logFile: string, cwd?: string, env?: object,
 *           uid?: number, gid?: number, removeOnExit?: string }} o
 *   removeOnExit: a folder removed when this process exits with the server still running.
 * @returns {{ name: string, pid: number, logFile: string, exited(): null | { code, signal },
 *            stop(signal?: string, timeoutMs?: number): Promise<void>, forget(): void }}
 *   stop(signal): sends it (default SIGTERM), waits up to timeoutMs (default 5 s), then SIGKILL;
 *   resolves once the process is gone. Safe to call more than once.
 */
export function launch({ name, cmd, args, logFile, cwd, env, uid, gid, removeOnExit }) {
  const out = openSync(logFile, "a");
  const child = spawn(cmd, args, { cwd, env: env === undefined ? process.env : { ...process.env, ...env }, uid, gid, stdio: ["ignore", out, out], detached: true });
  closeSync(out);
  const pid = child.pid;
  if (!pid) throw new Error(`${name}: could not spawn ${cmd}`);
  child.unref();
  let exit = null;
  child.on("exit", (code, signal) => {
    exit = { code, signal };
    orphans.delete(pid);
  });
  guard(pid, removeOnExit);
  const gone = () => exit !== null || !alive(pid);
  const stop = async (signal = "SIGTERM", timeoutMs = 5_000) => {
    if (!gone()) {
      try { process.kill(signal === "SIGKILL" ? -pid : pid, signal); } catch {}
      const deadline = Date.now() + timeoutMs;
      while (!gone() && Date.now() < deadline) await sleep(50);
      if (!gone()) {
        try { process.kill(-pid, "SIGKILL"); } catch {}
        while (!gone()) await sleep(20);
      }
    }
    orphans.delete(pid);
  };
  return { name, pid, logFile, exited: () => exit, stop, forget: () => orphans.delete(pid) };
}

/**
 * Polls `probe()` until it is true, bounded; fails with the log's tail when the process exits
 * first or the time runs out. `what` (a string, or a function read at the failure) names the
 * probe in that error.
 */
export async function waitReady(proc, probe, { timeoutMs, what, intervalMs = 100 }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const exit = proc.exited();
    if (exit !== null) throw new Error(`${proc.name} exited before it was ready (code ${exit.code}, signal ${exit.signal})\n${tail(proc.logFile)}`);
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`${proc.name} did not answer ${typeof what === "function" ? what() : what} within ${timeoutMs} ms\n${tail(proc.logFile)}`);
    await sleep(intervalMs);
  }
}

/**
 * `node <launcher> start`: starts the backend, prints `lines(backend)` on stdout, runs until
 * SIGINT/SIGTERM (or the backend's process dies: exit 1), then stops it.
 */
export function runStartCommand(moduleUrl, { usage, start, lines }) {
  if (!process.argv[1] || path.resolve(process.argv[1]) !== fileURLToPath(moduleUrl)) return;
  const argv = process.argv.slice(2);
  const main = async () => {
    if (argv[0] !== "start") {
      process.stderr.write(`usage: ${usage}\n`);
      process.exitCode = 2;
      return;
    }
    const opt = (name) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
    const backend = await start({ log: (m) => process.stderr.write(`${m}\n`), opt });
    process.stdout.write(`${lines(backend).join("\n")}\n`);
    const pids = backend.pids ?? [backend.pid];
    await new Promise((resolve) => {
      const t = setInterval(() => {
        if (!pids.every(alive)) {
          process.exitCode = 1;
          resolve();
        }
      }, 1000);
      const done = () => {
        clearInterval(t);
        resolve();
      };
      process.once("SIGINT", done);
      process.once("SIGTERM", done);
    });
    await backend.stop();
    process.exit(process.exitCode ?? 0);
  };
  main().catch((e) => {
    process.stderr.write(`${e?.stack ?? e}\n`);
    process.exit(1);
  });
}
