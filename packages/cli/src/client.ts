import { BrookError, connect, schemeOf, type Broker, type Logger } from "@brook/core";
import { LocalBroker } from "@brook/local-broker";
import { connectRemoteEngine, redactUrl, type EngineApi } from "@brook/local-broker/engine";
import { InvalidArgumentError, type Command } from "commander";

export const DEFAULT_URL = "brook://127.0.0.1:7654";

/** Warnings and errors on stderr, one line each; debug with BROOK_DEBUG=1. */
export const cliLogger: Logger = {
  debug: (message) => {
    if (process.env.BROOK_DEBUG === "1") process.stderr.write(`debug: ${message}\n`);
  },
  info: (message) => {
    if (process.env.BROOK_DEBUG === "1") process.stderr.write(`info: ${message}\n`);
  },
  warn: (message) => process.stderr.write(`warning: ${message}\n`),
  error: (message) => process.stderr.write(`error: ${message}\n`),
};

export interface GlobalOptions {
  url: string;
  token?: string;
}

export interface Client {
  broker: Broker;
  /** the engine API behind a brook:// or local broker (groups, partition details) */
  api: EngineApi | undefined;
  url: string;
}

/** Connects to the command's --url; brook:// gives direct access to the engine API too. */
export async function openClient(command: Command): Promise<Client> {
  const { url, token } = command.optsWithGlobals<GlobalOptions>();
  const options = { logger: cliLogger, ...(token === undefined ? {} : { token }) };
  if (schemeOf(url) === "brook") {
    const api = await connectRemoteEngine(url, options);
    return { broker: new LocalBroker(redactUrl(url), api, cliLogger), api, url: redactUrl(url) };
  }
  return { broker: await connect(url, options), api: undefined, url: redactUrl(url) };
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
  if (client.api === undefined) throw new BrookError("UNSUPPORTED", `${what} needs a brook:// URL (a brook serve server), got ${client.url}`);
  return client.api;
}

/** Commander argument parser for integers in a range. */
export function integer(name: string, min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
}

/** Prints rows as aligned columns. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ")).join("\n");
}
