import { BrookError } from "@brook/core";
// The server side only (no client, no backend registration): `brook serve` starts faster.
import { LogEngine, MemoryStore, openDirectoryEngine, startServer, type FsyncPolicy } from "@brook/local-broker/server";
import type { KafkaWireServer } from "@brook/kafka-wire";
import { InvalidArgumentError, type Command } from "commander";
import { cliLogger, integer, type GlobalOptions } from "./client.js";

interface ServeOptions {
  dir?: string;
  fsync?: FsyncPolicy;
  port: number;
  host: string;
  sessionTimeoutMs: number;
  handshakeTimeoutMs?: number;
  maxConnections?: number;
  kafkaPort?: number;
}

function fsyncPolicy(value: string): FsyncPolicy {
  if (value !== "never" && value !== "interval" && value !== "always") throw new InvalidArgumentError("--fsync must be never, interval or always");
  return value;
}

/**
 * With --kafka-port, the message size limit is Kafka's default `message.max.bytes` (1048588), so
 * Kafka clients (and Brook's Kafka adapter, which reads it from DescribeConfigs) see the limit a
 * default Kafka broker has; without it the local broker's own default (1 MiB) stays.
 */
const KAFKA_MESSAGE_MAX_BYTES = 1_048_588;

/** --dir: the durable file store of that directory (its lock makes this process its only owner); else memory. */
async function openEngine(options: ServeOptions): Promise<{ engine: LogEngine; store: string }> {
  const limits = options.kafkaPort === undefined ? {} : { maxMessageBytes: KAFKA_MESSAGE_MAX_BYTES };
  if (options.dir === undefined) {
    if (options.fsync !== undefined) throw new BrookError("INVALID_ARGUMENT", "--fsync needs --dir (the in-memory store has nothing to sync)");
    return { engine: await LogEngine.open(new MemoryStore(), limits), store: "memory store: nothing is kept after exit" };
  }
  const engine = await openDirectoryEngine(options.dir, { logger: cliLogger, ...limits, ...(options.fsync === undefined ? {} : { fsync: options.fsync }) });
  return { engine, store: `file store in ${options.dir}, fsync ${options.fsync ?? "interval"}` };
}

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("run the local broker as a server (brook://host:port); --token (or BROOK_TOKEN) makes clients authenticate")
    .option("--dir <path>", "data directory of the durable store (default: an in-memory store)")
    .option("--fsync <policy>", "with --dir: never, interval (default) or always", fsyncPolicy)
    .option("--port <port>", "TCP port (0 picks a free one)", integer("--port", 0, 65535), 7654)
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--session-timeout-ms <ms>", "evict group members silent this long", integer("--session-timeout-ms", 100), 10_000)
    .option("--handshake-timeout-ms <ms>", "close a connection that has not authenticated this long after connecting (default 10000)", integer("--handshake-timeout-ms", 10, 3_600_000))
    .option("--max-connections <n>", "connections open at once; one more is refused with UNAVAILABLE (default 1024)", integer("--max-connections", 1))
    .option("--kafka-port <port>", "also speak Kafka's wire protocol on this port, same log and groups (0 picks a free one)", integer("--kafka-port", 0, 65535))
    .action(async (options: ServeOptions, command: Command) => {
      const token = command.optsWithGlobals<GlobalOptions>().token ?? process.env.BROOK_TOKEN;
      if (token !== undefined && token.length === 0) throw new BrookError("INVALID_ARGUMENT", "--token must not be empty");
      const { engine, store } = await openEngine(options);
      let server;
      let kafka: KafkaWireServer | undefined;
      try {
        server = await startServer({
          engine,
          host: options.host,
          port: options.port,
          token,
          logger: cliLogger,
          sessionTimeoutMs: options.sessionTimeoutMs,
          ...(options.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: options.handshakeTimeoutMs }),
          ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
        });
        if (options.kafkaPort !== undefined) {
          // loaded only when asked for: the other commands start without it
          const { startKafkaWire } = await import("@brook/kafka-wire");
          kafka = await startKafkaWire({ engine, host: options.host, port: options.kafkaPort, logger: cliLogger, ...(token === undefined ? {} : { token }) }).catch(async (err: unknown) => {
            await server!.close();
            throw err;
          });
          process.stdout.write(`brook serve: Kafka protocol on ${kafka.address}${token === undefined ? "" : " (SASL PLAIN, the token as password)"}\n`);
        }
      } catch (err) {
        await engine.close();
        throw err;
      }
      // The signal listeners go in before "listening" is printed: until a listener exists, the
      // signal's default action ends the process at once, and whoever waits for that line (a
      // script, a test) may send SIGTERM the moment it reads it.
      const stopped = new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          resolve();
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
      process.stdout.write(`brook serve: listening on ${server.url} (${store}; ${token === undefined ? "no token" : "token required"})\n`);
      if (token === undefined && options.host !== "127.0.0.1" && options.host !== "localhost" && options.host !== "::1") {
        cliLogger.warn(`listening on ${options.host} without a token: anyone who can reach it can read and write`);
      }
      await stopped;
      process.stdout.write("brook serve: stopping\n");
      await kafka?.close();
      await server.close();
      await engine.close();
    });
}
