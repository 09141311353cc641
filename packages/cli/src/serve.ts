import { InvalidArgumentError, Option, type Command } from "commander";
import { integer, type GlobalOptions } from "./client.js";
import { oneOfMessage, SERVE_OPTIONS, type ServeOptionSpec } from "./serve-options.js";
import { runServe, type ServeOptions } from "./serve-run.js";

export { pushConfigs } from "./serve-run.js";

/** A repeatable option (no default, so --help shows none). */
const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** The commander option of one row of SERVE_OPTIONS (the fast path reads the same row). */
function toOption(spec: ServeOptionSpec): Option {
  const option = new Option(`${spec.flag} <${spec.value}>`, spec.description);
  const { kind } = spec;
  if (kind === "repeat") option.argParser(collect);
  else if (Array.isArray(kind)) {
    const words = kind as readonly string[];
    option.argParser((value: string) => {
      if (!words.includes(value)) throw new InvalidArgumentError(oneOfMessage(spec.flag, words));
      return value;
    });
  } else if (kind !== "string") {
    const { min, max } = kind as { min: number; max?: number };
    option.argParser(integer(spec.flag, min, max));
  }
  if (spec.default !== undefined) option.default(spec.default);
  if (spec.env !== undefined) option.env(spec.env);
  return option;
}

export function registerServe(program: Command): void {
  const serve = program
    .command("serve")
    .description("run the local broker as a server (brook://host:port); --token (or BROOK_TOKEN) makes clients authenticate");
  for (const spec of SERVE_OPTIONS) serve.addOption(toOption(spec));
  serve.action(async (options: ServeOptions, command: Command) => {
    const token = command.optsWithGlobals<GlobalOptions>().token ?? process.env.BROOK_TOKEN;
    await runServe(options, token, command.getOptionValueSource("pushToken") === "env");
  });
}
