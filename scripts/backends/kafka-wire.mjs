// `brook serve --kafka-port` as a Kafka backend: the local broker speaking Kafka's wire protocol,
// for the second pass of the Kafka tests (scripts/test-all.mjs) and the kafka-wire benchmark.
//
//   node scripts/backends/kafka-wire.mjs start   # prints the brokers string, stops on SIGINT/SIGTERM
//
// Library use:
//   const { startKafkaWireServe } = await import("./scripts/backends/kafka-wire.mjs");
//   const wire = await startKafkaWireServe({ log: console.log });   // { brokers, pid, readyMs, stop }
//   ...; await wire.stop();
//
// Runs the built CLI (packages/cli/dist/main.js: `tsc -b` first) on the current Node, with the
// in-memory store unless `dir` is given, on 127.0.0.1 and free ports (--port 0 --kafka-port 0).
// Ready means: a Kafka Metadata request was answered (readyMs: from spawn to that answer).
// Plain Node ESM, built-ins only, no top-level await (jest may import it).
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { kafkaRequest } from "./kafka.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.join(HERE, "..", "..");
export const BROOK_MAIN = path.join(ROOT, "packages", "cli", "dist", "main.js");
const HOST = "127.0.0.1";
const noop = () => {};

export { kafkaRequest };

/** Metadata v1 for all topics (`topics: null`): answered once the broker serves Kafka. */
export const metadataProbe = (port) => {
  const body = Buffer.alloc(4);
  body.writeInt32BE(-1, 0);
  return kafkaRequest(port, 3, 1, body);
};

/**
 * Starts `brook serve --port 0 --kafka-port 0` and waits for its first Metadata answer.
 * @param {{ log?: (msg: string) => void, node?: string, dir?: string, readyTimeoutMs?: number, env?: object }} [opts]
 * @returns {Promise<{ brokers: string, port: number, brookUrl: string, pid: number, readyMs: number, stop: () => Promise<void> }>}
 */
export async function startKafkaWireServe({ log = noop, node = process.execPath, dir, readyTimeoutMs = 30_000, env = process.env } = {}) {
  const started = performance.now();
  const args = [BROOK_MAIN, "serve", "--port", "0", "--kafka-port", "0", ...(dir === undefined ? [] : ["--dir", dir])];
  const child = spawn(node, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  let exited = null;
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => {
    err += d;
    for (const line of String(d).split("\n")) if (line.trim() !== "") log(`kafka-wire: ${line}`);
  });
  const exit = new Promise((resolve) => child.once("exit", (code, signal) => resolve((exited = { code, signal }))));
  const stop = async () => {
    if (exited !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exit;
    clearTimeout(timer);
  };
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kafka-wire: brook serve printed no Kafka address in ${readyTimeoutMs} ms\n${out}${err}`)), readyTimeoutMs);
    const check = () => {
      const m = /Kafka protocol on [^\s:]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout.on("data", check);
    exit.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`kafka-wire: brook serve exited during start-up (code ${code}, signal ${signal})\n${out}${err}`));
    });
  }).catch(async (e) => {
    await stop();
    throw e;
  });
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    try {
      await metadataProbe(port);
      break;
    } catch (e) {
      if (exited !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`kafka-wire: no Metadata answer on ${HOST}:${port}: ${e.message}\n${out}${err}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  const readyMs = performance.now() - started;
  const brookUrl = /listening on (brook:\/\/\S+)/.exec(out)?.[1] ?? "";
  log(`kafka-wire: brook serve pid ${child.pid} serves Kafka on ${HOST}:${port} (ready in ${readyMs.toFixed(0)} ms)`);
  return { brokers: `${HOST}:${port}`, port, brookUrl, pid: child.pid, readyMs, stop };
}

async function main(argv) {
  const log = (m) => process.stderr.write(`${m}\n`);
  if (argv[0] !== "start") {
    process.stderr.write("usage: node scripts/backends/kafka-wire.mjs start\n");
    process.exitCode = 2;
    return;
  }
  const wire = await startKafkaWireServe({ log });
  process.stdout.write(`${wire.brokers}\n`);
  await new Promise((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await wire.stop();
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`${e?.stack ?? e}\n`);
    process.exit(1);
  });
}
