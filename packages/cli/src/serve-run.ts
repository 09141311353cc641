/**
 * What `brook serve` runs, without commander: serve.ts registers the command and its options,
 * serve-fast.ts parses plain invocations without loading commander (start-up time counts for a
 * server), and both call runServe. Imports only the server side (@brook/local-broker/server,
 * @brook/core/base); @brook/kafka-wire is loaded only with --kafka-port.
 */
import { BrookError } from "@brook/core/base";
import { LogEngine, MemoryStore, openDirectoryEngine, startServer, type FsyncPolicy, type PushSubscriptionConfig } from "@brook/local-broker/server";
import type { KafkaWireServer } from "@brook/kafka-wire";
import { cliLogger } from "./basics.js";

export interface ServeOptions {
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

/**
 * `brook serve` itself, once its options are parsed (by commander in serve.ts, or by the fast
 * path in serve-fast.ts): opens the engine, starts the brook:// server (and Kafka's protocol with
 * --kafka-port), prints where it listens and runs until SIGINT or SIGTERM.
 */
export async function runServe(options: ServeOptions, token: string | undefined, pushTokenFromEnv: boolean): Promise<void> {
  if (token !== undefined && token.length === 0) throw new BrookError("INVALID_ARGUMENT", "--token must not be empty");
  const push = pushConfigs(options, pushTokenFromEnv);
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
}
