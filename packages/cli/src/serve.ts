import { BrookError } from "@brook/core";
// The server side only (no client, no backend registration): `brook serve` starts faster.
import { LogEngine, MemoryStore, openDirectoryEngine, startServer, type FsyncPolicy, type PushSubscriptionConfig } from "@brook/local-broker/server";
import type { KafkaWireServer } from "@brook/kafka-wire";
import { InvalidArgumentError, Option, type Command } from "commander";
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
  push?: string[];
  pushToken?: string;
  pushHeader?: string[];
  pushTimeoutMs?: number;
  pushAttempts?: number;
  pushMinDelayMs?: number;
  pushMaxDelayMs?: number;
  pushDeadLetter?: string;
  pushOrdering?: "key" | "partition" | "none";
  pushMaxInFlight?: number;
}

/** A repeatable option (no default, so --help shows none). */
const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

function pushOrdering(value: string): "key" | "partition" | "none" {
  if (value !== "key" && value !== "partition" && value !== "none") throw new InvalidArgumentError("--push-ordering must be key, partition or none");
  return value;
}

/**
 * `--push topic:group=url` (repeatable) and the --push-* settings every one of them shares →
 * the server's push configs. The topic is what precedes the first ":", the group the rest up
 * to the first "=", the endpoint everything after it.
 */
export function pushConfigs(options: ServeOptions, tokenFromEnv = false): PushSubscriptionConfig[] {
  const specs = options.push ?? [];
  const headerArgs = options.pushHeader ?? [];
  const pushOnly: Array<[string, unknown]> = [
    // BROOK_PUSH_TOKEN in the environment is no mistake on a server without push subscriptions.
    ["--push-token", tokenFromEnv ? undefined : options.pushToken],
    ["--push-header", options.pushHeader],
    ["--push-timeout-ms", options.pushTimeoutMs],
    ["--push-attempts", options.pushAttempts],
    ["--push-min-delay-ms", options.pushMinDelayMs],
    ["--push-max-delay-ms", options.pushMaxDelayMs],
    ["--push-dead-letter", options.pushDeadLetter],
    ["--push-ordering", options.pushOrdering],
    ["--push-max-in-flight", options.pushMaxInFlight],
  ];
  if (specs.length === 0) {
    const stray = pushOnly.find(([, value]) => value !== undefined);
    if (stray !== undefined) throw new BrookError("INVALID_ARGUMENT", `${stray[0]} needs at least one --push topic:group=url`);
    return [];
  }
  if (options.pushToken !== undefined && options.pushToken.length === 0) throw new BrookError("INVALID_ARGUMENT", "--push-token must not be empty");
  const headers: Record<string, string> = {};
  for (const header of headerArgs) {
    const colon = header.indexOf(":");
    if (colon < 1) throw new BrookError("INVALID_ARGUMENT", `--push-header: expected "Name: value", got ${JSON.stringify(header)}`);
    headers[header.slice(0, colon).trim().toLowerCase()] = header.slice(colon + 1).trim();
  }
  const retry = {
    ...(options.pushAttempts === undefined ? {} : { maxAttempts: options.pushAttempts }),
    ...(options.pushMinDelayMs === undefined ? {} : { minDelayMs: options.pushMinDelayMs }),
    ...(options.pushMaxDelayMs === undefined ? {} : { maxDelayMs: options.pushMaxDelayMs }),
  };
  return specs.map((spec) => {
    const eq = spec.indexOf("=");
    const colon = spec.indexOf(":");
    if (eq < 0 || colon < 1 || colon > eq - 2) {
      throw new BrookError("INVALID_ARGUMENT", `--push: expected topic:group=http://host:port/path, got ${JSON.stringify(spec)}`);
    }
    return {
      topic: spec.slice(0, colon),
      group: spec.slice(colon + 1, eq),
      endpoint: spec.slice(eq + 1),
      ...(options.pushToken === undefined ? {} : { token: options.pushToken }),
      ...(Object.keys(headers).length === 0 ? {} : { headers }),
      ...(options.pushTimeoutMs === undefined ? {} : { timeoutMs: options.pushTimeoutMs }),
      ...(Object.keys(retry).length === 0 ? {} : { retry }),
      ...(options.pushDeadLetter === undefined ? {} : { deadLetter: { topic: options.pushDeadLetter } }),
      ...(options.pushOrdering === undefined ? {} : { ordering: options.pushOrdering }),
      ...(options.pushMaxInFlight === undefined ? {} : { maxInFlight: options.pushMaxInFlight }),
    };
  });
}

/** A server error about push[i] names the --push argument it came from. */
function nameThePushFlag(err: unknown, options: ServeOptions): unknown {
  if (!(err instanceof BrookError)) return err;
  const m = /^push\[(\d+)\]\.?/.exec(err.message);
  const spec = m === null ? undefined : options.push?.[Number(m[1])];
  if (spec === undefined) return err;
  const rest = err.message.slice(m![0].length);
  return new BrookError(err.code, `--push ${spec}: ${rest}`, { cause: err });
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
    .option(
      "--push <topic:group=url>",
      "push subscription (repeatable): POST each message of group to url as a Pub/Sub push envelope; 2xx acks, else retried with back-off, then dead-lettered; the topic must exist",
      collect,
    )
    .addOption(new Option("--push-token <token>", "sent to push endpoints as Authorization: Bearer <token>").env("BROOK_PUSH_TOKEN"))
    .option("--push-header <name:value>", "extra request header for push endpoints (repeatable)", collect)
    .option("--push-timeout-ms <ms>", "a push not answered this long is a failed attempt (default 30000)", integer("--push-timeout-ms", 1, 600_000))
    .option("--push-attempts <n>", "attempts per message before dead-lettering (default 5)", integer("--push-attempts", 1, 1_000_000))
    .option("--push-min-delay-ms <ms>", "first back-off after a failed push; doubles per attempt (default 100)", integer("--push-min-delay-ms", 0))
    .option("--push-max-delay-ms <ms>", "longest back-off between attempts (default 30000)", integer("--push-max-delay-ms", 0))
    .option("--push-dead-letter <topic>", "topic a message goes to after its last failed push (must exist); without it, it is logged and skipped")
    .option("--push-ordering <mode>", "key (default: one key's messages pushed one at a time, in order), partition or none", pushOrdering)
    .option("--push-max-in-flight <n>", "pushes outstanding at once per subscription (default 256)", integer("--push-max-in-flight", 1))
    .action(async (options: ServeOptions, command: Command) => {
      const token = command.optsWithGlobals<GlobalOptions>().token ?? process.env.BROOK_TOKEN;
      if (token !== undefined && token.length === 0) throw new BrookError("INVALID_ARGUMENT", "--token must not be empty");
      const push = pushConfigs(options, command.getOptionValueSource("pushToken") === "env");
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
          // none: startServer does not load the push module (brook serve starts faster)
          ...(push.length === 0 ? {} : { push }),
        }).catch((err: unknown) => {
          throw nameThePushFlag(err, options);
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
      for (const p of push) process.stdout.write(`brook serve: pushing ${p.topic}:${p.group} to ${p.endpoint}\n`);
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
