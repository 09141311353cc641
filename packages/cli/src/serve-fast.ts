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
import type { ServeOptions } from "./serve-run.js";

type Kind = "string" | "repeat" | { min: number; max?: number } | readonly string[];

/** Every option `brook serve` takes (serve.ts declares the same ones for commander), by flag. */
const OPTIONS: Readonly<Record<string, { key: keyof ServeOptions | "token" | "url" | "timeout"; kind: Kind }>> = {
  "--dir": { key: "dir", kind: "string" },
  "--fsync": { key: "fsync", kind: ["never", "interval", "always"] },
  "--port": { key: "port", kind: { min: 0, max: 65535 } },
  "--host": { key: "host", kind: "string" },
  "--session-timeout-ms": { key: "sessionTimeoutMs", kind: { min: 100 } },
  "--handshake-timeout-ms": { key: "handshakeTimeoutMs", kind: { min: 10, max: 3_600_000 } },
  "--max-connections": { key: "maxConnections", kind: { min: 1 } },
  "--kafka-port": { key: "kafkaPort", kind: { min: 0, max: 65535 } },
  "--push": { key: "push", kind: "repeat" },
  "--push-token": { key: "pushToken", kind: "string" },
  "--push-header": { key: "pushHeader", kind: "repeat" },
  "--push-timeout-ms": { key: "pushTimeoutMs", kind: { min: 1, max: 600_000 } },
  "--push-attempts": { key: "pushAttempts", kind: { min: 1, max: 1_000_000 } },
  "--push-min-delay-ms": { key: "pushMinDelayMs", kind: { min: 0 } },
  "--push-max-delay-ms": { key: "pushMaxDelayMs", kind: { min: 0 } },
  "--push-dead-letter": { key: "pushDeadLetter", kind: "string" },
  "--push-ordering": { key: "pushOrdering", kind: ["key", "partition", "none"] },
  "--push-max-in-flight": { key: "pushMaxInFlight", kind: { min: 1 } },
  // global options (createProgram): --url is for client commands, --timeout is checked only
  "--token": { key: "token", kind: "string" },
  "--url": { key: "url", kind: "string" },
  "--timeout": { key: "timeout", kind: { min: 1 } },
};

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
    const spec = Object.hasOwn(OPTIONS, flag) ? OPTIONS[flag] : undefined;
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
  const pushTokenFromEnv = serve.pushToken === undefined && env.BROOK_PUSH_TOKEN !== undefined;
  if (pushTokenFromEnv) serve.pushToken = env.BROOK_PUSH_TOKEN;
  const options = { port: 7654, host: "127.0.0.1", sessionTimeoutMs: 10_000, ...serve } as ServeOptions;
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
