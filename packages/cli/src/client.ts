import { BrookError, connect, schemeOf, type Broker } from "@brook/core";
import type { EngineApi } from "@brook/local-broker/engine";
import { InvalidArgumentError, type Command } from "commander";
import { loadAdapterFor } from "./adapters.js";
import { cliLogger, integerIn } from "./basics.js";

export { cliLogger };

export const DEFAULT_URL = "brook://127.0.0.1:7654";
/** How long connecting (and each admin request) may take before the command fails with TIMEOUT. */
export const DEFAULT_TIMEOUT_MS = 10_000;

export interface GlobalOptions {
  url: string;
  token?: string;
  timeout: number;
}

export interface Client {
  broker: Broker;
  /** the engine API behind memory:, local: and brook:// (groups, partition offsets, group-less reads) */
  api: EngineApi | undefined;
  /** the URL without its token */
  url: string;
  timeoutMs: number;
  /** `work`, failing with TIMEOUT naming `what` when it takes longer than --timeout */
  bounded<T>(work: Promise<T>, what: string): Promise<T>;
}

/**
 * Rejects with TIMEOUT when `work` has not settled within `ms`. The work itself goes on (a
 * driver may not be cancellable); the CLI exits soon after an error, so it does not linger.
 */
export function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BrookError("TIMEOUT", `${what}: no answer within ${ms} ms (--timeout); is the broker running there?`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Connects to the command's --url within --timeout. Backends that connect lazily (Pub/Sub)
 * are asked for their topics once, so a wrong host fails here, in seconds, not at the first
 * real request after the client library's own retries.
 */
export async function openClient(command: Command): Promise<Client> {
  const { url, token, timeout } = command.optsWithGlobals<GlobalOptions>();
  // Loaded by the client commands only (`brook serve` does not load the client side).
  const { LocalBroker } = await import("@brook/local-broker");
  const { engineApiOf, redactUrl } = await import("@brook/local-broker/engine");
  const shownUrl = redactUrl(url);
  const scheme = schemeOf(url);
  const options = {
    logger: cliLogger,
    ...(token === undefined || scheme !== "brook" ? {} : { token }),
    ...(scheme === "brook" ? { connectTimeoutMs: timeout } : {}),
    // KafkaJS logs every failed connection attempt as a warning; the CLI reports the outcome itself.
    ...(scheme === "kafka" ? { logLevel: process.env.BROOK_DEBUG === "1" ? "debug" : "nothing" } : {}),
  };
  await loadAdapterFor(url);
  const connecting = connect(url, options);
  let broker: Broker;
  try {
    broker = await withTimeout(connecting, timeout, `connect to ${shownUrl}`);
  } catch (err) {
    // A connection that completes after we gave up is closed, so it holds nothing open.
    void connecting.then((late) => late.close()).catch(() => undefined);
    throw err;
  }
  const bounded = <T>(work: Promise<T>, what: string): Promise<T> => withTimeout(work, timeout, `${what} on ${shownUrl}`);
  if (scheme === "pubsub") {
    try {
      await bounded(broker.admin.listTopics(), "list topics (checking the connection)");
    } catch (err) {
      // Unreachable is final; a permission this probe lacks may not matter to the command.
      const code = (err as BrookError).code;
      if (code === "TIMEOUT" || code === "UNAVAILABLE") {
        void broker.close().catch(() => undefined);
        throw err;
      }
    }
  }
  const api = broker instanceof LocalBroker ? engineApiOf(broker) : undefined;
  return { broker, api, url: shownUrl, timeoutMs: timeout, bounded };
}

/** Runs `fn` with a client and always closes it. */
export async function withClient<R>(command: Command, fn: (client: Client) => Promise<R>): Promise<R> {
  const client = await openClient(command);
  try {
    return await fn(client);
  } finally {
    await client.broker.close();
  }
}

export function needApi(client: Client, what: string): EngineApi {
  if (client.api === undefined) {
    throw new BrookError("UNSUPPORTED", `${what} works on the local broker (memory:, local:, brook://) only, got ${client.url}`);
  }
  return client.api;
}

/** Commander argument parser for integers in a range. */
export function integer(name: string, min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = integerIn(value, min, max);
    if (n === undefined) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
}
