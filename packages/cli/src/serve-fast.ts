/**
 * `brook serve` without commander: the bin (main.ts) tries this first for `brook serve …`, so a
 * server starts without loading commander, the other commands and the client side (start-up
 * time counts for a server that tests and scripts start again and again).
 *
 * It accepts only plain, valid invocations: the serve options and the global --token, --url and
 * --timeout, each as `--name value` or `--name=value`, values that do not start with "-" and
 * pass the same checks commander applies. Anything else (help, an unknown or repeated option, a
 * bad value) returns undefined and the bin runs the full program, which prints help or the usual
 * one-line error: the fast path never has messages of its own for usage errors.
 */
import { integerIn } from "./basics.js";
import { SERVE_OPTIONS, type ServeOptionKind } from "./serve-options.js";
import type { ServeOptions } from "./serve-run.js";

/** The serve options (serve-options.ts, as commander has them) and the global --token, --url and --timeout, by flag. */
type Parsed = { key: keyof ServeOptions | "token" | "url" | "timeout"; kind: ServeOptionKind };
const OPTIONS = new Map<string, Parsed>([
  ...SERVE_OPTIONS.map((o): [string, Parsed] => [o.flag, { key: o.key, kind: o.kind }]),
  // global options (createProgram): --url is for client commands, --timeout is checked only
  ["--token", { key: "token", kind: "string" }],
  ["--url", { key: "url", kind: "string" }],
  ["--timeout", { key: "timeout", kind: { min: 1 } }],
]);

/** Defaults and environment variables of the serve options, as commander applies them. */
const DEFAULTS = Object.fromEntries(SERVE_OPTIONS.filter((o) => o.default !== undefined).map((o) => [o.key, o.default]));
const FROM_ENV = SERVE_OPTIONS.filter((o) => o.env !== undefined);

export interface ParsedServe {
  options: ServeOptions;
  token: string | undefined;
  pushTokenFromEnv: boolean;
}

/**
 * The arguments after `serve` → serve's options (with serve.ts's defaults and the BROOK_TOKEN /
 * BROOK_PUSH_TOKEN environment variables), or undefined when commander should parse them.
 */
export function parseServeArgs(args: readonly string[], env: NodeJS.ProcessEnv = process.env): ParsedServe | undefined {
  const values: Record<string, unknown> = {};
  const seen = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.indexOf("=");
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    const spec = OPTIONS.get(flag);
    if (spec === undefined) return undefined;
    const value = eq < 0 ? args[++i] : arg.slice(eq + 1);
    if (value === undefined || value.startsWith("-")) return undefined;
    const { key, kind } = spec;
    if (kind === "repeat") {
      values[key] = [...((values[key] as string[] | undefined) ?? []), value];
      continue;
    }
    if (seen.has(key)) return undefined;
    seen.add(key);
    if (kind === "string") values[key] = value;
    else if (Array.isArray(kind)) {
      if (!kind.includes(value)) return undefined;
      values[key] = value;
    } else {
      const { min, max } = kind as { min: number; max?: number };
      const n = integerIn(value, min, max);
      if (n === undefined) return undefined;
      values[key] = n;
    }
  }
  const { token, url: _url, timeout: _timeout, ...serve } = values;
  let pushTokenFromEnv = false;
  for (const o of FROM_ENV) {
    if (serve[o.key] !== undefined || env[o.env!] === undefined) continue;
    serve[o.key] = env[o.env!];
    if (o.key === "pushToken") pushTokenFromEnv = true;
  }
  const options = { ...DEFAULTS, ...serve } as unknown as ServeOptions;
  return { options, token: (token as string | undefined) ?? env.BROOK_TOKEN, pushTokenFromEnv };
}

/**
 * Runs `brook serve` from the arguments after `serve` when the fast path takes them; resolves with
 * the exit status, or undefined when the full program must run instead.
 */
export async function serveFast(args: readonly string[]): Promise<number | undefined> {
  const parsed = parseServeArgs(args);
  if (parsed === undefined) return undefined;
  try {
    const { runServe } = await import("./serve-run.js");
    await runServe(parsed.options, parsed.token, parsed.pushTokenFromEnv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    // the same one-line form as runCli (cli.ts); loaded only on failure
    const [{ toBrookError }, { errorColors }] = await Promise.all([import("@brook/core/base"), import("./output.js")]);
    const error = toBrookError(err);
    process.stderr.write(`${errorColors.red("error")} ${error.code}: ${error.message}\n`);
    return 1;
  }
}
