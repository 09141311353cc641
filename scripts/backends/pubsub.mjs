// Google Pub/Sub emulator for tests: find it, start it on a free 127.0.0.1 port, wait until it
// really answers, stop it (whole process group) again. Node built-ins only.
//
//   import { startPubSubEmulator } from "./scripts/backends/pubsub.mjs";
//   const emu = await startPubSubEmulator({ log: console.log });
//   process.env.PUBSUB_EMULATOR_HOST = emu.host;           // "127.0.0.1:<port>"
//   process.env.METADATA_SERVER_DETECTION = "none";        // no GCE metadata probing
//   ...; await emu.stop();
//
//   node scripts/backends/pubsub.mjs start   # prints the host, runs until SIGINT/SIGTERM
//
// Facts this relies on (emulator jar 0.8.20 from google-cloud-cli-pubsub-emulator 528.0.0):
// - The launcher is a sh script that `exec`s java, so the pid we spawn becomes the JVM; we still
//   put it in its own process group (detached) and signal the group.
// - The jar only knows --host/--port/--iam_host/--iam_port/--projects. State is in memory only;
//   it has no --data-dir (it silently ignores unknown flags), so we pass none. `dataDir` here
//   only says where to put the log file.
// - Ready 0.75-1.3 s after spawn (2.3 s seen on a cold first start), ~130-140 MB RSS idle; the
//   heap grows with traffic (~600 MB after ~70k messages with the default JVM heap), so tests
//   may pass javaOpts "-Xmx256m" (same throughput, ~300 MB RSS).
// - A gRPC request over 11,000,000 bytes is not rejected: the emulator fails to send its
//   RESOURCE_EXHAUSTED (a NoSuchMethodError in its log) and the client waits for its deadline.
// - `GET /v1/projects/<p>/topics` answers 200 "{}" on the same port
//   as gRPC (the server routes HTTP/1.1 to a REST adapter and HTTP/2 to gRPC).
// - SIGTERM shuts it down cleanly in well under a second.
// - If its port is taken it does NOT exit: the BindException ends only the main thread and the
//   JVM lingers. We detect that in the log, kill it and retry on another port.

import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { HOST, freePort, sleep } from "./process.mjs";

const PKG = "google-cloud-cli-pubsub-emulator";
const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;

// Not installable by `apt-get install` on our machines: the package is not in Debian's archive,
// only in Google Cloud's own apt repository, whose sources entry is disabled here and which is not
// among the registries these machines reach (`apt-cache policy` after `apt-get update` lists only
// the installed 528.0.0-0). The machine image ships it preinstalled.
const INSTALL_HINT =
  `The Pub/Sub emulator comes from the Debian package ${PKG} (needs Java 17: openjdk-17-jre-headless). ` +
  `It is preinstalled on this project's machines and cannot be installed here: it is not in Debian's archive, ` +
  `only in Google Cloud's own apt repository (suite cloud-sdk-bookworm), which this machine does not reach. ` +
  `Where that repository is configured: \`apt-get update && apt-get install -y ${PKG} openjdk-17-jre-headless\`. ` +
  `Or point PUBSUB_EMULATOR_LAUNCHER at an existing bin/cloud-pubsub-emulator.`;

/** Path of the `cloud-pubsub-emulator` launcher installed by the Debian package. */
export function findEmulatorLauncher() {
  if (process.env.PUBSUB_EMULATOR_LAUNCHER) {
    const p = process.env.PUBSUB_EMULATOR_LAUNCHER;
    if (!fs.existsSync(p)) throw new Error(`PUBSUB_EMULATOR_LAUNCHER=${p} does not exist`);
    return p;
  }
  let listing;
  try {
    listing = execFileSync("dpkg", ["-L", PKG], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    const why = (err.stderr || err.message || "").toString().trim();
    throw new Error(`Pub/Sub emulator not found: \`dpkg -L ${PKG}\` failed (${why}). ${INSTALL_HINT}`);
  }
  const launcher = listing.split("\n").map((l) => l.trim()).find((l) => /bin\/cloud-pubsub-emulator$/.test(l));
  if (!launcher || !fs.existsSync(launcher)) {
    throw new Error(`Pub/Sub emulator launcher (bin/cloud-pubsub-emulator) not listed by \`dpkg -L ${PKG}\`. ${INSTALL_HINT}`);
  }
  return launcher;
}

/** One REST probe: resolves true on HTTP 200 from the emulator's topics list. */
function probe(port) {
  return new Promise((resolve) => {
    const req = http.get(
      { host: HOST, port, path: "/v1/projects/brook-probe/topics", timeout: 2000, agent: false },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode === 200));
        res.on("error", () => resolve(false));
      },
    );
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}

function tail(file, lines = 40) {
  try {
    return fs.readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === "EPERM";
  }
}

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch (e) {
    if (e.code !== "ESRCH") throw e;
  }
}

/**
 * Start the emulator.
 * @param {{ log?: (msg: string) => void, dataDir?: string, logFile?: string,
 *           readyTimeoutMs?: number, javaOpts?: string, port?: number }} [opts]
 *   port: fixed port (default: a free one, re-picked if the JVM finds it taken).
 *   dataDir: folder for the log (kept); default a fresh temp folder, removed by stop().
 *   javaOpts: extra JVM flags (CLOUD_PUBSUB_EMULATOR_OPTS), e.g. "-Xmx256m".
 * @returns {Promise<{ host: string, port: number, pid: number, logFile: string, stop(): Promise<void> }>}
 */
export async function startPubSubEmulator(opts = {}) {
  const log = opts.log ?? (() => {});
  const launcher = findEmulatorLauncher();
  const ownDir = !opts.dataDir;
  const dir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "brook-pubsub-"));
  fs.mkdirSync(dir, { recursive: true });
  const removeDir = () => {
    if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
  };

  // A free port can be taken between our probe and the JVM's bind; retry a few times.
  let lastErr;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = opts.port ?? (await freePort());
    const logFile = opts.logFile ?? path.join(dir, `pubsub-emulator-${port}.log`);
    try {
      return await launch({ launcher, port, logFile, removeDir, log, opts });
    } catch (err) {
      lastErr = err;
      if (!err.portTaken || opts.port) break;
      log(`pubsub emulator: port ${port} was taken, retrying`);
    }
  }
  removeDir();
  throw lastErr;
}

async function launch({ launcher, port, logFile, removeDir, log, opts }) {
  const started = Date.now();
  const out = fs.openSync(logFile, "a");
  const logStart = fs.fstatSync(out).size; // logFile may be shared/appended: only read our part
  const env = { ...process.env };
  if (opts.javaOpts) env.CLOUD_PUBSUB_EMULATOR_OPTS = `${env.CLOUD_PUBSUB_EMULATOR_OPTS ?? ""} ${opts.javaOpts}`.trim();
  const child = spawn(launcher, [`--host=${HOST}`, `--port=${port}`], {
    detached: true, // own process group: stop() signals -pid
    stdio: ["ignore", out, out],
    env,
  });
  fs.closeSync(out);
  const pid = child.pid;
  if (!pid) throw new Error(`could not spawn ${launcher}`);
  child.unref(); // never keep the caller alive on its own; the exit hook below cleans up

  let exited = null;
  const exitedP = new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
    child.once("error", (err) => {
      exited = { code: null, signal: null, error: err };
      resolve(exited);
    });
  });

  // Safety net: if the caller exits without stop(), do not leave a JVM (or our temp dir) behind.
  const onExit = () => {
    killGroup(pid, "SIGKILL");
    removeDir();
  };
  process.once("exit", onExit);

  // Kill the process group: SIGTERM, then SIGKILL after a bound.
  let terminated = false;
  const terminate = async () => {
    if (terminated) return;
    terminated = true;
    process.removeListener("exit", onExit);
    if (!exited) {
      killGroup(pid, "SIGTERM");
      const done = await Promise.race([exitedP, sleep(STOP_GRACE_MS).then(() => null)]);
      if (!done) {
        log(`pubsub emulator pid ${pid} ignored SIGTERM for ${STOP_GRACE_MS} ms, sending SIGKILL`);
        killGroup(pid, "SIGKILL");
        await Promise.race([exitedP, sleep(5000)]);
      }
    }
    killGroup(pid, "SIGKILL"); // anything else left in the group (normally nothing)
  };
  const stop = async () => {
    await terminate();
    removeDir();
  };
  const ourLog = () => {
    try {
      const buf = fs.readFileSync(logFile);
      return buf.subarray(logStart).toString("utf8");
    } catch {
      return "";
    }
  };
  const fail = async (what, extra = {}) => {
    const t = ourLog().split("\n").slice(-40).join("\n") || "(empty log)";
    await terminate(); // the caller removes the temp dir (or retries on another port in it)
    throw Object.assign(new Error(`pubsub emulator ${what}. Log tail (${logFile}):\n${t}`), extra);
  };

  // Ready = the JVM logged that it listens on OUR port (so a probe cannot be answered by some
  // other server that took the port first) and a real REST call answers 200.
  // On a port clash the JVM does NOT exit (BindException kills only its main thread): detect
  // it in the log.
  const listening = `listening on ${port}`;
  const deadline = started + (opts.readyTimeoutMs ?? READY_TIMEOUT_MS);
  for (;;) {
    if (exited) {
      const how = exited.error ? exited.error.message : `code ${exited.code}, signal ${exited.signal}`;
      await fail(`exited before it was ready (${how})`);
    }
    const text = ourLog();
    if (/BindException|Address already in use/.test(text)) await fail(`could not bind ${HOST}:${port}`, { portTaken: true });
    if (text.includes(listening) && (await probe(port))) break;
    if (Date.now() > deadline) await fail(`not ready on ${HOST}:${port} within ${deadline - started} ms`);
    await sleep(100);
  }
  const host = `${HOST}:${port}`;
  log(`pubsub emulator ready on ${host} (pid ${pid}) in ${Date.now() - started} ms, log ${logFile}`);
  return { host, port, pid, logFile, stop };
}

// ---- CLI ------------------------------------------------------------------------------------
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const cmd = process.argv[2];
  if (cmd !== "start") {
    console.error("usage: node scripts/backends/pubsub.mjs start");
    process.exit(2);
  }
  const emu = await startPubSubEmulator({ log: (m) => console.error(m) });
  console.log(emu.host);
  const keepAlive = setInterval(() => {}, 1 << 30);
  const shutdown = async (sig) => {
    console.error(`pubsub emulator: ${sig}, stopping pid ${emu.pid}`);
    clearInterval(keepAlive);
    await emu.stop();
    process.exit(0);
  };
  process.once("SIGINT", () => shutdown("SIGINT"));
  process.once("SIGTERM", () => shutdown("SIGTERM"));
}
