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
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { HOST, freePort, launch, noop, runStartCommand, waitReady } from "./process.mjs";

const READY_TIMEOUT_MS = 60_000;

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
  const proc = launch({ name: "moto", cmd: python, args: ["-m", "moto.server", "-H", HOST, "-p", String(port)], logFile, env: { PYTHONUNBUFFERED: "1" }, removeOnExit: logDir });
  const pid = proc.pid;
  const stop = async () => {
    await proc.stop("SIGTERM");
    rmSync(logDir, { recursive: true, force: true });
  };
  try {
    await waitReady(proc, () => answers(port), { timeoutMs: opts.readyTimeoutMs ?? READY_TIMEOUT_MS, what: `on ${HOST}:${port}` });
    const endpoint = `http://${HOST}:${port}`;
    log(`moto on ${endpoint} (pid ${pid}), ready in ${Date.now() - started} ms`);
    return { endpoint, pid, logDir, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

runStartCommand(import.meta.url, {
  usage: "node scripts/backends/moto.mjs start",
  start: ({ log }) => startMoto({ log }),
  lines: (m) => [`BROOK_TEST_MOTO_ENDPOINT=${m.endpoint}`],
});
