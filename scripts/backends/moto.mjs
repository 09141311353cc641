// moto (Python, `moto[server]`) for the Firehose tests: one server that answers Firehose and S3
// (and any other AWS service moto has), on a free 127.0.0.1 port, stopped by pid. Node built-ins
// only; no top-level await (jest imports this file).
//
//   node scripts/backends/moto.mjs start   # prints BROOK_TEST_MOTO_ENDPOINT=…, runs until SIGINT/SIGTERM
//
// Library use:
//   const { startMoto } = await import("./scripts/backends/moto.mjs");
//   const m = await startMoto({ log: console.log });  // { endpoint, pid, stop }
//
// Facts this relies on (tried on this machine, see shared/EMULATORS.md): moto 5.2.1 runs as
// `python3 -m moto.server -H 127.0.0.1 -p <port>` (what the `moto_server` script runs); ready
// in ~2 s when GET /moto-api/ answers; CreateDeliveryStream (DirectPut, extended S3) is ACTIVE
// at once and every PutRecordBatch becomes one S3 object at once (buffering hints ignored),
// records concatenated with nothing between them. It stops on SIGTERM. `.ci/run` installs
// `moto[server]` with pip when `import moto.server` fails.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HOST = "127.0.0.1";
const READY_TIMEOUT_MS = 60_000;
const noop = () => {};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  const s = net.createServer();
  await new Promise((resolve, reject) => {
    s.once("error", reject);
    s.listen(0, HOST, resolve);
  });
  const { port } = s.address();
  await new Promise((r) => s.close(() => r()));
  return port;
}

function answers(port) {
  return new Promise((resolve) => {
    const req = http.request({ host: HOST, port, method: "GET", path: "/moto-api/", timeout: 2_000, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode !== undefined && res.statusCode < 500));
      res.on("error", () => resolve(false));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === "EPERM";
  }
}

function tail(file, lines = 30) {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** The Python that has moto's server, or an error saying how to install it. */
function findPython() {
  for (const python of [process.env.BROOK_PYTHON, "python3", "python"].filter(Boolean)) {
    const r = spawnSync(python, ["-c", "import moto.server"], { stdio: "ignore" });
    if (r.status === 0) return python;
  }
  throw new Error("moto's server is not installed for python3: run `python3 -m pip install 'moto[server]==5.2.1'` (.ci/run does)");
}

/**
 * Starts moto's server.
 * @param {{ log?: (msg: string) => void, readyTimeoutMs?: number }} [opts]
 * @returns {Promise<{ endpoint: string, pid: number, logDir: string, stop(): Promise<void> }>}
 */
export async function startMoto(opts = {}) {
  const log = opts.log ?? noop;
  const started = Date.now();
  const python = findPython();
  const port = await freePort();
  const logDir = mkdtempSync(path.join(os.tmpdir(), "brook-moto-"));
  const logFile = path.join(logDir, "moto.log");
  const out = openSync(logFile, "a");
  const child = spawn(python, ["-m", "moto.server", "-H", HOST, "-p", String(port)], { stdio: ["ignore", out, out], detached: true, env: { ...process.env, PYTHONUNBUFFERED: "1" } });
  closeSync(out);
  const pid = child.pid;
  if (!pid) throw new Error("moto: could not spawn");
  child.unref();
  let exit = null;
  child.on("exit", (code, signal) => (exit = { code, signal }));
  const onExit = () => {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  };
  process.once("exit", onExit);
  const stop = async () => {
    process.removeListener("exit", onExit);
    if (exit === null && alive(pid)) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {}
      const deadline = Date.now() + 5_000;
      while (exit === null && alive(pid) && Date.now() < deadline) await sleep(50);
      if (exit === null && alive(pid)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {}
      }
    }
    rmSync(logDir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + (opts.readyTimeoutMs ?? READY_TIMEOUT_MS);
    for (;;) {
      if (exit !== null) throw new Error(`moto exited before it was ready (code ${exit.code}, signal ${exit.signal})\n${tail(logFile)}`);
      if (await answers(port)) break;
      if (Date.now() > deadline) throw new Error(`moto did not answer on ${HOST}:${port} within ${opts.readyTimeoutMs ?? READY_TIMEOUT_MS} ms\n${tail(logFile)}`);
      await sleep(100);
    }
    const endpoint = `http://${HOST}:${port}`;
    log(`moto on ${endpoint} (pid ${pid}), ready in ${Date.now() - started} ms`);
    return { endpoint, pid, logDir, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function main(argv) {
  if (argv[0] !== "start") {
    process.stderr.write("usage: node scripts/backends/moto.mjs start\n");
    process.exitCode = 2;
    return;
  }
  const m = await startMoto({ log: (msg) => process.stderr.write(`${msg}\n`) });
  process.stdout.write(`BROOK_TEST_MOTO_ENDPOINT=${m.endpoint}\n`);
  const keepAlive = setInterval(() => {}, 1 << 30);
  const shutdown = async (sig) => {
    process.stderr.write(`moto: ${sig}, stopping pid ${m.pid}\n`);
    clearInterval(keepAlive);
    await m.stop();
    process.exit(0);
  };
  process.once("SIGINT", () => void shutdown("SIGINT"));
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`${e?.stack ?? e}\n`);
    process.exit(1);
  });
}
