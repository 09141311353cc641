// Real single-node Apache Kafka broker (KRaft, combined broker+controller) for the tests.
//
//   node scripts/backends/kafka.mjs fetch   # cache the broker jars only
//   node scripts/backends/kafka.mjs start   # start, print the brokers string, stop on SIGINT/SIGTERM
//
// Library use:
//   const { fetchKafka, startKafka } = await import("./scripts/backends/kafka.mjs");
//   const kafka = await startKafka({ log: console.log });   // { brokers, pid, logFile, stop }
//   ...; await kafka.stop();
//
// Jars come from Maven Central through `mvn dependency:copy-dependencies` on
// scripts/backends/kafka/pom.xml and are cached in <repo>/.cache/kafka/<version>/lib (git-ignored).
// Needs Java 17+ and Maven on PATH. Binds 127.0.0.1 only; ports are picked free at start.
// Plain Node ESM, built-ins only.
//
// Notes for tests using kafkajs 2.2.4 against this broker:
// - A kafkajs producer that ever sent to a topic that is later deleted fails every send that needs
//   a metadata refresh (e.g. to a new topic) with UNKNOWN_TOPIC_OR_PARTITION, because it keeps
//   asking for the deleted topic. Use a fresh producer per test topic, or don't delete in between.
// - First use of groups / transactions creates __consumer_offsets / __transaction_state: the first
//   FindCoordinator / InitProducerId gets a retriable "coordinator not available / loading" (logged
//   at ERROR by kafkajs, retried, ~0.3 s).
// - Set consumer maxWaitTimeInMs (e.g. 200-500) and heartbeatInterval (e.g. 500): the defaults
//   (5000 / 3000) make disconnect and rebalances take seconds.

// KAFKA_VERSION: 4.4.0, the newest kafka_2.13 that Maven Central serves here. Checked with
// kafkajs 2.2.4 on 4.4.0, 4.0.0 and 3.9.1 alike: createTopics/deleteTopics, describeConfigs,
// fetchTopicOffsets(ByTimestamp), plain, gzip, idempotent and transactional producers, a consumer
// group with autoCommit off + commitOffsets, rebalance when a second member joins and when one
// leaves, fetchOffsets/describeGroups/deleteGroups: all passed, nothing broke on 4.x. Kafka 4.0
// dropped old protocol versions (KIP-896), but every API kafkajs uses still overlaps the broker's
// range and kafkajs picks the highest common version (Produce v7, Fetch v11, Metadata v6,
// JoinGroup v5, ListOffsets v3, CreateTopics v3, DeleteTopics v1, OffsetCommit v5, ...).
// 3.9.1 is the fallback (pass version: "3.9.1") should a 4.x regression show up.
export const KAFKA_VERSION = "4.4.0";

import { spawn, execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, openSync, closeSync, readFileSync, writeFileSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePorts, sleep } from "./process.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(HERE, "..", "..");
const POM = path.join(HERE, "kafka", "pom.xml");
const HOST = "127.0.0.1";

const noop = () => {};

export function kafkaLibDir(version = KAFKA_VERSION) {
  return path.join(REPO_ROOT, ".cache", "kafka", version, "lib");
}

function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024, ...opts }, (err, stdout, stderr) => {
      if (err) {
        err.message += `\n--- stdout ---\n${tail(String(stdout))}\n--- stderr ---\n${tail(String(stderr))}`;
        reject(err);
      } else resolve({ stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

function tail(text, lines = 60) {
  return text.split("\n").slice(-lines).join("\n");
}

function libComplete(dir, version) {
  // The marker is written only after a successful copy, so a half-finished fetch is redone.
  return existsSync(path.join(dir, ".complete")) && existsSync(path.join(dir, `kafka_2.13-${version}.jar`));
}

/** Ensures the broker jars are cached; returns the lib dir. Idempotent, instant when cached. */
export async function fetchKafka({ log = noop, version = KAFKA_VERSION } = {}) {
  const lib = kafkaLibDir(version);
  if (libComplete(lib, version)) return lib;
  const started = Date.now();
  log(`kafka: fetching org.apache.kafka:kafka_2.13:${version} from Maven Central into ${lib}`);
  const tmp = `${lib}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(path.dirname(lib), { recursive: true });
  await run("mvn", [
    "-q", "-B", "-f", POM,
    "dependency:copy-dependencies",
    `-Dkafka.version=${version}`,
    `-DoutputDirectory=${tmp}`,
    "-DincludeScope=runtime",
  ]);
  if (!existsSync(path.join(tmp, `kafka_2.13-${version}.jar`))) {
    throw new Error(`kafka: mvn finished but ${tmp} has no kafka_2.13-${version}.jar`);
  }
  writeFileSync(path.join(tmp, ".complete"), `${new Date().toISOString()}\n`);
  if (libComplete(lib, version)) {
    rmSync(tmp, { recursive: true, force: true }); // another process finished first
    return lib;
  }
  rmSync(lib, { recursive: true, force: true });
  renameSync(tmp, lib);
  const mb = readdirSync(lib).reduce((n, f) => n + statSync(path.join(lib, f)).size, 0) / 1e6;
  log(`kafka: fetched ${mb.toFixed(1)} MB in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return lib;
}

/**
 * Ensures Kafka's own tools (org.apache.kafka:kafka-tools: ProducerPerformance,
 * ConsumerPerformance) are cached beside the broker jars, in .cache/kafka/<version>/tools;
 * returns that dir (put `<dir>/*` on a java classpath). For the Kafka benchmark only.
 */
export async function fetchKafkaTools({ log = noop, version = KAFKA_VERSION } = {}) {
  const dir = path.join(path.dirname(kafkaLibDir(version)), "tools");
  const jar = path.join(dir, `kafka-tools-${version}.jar`);
  if (existsSync(path.join(dir, ".complete")) && existsSync(jar)) return dir;
  const started = Date.now();
  log(`kafka: fetching org.apache.kafka:kafka-tools:${version} from Maven Central into ${dir}`);
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(path.dirname(dir), { recursive: true });
  await run("mvn", ["-q", "-B", "-f", path.join(HERE, "kafka", "tools-pom.xml"), "dependency:copy-dependencies", `-Dkafka.version=${version}`, `-DoutputDirectory=${tmp}`, "-DincludeScope=runtime"]);
  if (!existsSync(path.join(tmp, `kafka-tools-${version}.jar`))) throw new Error(`kafka: mvn finished but ${tmp} has no kafka-tools-${version}.jar`);
  writeFileSync(path.join(tmp, ".complete"), `${new Date().toISOString()}\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  log(`kafka: fetched the tools in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return dir;
}

/** A Kafka cluster id: 16 random bytes, base64url without padding (what StorageTool random-uuid prints). */
function randomClusterId() {
  for (;;) {
    const id = randomBytes(16).toString("base64url");
    // Kafka's Uuid.randomUuid() never returns ids starting with '-' (CLI-unfriendly) and skips the
    // reserved all-zero / 0..01 ids; the last two cannot come from 16 random bytes in practice.
    if (!id.startsWith("-")) return id;
  }
}

function serverProperties({ port, proxied, controllerPort, dataDir, saslSsl }) {
  const extra = (proxied ? `,PROXIED://${HOST}:${proxied.port}` : "") + (saslSsl === undefined ? "" : `,SASL_SSL://${HOST}:${saslSsl.port}`);
  return [
    "process.roles=broker,controller",
    "node.id=1",
    `controller.quorum.voters=1@${HOST}:${controllerPort}`,
    `listeners=PLAINTEXT://${HOST}:${port},CONTROLLER://${HOST}:${controllerPort}${extra}`,
    `advertised.listeners=PLAINTEXT://${HOST}:${port}${proxied ? `,PROXIED://${HOST}:${proxied.advertisedPort}` : ""}${saslSsl === undefined ? "" : `,SASL_SSL://${HOST}:${saslSsl.port}`}`,
    "controller.listener.names=CONTROLLER",
    "inter.broker.listener.name=PLAINTEXT",
    `listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT${proxied ? ",PROXIED:PLAINTEXT" : ""}${saslSsl === undefined ? "" : ",SASL_SSL:SASL_SSL"}`,
    ...(saslSsl === undefined ? [] : saslSslProperties(saslSsl)),
    `log.dirs=${path.join(dataDir, "data")}`,
    // single node
    "num.partitions=1",
    "default.replication.factor=1",
    "min.insync.replicas=1",
    "offsets.topic.replication.factor=1",
    "offsets.topic.num.partitions=1",
    "transaction.state.log.replication.factor=1",
    "transaction.state.log.min.isr=1",
    "transaction.state.log.num.partitions=1",
    "share.coordinator.state.topic.replication.factor=1",
    "share.coordinator.state.topic.min.isr=1",
    // test behaviour
    "auto.create.topics.enable=false",
    "delete.topic.enable=true",
    "group.initial.rebalance.delay.ms=0",
    // small and light
    "num.network.threads=2",
    "num.io.threads=2",
    "background.threads=2",
    "num.recovery.threads.per.data.dir=1",
    "log.segment.bytes=16777216",
    "log.index.size.max.bytes=1048576",
    "log.cleaner.threads=1",
    "log.cleaner.dedupe.buffer.size=4194304",
    "log.retention.check.interval.ms=60000",
    "",
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// Optional SASL_SSL listener: TLS with a throwaway self-signed certificate (keytool, valid two
// days, for 127.0.0.1) and SASL PLAIN with one user, the code path cloud Kafka services use
// (Event Hubs' Kafka endpoint: user "$ConnectionString", password the connection string).

/** A PKCS12 keystore and its certificate as PEM (the CA a client trusts), in `dir`. */
async function makeCertificate(dir) {
  const keystore = path.join(dir, "broker.p12");
  const caFile = path.join(dir, "broker-ca.pem");
  const password = randomBytes(12).toString("hex");
  await run("keytool", ["-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048", "-validity", "2",
    "-dname", `CN=${HOST}`, "-ext", `SAN=ip:${HOST},dns:localhost`, "-keystore", keystore, "-storetype", "PKCS12",
    "-storepass", password, "-keypass", password]);
  await run("keytool", ["-exportcert", "-rfc", "-alias", "broker", "-keystore", keystore, "-storepass", password, "-file", caFile]);
  return { keystore, caFile, password };
}

/** JAAS quoting: backslash and double quote escaped inside a quoted value. */
const jaasQuote = (v) => `"${String(v).replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;

function saslSslProperties({ keystore, password, username, userPassword }) {
  return [
    "sasl.enabled.mechanisms=PLAIN",
    `listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${username}=${jaasQuote(userPassword)};`,
    `listener.name.sasl_ssl.ssl.keystore.location=${keystore}`,
    `listener.name.sasl_ssl.ssl.keystore.password=${password}`,
    "listener.name.sasl_ssl.ssl.keystore.type=PKCS12",
    `listener.name.sasl_ssl.ssl.key.password=${password}`,
  ];
}

// ---------------------------------------------------------------------------------------------
// Readiness probe: raw Kafka protocol over node:net (no client library).
// ApiVersions v0 tells which Metadata versions the broker serves; a Metadata request (v4..v8,
// non-flexible encodings) must then list our broker and a controller id. That only answers once
// the broker has registered with the KRaft controller and is unfenced.

/** One Kafka request (v0 header) on a fresh connection; resolves with the response body. */
export function kafkaRequest(port, apiKey, apiVersion, body, timeoutMs = 3000) {
  return new Promise((resolve, reject) => {
    const clientId = Buffer.from("brook-probe");
    const header = Buffer.alloc(2 + 2 + 4 + 2);
    header.writeInt16BE(apiKey, 0);
    header.writeInt16BE(apiVersion, 2);
    header.writeInt32BE(7, 4); // correlation id
    header.writeInt16BE(clientId.length, 8);
    const payload = Buffer.concat([header, clientId, body]);
    const size = Buffer.alloc(4);
    size.writeInt32BE(payload.length, 0);

    const sock = net.connect({ host: HOST, port });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new Error("probe timed out")), timeoutMs);
    function finish(err, value) {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value);
    }
    sock.once("error", (e) => finish(e));
    sock.once("close", () => finish(new Error("connection closed before a response")));
    sock.on("connect", () => sock.write(Buffer.concat([size, payload])));
    sock.on("data", (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
        const resp = buf.subarray(4, 4 + buf.readInt32BE(0));
        if (resp.readInt32BE(0) !== 7) return finish(new Error("bad correlation id"));
        finish(null, resp.subarray(4));
      }
    });
  });
}

async function probe(port) {
  // ApiVersions v0: error_code int16, [api_key int16, min int16, max int16]
  const av = await kafkaRequest(port, 18, 0, Buffer.alloc(0));
  const err = av.readInt16BE(0);
  if (err !== 0) throw new Error(`ApiVersions error ${err}`);
  const n = av.readInt32BE(2);
  let meta = null;
  for (let i = 0, o = 6; i < n; i++, o += 6) {
    if (av.readInt16BE(o) === 3) meta = { min: av.readInt16BE(o + 2), max: av.readInt16BE(o + 4) };
  }
  if (!meta) throw new Error("broker lists no Metadata API");
  const v = Math.min(8, meta.max);
  if (v < Math.max(4, meta.min)) return { brokers: 1, controllerId: 1 }; // cannot encode: ApiVersions suffices
  // Metadata v4..v8 request: topics nullable array (-1 = all), allow_auto_topic_creation,
  // v8+: include_cluster_authorized_operations, include_topic_authorized_operations
  const body = Buffer.alloc(v >= 8 ? 7 : 5);
  body.writeInt32BE(-1, 0);
  const md = await kafkaRequest(port, 3, v, body);
  let o = 4; // throttle_time_ms
  const brokers = md.readInt32BE(o);
  o += 4;
  for (let i = 0; i < brokers; i++) {
    o += 4; // node_id
    o += 2 + md.readInt16BE(o); // host
    o += 4; // port
    const rack = md.readInt16BE(o);
    o += 2 + (rack > 0 ? rack : 0);
  }
  const cid = md.readInt16BE(o);
  o += 2 + (cid > 0 ? cid : 0);
  const controllerId = md.readInt32BE(o);
  if (brokers < 1 || controllerId < 0) throw new Error(`not ready (brokers=${brokers}, controller=${controllerId})`);
  return { brokers, controllerId };
}

// ---------------------------------------------------------------------------------------------

function readTail(file, lines = 80) {
  try {
    return tail(readFileSync(file, "utf8"), lines);
  } catch {
    return "(no broker log)";
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* gone */
    }
  }
}

const running = new Map(); // pid -> temp dir to remove (or null)
let exitHookInstalled = false;
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Safety net: if the Node process exits without calling stop(), take the broker with it.
  process.on("exit", () => {
    for (const [pid, dir] of running) {
      killGroup(pid, "SIGKILL");
      if (dir) {
        try {
          rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
        } catch {
          /* best effort */
        }
      }
    }
  });
}

/**
 * Starts a single-node KRaft broker on free 127.0.0.1 ports and waits until it serves Metadata.
 * @param {{ log?: (msg: string) => void, dataDir?: string, readyTimeoutMs?: number, heap?: string,
 *           killOnExit?: boolean, version?: string, jvmArgs?: string[], proxied?: boolean,
 *           saslSsl?: boolean | { username?: string, password?: string } }} [opts]
 *   dataDir: folder for server.properties, the log file and the data (made if missing; kept on
 *   stop). Without it a temp folder is made and removed on stop.
 *   killOnExit (default true): SIGKILL the broker if this Node process exits without stop().
 *   version: another cached/fetchable Kafka version (default KAFKA_VERSION); jvmArgs: extra JVM flags.
 *   jvmDefaults: run the broker with the JVM's default JIT and GC (for benchmarks) instead of the
 *   quick-start flags the tests use (-XX:+UseSerialGC -XX:TieredStopAtLevel=1).
 *   The result's readyMs is the time from the broker's spawn to its first Metadata answer
 *   (probed every pollMs, default 250).
 *   proxied: a second listener (PROXIED) on `proxied.port` that names 127.0.0.1:`proxied.advertisedPort`
 *   in metadata, for a proxy on that port in front of it (test/faults): clients that bootstrap
 *   through the proxy keep all their traffic on it, while clients of the PLAINTEXT listener
 *   (`brokers`, `port`, the readiness probe) are not affected. `proxied.advertisedPort` was free
 *   when chosen and nothing binds it until the proxy does.
 *   saslSsl: also a SASL_SSL listener (throwaway certificate, SASL PLAIN; default user
 *   "$ConnectionString" with a connection-string-like password); the result then has
 *   saslSsl: { brokers, caFile, username, password }.
 * @returns {Promise<{ brokers: string, port: number, pid: number, logFile: string, dataDir: string,
 *           proxied?: { port: number, advertisedPort: number }, stop: () => Promise<void> }>}
 */
export async function startKafka({ log = noop, dataDir, readyTimeoutMs = 60_000, heap = "512m", killOnExit = true, version = KAFKA_VERSION, jvmArgs = [], proxied: withProxied = false, saslSsl, jvmDefaults = false, pollMs = 250 } = {}) {
  const started = Date.now();
  const lib = await fetchKafka({ log, version });
  const ownDir = !dataDir;
  const dir = dataDir ? path.resolve(dataDir) : await mkdtemp(path.join(os.tmpdir(), "brook-kafka-"));
  mkdirSync(dir, { recursive: true });
  const cleanupDir = () => {
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  };

  const ports = await freePorts(2 + (withProxied ? 2 : 0) + (saslSsl ? 1 : 0));
  const [port, controllerPort] = ports;
  const proxied = withProxied ? { port: ports[2], advertisedPort: ports[3] } : undefined;
  let secure;
  if (saslSsl) {
    const cert = await makeCertificate(dir);
    secure = { port: ports.at(-1), ...cert, username: saslSsl.username ?? "$ConnectionString", userPassword: saslSsl.password ?? `Endpoint=sb://${HOST}/;SharedAccessKeyName=test;SharedAccessKey=${randomBytes(8).toString("hex")}` };
  }
  const props = path.join(dir, "server.properties");
  writeFileSync(props, serverProperties({ port, proxied, controllerPort, dataDir: dir, saslSsl: secure }));
  const logFile = path.join(dir, "kafka.log");
  const cp = `${lib}${path.sep}*`;
  const jvm = [
    `-Xmx${heap}`,
    "-Xss1m",
    ...(jvmDefaults ? [] : ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]),
    "-Djava.awt.headless=true",
    "-Dorg.slf4j.simpleLogger.showDateTime=true",
    "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
    "-Dorg.slf4j.simpleLogger.logFile=System.out",
    ...jvmArgs,
  ];

  // Format the storage (the cluster id is what `StorageTool random-uuid` would print; made here
  // to save a JVM start).
  try {
    await run("java", [...jvm.filter((a) => !a.startsWith("-Xmx")), "-Xmx256m", "-cp", cp,
      "kafka.tools.StorageTool", "format", "--config", props, "--cluster-id", randomClusterId(), "--ignore-formatted"]);
  } catch (e) {
    cleanupDir();
    throw new Error(`kafka: storage format failed: ${e.message}`);
  }

  const out = openSync(logFile, "a");
  const spawnedAt = performance.now();
  const child = spawn("java", [...jvm, "-cp", cp, "kafka.Kafka", props], {
    cwd: dir,
    detached: true, // own process group: stop() kills the whole group
    stdio: ["ignore", out, out],
  });
  closeSync(out);
  const pid = child.pid;
  let exited = null;
  child.on("exit", (code, signal) => {
    exited = { code, signal };
    running.delete(pid);
  });
  child.unref();
  running.set(pid, ownDir ? dir : null);
  if (killOnExit) installExitHook();
  log(`kafka: started pid ${pid} on ${HOST}:${port} (controller ${controllerPort}), log ${logFile}`);

  let stopped = null;
  const stop = () => {
    if (stopped) return stopped;
    stopped = (async () => {
      if (exited === null && alive(pid)) {
        killGroup(pid, "SIGTERM");
        const deadline = Date.now() + 10_000;
        while (exited === null && alive(pid) && Date.now() < deadline) await sleep(100);
        if (exited === null && alive(pid)) {
          log(`kafka: pid ${pid} still up after SIGTERM, sending SIGKILL`);
          killGroup(pid, "SIGKILL");
          const hard = Date.now() + 5_000;
          while (exited === null && alive(pid) && Date.now() < hard) await sleep(50);
        }
      }
      running.delete(pid);
      cleanupDir();
    })();
    return stopped;
  };

  const deadline = Date.now() + readyTimeoutMs;
  let lastErr = null;
  for (;;) {
    if (exited !== null) {
      const why = `kafka: broker exited during startup (code ${exited.code}, signal ${exited.signal})`;
      const t = readTail(logFile);
      await stop();
      throw new Error(`${why}\n--- ${logFile} (tail) ---\n${t}`);
    }
    try {
      await probe(port);
      break;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      const t = readTail(logFile);
      await stop();
      throw new Error(`kafka: not ready after ${readyTimeoutMs} ms (last probe: ${lastErr?.message})\n--- ${logFile} (tail) ---\n${t}`);
    }
    await sleep(pollMs);
  }
  const readyMs = performance.now() - spawnedAt;
  log(`kafka: ready at ${HOST}:${port} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const saslSslInfo = secure === undefined ? {} : {
    saslSsl: { brokers: `${HOST}:${secure.port}`, caFile: secure.caFile, username: secure.username, password: secure.userPassword },
  };
  return { brokers: `${HOST}:${port}`, port, pid, readyMs, logFile, dataDir: dir, ...(proxied ? { proxied } : {}), ...saslSslInfo, stop };
}


// ---------------------------------------------------------------------------------------------
// CLI

async function main(argv) {
  const log = (m) => process.stderr.write(`${m}\n`);
  const cmd = argv[0];
  if (cmd === "fetch") {
    const lib = await fetchKafka({ log });
    process.stdout.write(`${lib}\n`);
    return;
  }
  if (cmd === "start") {
    const kafka = await startKafka({ log });
    process.stdout.write(`${kafka.brokers}\n`);
    await new Promise((resolve) => {
      const onSignal = (sig) => {
        log(`kafka: ${sig}, stopping pid ${kafka.pid}`);
        resolve();
      };
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      // Exit (and stop) if the broker dies on its own.
      const t = setInterval(() => {
        if (!alive(kafka.pid)) {
          log(`kafka: pid ${kafka.pid} died\n${readTail(kafka.logFile, 40)}`);
          process.exitCode = 1;
          clearInterval(t);
          resolve();
        }
      }, 1000);
      process.once("exit", () => clearInterval(t));
    });
    await kafka.stop();
    process.exit(process.exitCode ?? 0);
  }
  process.stderr.write("usage: node scripts/backends/kafka.mjs fetch|start\n");
  process.exitCode = 2;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`${e?.stack ?? e}\n`);
    process.exit(1);
  });
}
