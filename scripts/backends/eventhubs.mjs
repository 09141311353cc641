// Event Hubs for tests: the project's AMQP test server (test/servers/eventhubs-amqp) and
// Azurite's blob service (checkpoints and partition ownership), each a child process on a free
// 127.0.0.1 port, ready when a real request answers, stopped by pid. Node built-ins only.
//
//   import { startEventHubs } from "./scripts/backends/eventhubs.mjs";
//   const eh = await startEventHubs({ log: console.log });
//   eh.connectionString  // Endpoint=sb://127.0.0.1:<port>;…;UseDevelopmentEmulator=true
//   eh.controlUrl        // http://127.0.0.1:<port>: the test server's hub control plane
//   eh.blobConnectionString  // Azurite, the well-known development account
//   ...; await eh.stop();
//
//   node scripts/backends/eventhubs.mjs start   # prints one JSON line, runs until SIGINT/SIGTERM
//
// Azurite 3.35.0 (the newest that runs on Node 20) in memory: `--skipApiVersionCheck` because
// @azure/storage-blob sends an API version newer than Azurite knows; ready in under a second.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { HOST, freePort, sleep } from "./process.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..", "..");
const READY_TIMEOUT_MS = 30_000;
/** Azurite's well-known development account (public, documented by Microsoft). */
const DEV_ACCOUNT = "devstoreaccount1";
const DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export function blobConnectionString(port) {
  return `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};BlobEndpoint=http://${HOST}:${port}/${DEV_ACCOUNT};`;
}

/** Resolves with `p`'s value, or null after `ms`; the timer is cleared either way. */
function within(p, ms) {
  let timer;
  return Promise.race([p, new Promise((r) => (timer = setTimeout(() => r(null), ms)))]).finally(() => clearTimeout(timer));
}

function httpStatus(port, pathname) {
  return new Promise((resolve) => {
    const req = http.get({ host: HOST, port, path: pathname, timeout: 2000, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", () => resolve(0));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(0));
  });
}

/** A child in its own process group; stop() sends SIGTERM, then SIGKILL after a bound. */
function spawnChild(name, args, log) {
  const child = spawn(process.execPath, args, { cwd: ROOT, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk) => {
    output = (output + chunk.toString()).slice(-8_000);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  let exited = null;
  const exitedP = new Promise((resolve) => child.once("exit", (code, signal) => resolve((exited = { code, signal }))));
  const kill = (signal) => {
    try {
      process.kill(-child.pid, signal);
    } catch {
      /* gone */
    }
  };
  const onExit = () => kill("SIGKILL");
  process.once("exit", onExit);
  const stop = async () => {
    process.removeListener("exit", onExit);
    if (exited === null) {
      kill("SIGTERM");
      const done = await within(exitedP, 5_000);
      if (done === null) {
        log(`${name}: pid ${child.pid} ignored SIGTERM, sending SIGKILL`);
        kill("SIGKILL");
        await within(exitedP, 5_000);
      }
    }
    child.stdout.destroy();
    child.stderr.destroy();
  };
  return { child, pid: child.pid, output: () => output, exited: () => exited, stop };
}

async function waitReady(name, proc, probe) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (proc.exited() !== null) {
      const e = proc.exited();
      throw new Error(`${name} exited before it was ready (code ${e.code}, signal ${e.signal}):\n${proc.output()}`);
    }
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      await proc.stop();
      throw new Error(`${name} not ready within ${READY_TIMEOUT_MS} ms:\n${proc.output()}`);
    }
    await sleep(100);
  }
}

/** Starts the AMQP test server; ready once its control plane answers /health. */
export async function startEventHubsServerProcess({ log = () => {} } = {}) {
  const cli = path.join(ROOT, "test", "servers", "eventhubs-amqp", "cli.mjs");
  const proc = spawnChild("eventhubs test server", [cli], log);
  const info = await waitReady("eventhubs test server", proc, async () => {
    const line = /^(\{.*\})\s*$/m.exec(proc.output());
    if (line === null) return undefined;
    const parsed = JSON.parse(line[1]);
    return (await httpStatus(parsed.controlPort, "/health")) === 200 ? parsed : undefined;
  });
  return { ...info, pid: proc.pid, stop: proc.stop };
}

/** Starts Azurite's blob service in memory; ready once it answers an HTTP request. */
export async function startAzurite({ log = () => {} } = {}) {
  const main = createRequire(path.join(ROOT, "package.json")).resolve("azurite/dist/src/blob/main.js");
  let lastError;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const proc = spawnChild("azurite", [main, "--inMemoryPersistence", "--blobHost", HOST, "--blobPort", String(port), "--disableTelemetry", "--silent", "--skipApiVersionCheck", "--loose"], log);
    try {
      // Any HTTP answer (400 for a request without an account) means it serves.
      await waitReady("azurite", proc, async () => ((await httpStatus(port, `/${DEV_ACCOUNT}?comp=list`)) > 0 ? true : undefined));
      return { port, pid: proc.pid, connectionString: blobConnectionString(port), stop: proc.stop };
    } catch (err) {
      lastError = err;
      await proc.stop();
      if (!/EADDRINUSE/.test(String(err.message))) break;
      log(`azurite: port ${port} was taken, retrying`);
    }
  }
  throw lastError;
}

/** Both, for the test runner. */
export async function startEventHubs({ log = () => {} } = {}) {
  const started = Date.now();
  const server = await startEventHubsServerProcess({ log });
  let azurite;
  try {
    azurite = await startAzurite({ log });
  } catch (err) {
    await server.stop();
    throw err;
  }
  log(`eventhubs: test server on ${HOST}:${server.port} (pid ${server.pid}), azurite on ${HOST}:${azurite.port} (pid ${azurite.pid}), ready in ${Date.now() - started} ms`);
  return {
    connectionString: server.connectionString,
    controlUrl: `http://${HOST}:${server.controlPort}`,
    blobConnectionString: azurite.connectionString,
    pids: [server.pid, azurite.pid],
    pid: server.pid,
    stop: async () => {
      await Promise.allSettled([server.stop(), azurite.stop()]);
    },
  };
}

// ---- CLI ------------------------------------------------------------------------------------
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv[2] !== "start") {
    console.error("usage: node scripts/backends/eventhubs.mjs start");
    process.exit(2);
  }
  startEventHubs({ log: (m) => console.error(m) }).then(
    (eh) => {
      console.log(JSON.stringify({ connectionString: eh.connectionString, controlUrl: eh.controlUrl, blobConnectionString: eh.blobConnectionString }));
      const keepAlive = setInterval(() => {}, 1 << 30);
      const shutdown = async () => {
        clearInterval(keepAlive);
        await eh.stop();
        process.exit(0);
      };
      process.once("SIGINT", shutdown);
      process.once("SIGTERM", shutdown);
    },
    (err) => {
      console.error(err?.stack ?? err);
      process.exit(1);
    },
  );
}
