#!/usr/bin/env node
/**
 * `brook`: serve the local broker (brook serve) and work with a broker from the shell:
 * topics, publish, tail, groups, bench; check and repair a local broker's data directory. Client commands take --url (default
 * brook://127.0.0.1:7654, or env BROOK_URL) and --token (or env BROOK_TOKEN). A failure
 * prints one line, `error CODE: message`, and exits with status 1 (2 for usage errors).
 */
import { Command, CommanderError } from "commander";
import { toBrookError } from "@brook/core/spi";
import "@brook/local-broker";
import { DEFAULT_URL } from "./client.js";
import { registerBench } from "./bench.js";
import { registerGroups } from "./groups.js";
import { registerMirror } from "./mirror.js";
import { registerPublish } from "./publish.js";
import { registerServe } from "./serve.js";
import { registerStorage } from "./storage.js";
import { registerTail } from "./tail.js";
import { registerTopics } from "./topics.js";

export const VERSION = "0.1.0";

export function buildProgram(): Command {
  const program = new Command("brook");
  program
    .description("Brook's local log broker and tools for any Brook broker URL")
    .version(VERSION)
    .option("--url <url>", "broker URL for client commands (env BROOK_URL)", process.env.BROOK_URL ?? DEFAULT_URL)
    .option("--token <token>", "server token; for serve, the token clients must send (env BROOK_TOKEN)")
    .configureOutput({
      // Commander's own errors (unknown option, missing argument) in Brook's one-line form.
      outputError: (message, write) => write(`error INVALID_ARGUMENT: ${message.replace(/^error:\s*/, "").trim()}\n`),
    })
    .exitOverride();
  registerServe(program);
  registerTopics(program);
  registerPublish(program);
  registerTail(program);
  registerGroups(program);
  registerBench(program);
  registerStorage(program);
  registerMirror(program);
  return program;
}

async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and --version end with exit code 0; usage errors were printed by outputError.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    const error = toBrookError(err);
    process.stderr.write(`error ${error.code}: ${error.message}\n`);
    process.exitCode = 1;
  }
}

await main(process.argv);
