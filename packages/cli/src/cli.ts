/**
 * The `brook` command as a library: `createProgram()` builds it, `runCli(argv)` runs it and
 * resolves with the exit status. Importing this module runs nothing; the bin is main.ts.
 * Client commands take --url (default brook://127.0.0.1:7654, or env BROOK_URL), --token (or
 * env BROOK_TOKEN) and --timeout. A failure prints one line, `error CODE: message`, and exits
 * with status 1 (2 for usage errors).
 */
import { Command, CommanderError, Option } from "commander";
import { toBrookError } from "@brook/core/spi";
import { DEFAULT_TIMEOUT_MS, DEFAULT_URL, integer } from "./client.js";
import { registerBench } from "./bench.js";
import { registerGroups } from "./groups.js";
import { errorColors } from "./output.js";
import { registerPublish } from "./publish.js";
import { registerServe } from "./serve.js";
import { registerStorage } from "./storage.js";
import { registerMirror } from "./mirror.js";
import { registerOutbox } from "./outbox.js";
import { registerTail } from "./tail.js";
import { registerTopics } from "./topics.js";

export const VERSION = "0.1.0";

/**
 * The subcommands, in help order. Each module exports `registerX(program)`, which adds its
 * command(s) with their own options and action; the global options (--url, --token,
 * --timeout), help and the one-line error form come from createProgram. A new command is one
 * more module and one more entry here; client commands open their broker with
 * withClient(command, …) from client.ts, which applies --url/--token/--timeout.
 */
const COMMANDS: ReadonlyArray<(program: Command) => void> = [
  registerServe,
  registerTopics,
  registerPublish,
  registerTail,
  registerGroups,
  registerBench,
  registerStorage,
  registerMirror,
  registerOutbox,
];

export function createProgram(): Command {
  const program = new Command("brook");
  program
    .description("Brook's local log broker, and tools for any Brook broker URL")
    .version(VERSION)
    .addOption(new Option("--url <url>", "broker URL for client commands: memory:, local:DIR, brook://HOST:PORT, kafka://…, pubsub://…").env("BROOK_URL").default(DEFAULT_URL))
    .addOption(new Option("--token <token>", "brook:// server token; for serve, the token clients must send").env("BROOK_TOKEN"))
    .addOption(
      new Option("--timeout <ms>", "fail with TIMEOUT when connecting (or an admin request) takes longer").argParser(integer("--timeout", 1)).default(DEFAULT_TIMEOUT_MS),
    )
    // Every subcommand's --help lists these global options too; settings made here are
    // copied to subcommands as they are created.
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .configureOutput({
      // Commander's own errors (unknown option, missing argument) in Brook's one-line form.
      outputError: (message, write) => write(`error INVALID_ARGUMENT: ${message.replace(/^error:\s*/, "").trim()}\n`),
    })
    .exitOverride()
    // memory:, local: and brook:// URLs for every command but serve, which runs the server side
    // only (@brook/local-broker/server) and starts faster without the client side.
    .hook("preAction", async (_program, action) => {
      if (action.name() !== "serve") await import("@brook/local-broker");
    });
  for (const register of COMMANDS) register(program);
  return program;
}

/** Runs `brook` with `argv` (as process.argv: node, script, args…); resolves with the exit status. */
export async function runCli(argv: string[]): Promise<number> {
  try {
    await createProgram().parseAsync(argv);
    // A command may end with a status of its own that is not a failure (check: 3 = damage found).
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and --version end with exit code 0; usage errors were printed by outputError.
      return err.exitCode === 0 ? 0 : 2;
    }
    const error = toBrookError(err);
    process.stderr.write(`${errorColors.red("error")} ${error.code}: ${error.message}\n`);
    return 1;
  }
}
