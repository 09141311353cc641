// Kinesis and DynamoDB emulators for the tests: kinesis-local 0.6.2 (the kinesis-mock engine,
// npm) for streams and dynalite 4.0.0 (npm) for the lease tables, both on free 127.0.0.1
// ports, stopped by pid. Node built-ins only; no top-level await (jest imports this file).
//
//   node scripts/backends/kinesis.mjs start   # prints KEY=value lines, runs until SIGINT/SIGTERM
//
// Library use:
//   const { startKinesis } = await import("./scripts/backends/kinesis.mjs");
//   const k = await startKinesis({ log: console.log });  // { kinesisEndpoint, dynamoEndpoint, pids, stop }
//   ...; await k.stop();
//
// Facts this relies on (tried on this machine, see shared/EMULATORS.md):
// - kinesis-local exits at once without KINESIS_MOCK_CERT_PATH (its bundled server.json); it
//   takes its ports from KINESIS_MOCK_PLAIN_PORT / KINESIS_MOCK_TLS_PORT and binds 0.0.0.0 with
//   no host option, so kinesis/listen-loopback.cjs is preloaded to force 127.0.0.1. It ignores
//   SIGTERM: it is stopped with SIGKILL. State changes (create, delete, split, merge, update
//   shard count) take *_DURATION (default 500ms); 100ms here keeps tests quick.
// - dynalite's default port clashes with kinesis-local; it is given its own, with table state
//   changes immediate (--createTableMs 0 …). In memory only.
// - Ready when each answers an HTTP request (any status: dynalite refuses unsigned requests).
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { HOST, freePorts, launch, noop, runStartCommand, waitReady } from "./process.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(HERE, "..", "..");
const READY_TIMEOUT_MS = 60_000;
const STATE_DURATION = "100ms";

function packageFile(name, file) {
  const p = path.join(REPO_ROOT, "node_modules", name, file);
  if (!existsSync(p)) throw new Error(`${name} is not installed (${p} missing): run \`npx -y pnpm@10 install\` (it is a root devDependency)`);
  return p;
}

/** One HTTP POST; resolves true on any HTTP response. */
function answers(port) {
  return new Promise((resolve) => {
    const req = http.request({ host: HOST, port, method: "POST", path: "/", timeout: 2_000, agent: false, headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": "Kinesis_20131202.ListStreams" } }, (res) => {
      res.resume();
      res.on("end", () => resolve(true));
      res.on("error", () => resolve(true));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end("{}");
  });
}

/** Spawns one emulator process with Node; `stopSignal` is what stop() sends first. */
function launchNode(name, args, env, logFile, stopSignal) {
  const proc = launch({ name, cmd: process.execPath, args, env, logFile, cwd: REPO_ROOT });
  return { ...proc, stop: () => proc.stop(stopSignal) };
}

/**
 * Starts kinesis-local and dynalite.
 * @param {{ log?: (msg: string) => void, readyTimeoutMs?: number }} [opts]
 * @returns {Promise<{ kinesisEndpoint: string, dynamoEndpoint: string, pids: number[], logDir: string, stop(): Promise<void> }>}
 */
export async function startKinesis(opts = {}) {
  const log = opts.log ?? noop;
  const started = Date.now();
  const kinesisMain = packageFile("kinesis-local", "main.js");
  const certPath = packageFile("kinesis-local", "server.json");
  const dynaliteCli = packageFile("dynalite", "cli.js");
  const logDir = mkdtempSync(path.join(os.tmpdir(), "brook-kinesis-"));
  const procs = [];
  const stop = async () => {
    await Promise.all(procs.map((p) => p.stop()));
    rmSync(logDir, { recursive: true, force: true });
  };
  try {
    const [plain, tls, dynamo] = await freePorts(3);
    procs.push(
      launchNode(
        "kinesis-local",
        ["--require", path.join(HERE, "kinesis", "listen-loopback.cjs"), kinesisMain],
        {
          KINESIS_MOCK_CERT_PATH: certPath,
          KINESIS_MOCK_PLAIN_PORT: String(plain),
          KINESIS_MOCK_TLS_PORT: String(tls),
          LOG_LEVEL: "WARN",
          // Every test makes fresh streams; the default (50 shards, as an AWS account starts) runs out in one suite.
          SHARD_LIMIT: "100000",
          CREATE_STREAM_DURATION: STATE_DURATION,
          DELETE_STREAM_DURATION: STATE_DURATION,
          SPLIT_SHARD_DURATION: STATE_DURATION,
          MERGE_SHARDS_DURATION: STATE_DURATION,
          UPDATE_SHARD_COUNT_DURATION: STATE_DURATION,
          REGISTER_STREAM_CONSUMER_DURATION: STATE_DURATION,
          DEREGISTER_STREAM_CONSUMER_DURATION: STATE_DURATION,
        },
        path.join(logDir, "kinesis-local.log"),
        "SIGKILL", // it ignores SIGTERM
      ),
    );
    procs.push(
      launchNode(
        "dynalite",
        [dynaliteCli, "--host", HOST, "--port", String(dynamo), "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"],
        {},
        path.join(logDir, "dynalite.log"),
        "SIGTERM",
      ),
    );
    const timeoutMs = opts.readyTimeoutMs ?? READY_TIMEOUT_MS;
    for (const [proc, port] of [[procs[0], plain], [procs[1], dynamo]]) {
      await waitReady(proc, () => answers(port), { timeoutMs, what: `on ${HOST}:${port}` });
    }
    const kinesisEndpoint = `http://${HOST}:${plain}`;
    const dynamoEndpoint = `http://${HOST}:${dynamo}`;
    log(`kinesis-local on ${kinesisEndpoint} (pid ${procs[0].pid}), dynalite on ${dynamoEndpoint} (pid ${procs[1].pid}), ready in ${Date.now() - started} ms`);
    return { kinesisEndpoint, dynamoEndpoint, pids: procs.map((p) => p.pid), pid: procs[0].pid, logDir, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

runStartCommand(import.meta.url, {
  usage: "node scripts/backends/kinesis.mjs start",
  start: ({ log }) => startKinesis({ log }),
  lines: (k) => [`BROOK_TEST_KINESIS_ENDPOINT=${k.kinesisEndpoint}`, `BROOK_TEST_DYNAMO_ENDPOINT=${k.dynamoEndpoint}`],
});
