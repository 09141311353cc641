/** Injectable logger; Brook never writes to the console except through the default one. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const noop = (): void => undefined;

/** Warnings and errors to stderr, nothing else. */
export const defaultLogger: Logger = {
  debug: noop,
  info: noop,
  warn: (message, fields) => console.warn(`[brook] ${message}`, fields ?? ""),
  error: (message, fields) => console.error(`[brook] ${message}`, fields ?? ""),
};

export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

type LogFn = (...args: never[]) => void;

/** Any logger an application already has: Brook's own shape, `console`, or pino (and bunyan). */
export type LoggerLike = Logger | Console | { debug: LogFn; info: LogFn; warn: LogFn; error: LogFn };

/**
 * Adapts a logger to Brook's. pino and bunyan take (fields, message); console and Brook's own
 * take (message, fields). A pino-style logger is recognised by its `levels` table and `child()`.
 */
export function toLogger(input: LoggerLike | undefined): Logger | undefined {
  if (input === undefined) return undefined;
  const candidate = input as unknown as Record<string, unknown>;
  const pinoStyle = typeof candidate.child === "function" && typeof candidate.levels === "object" && candidate.levels !== null;
  if (!pinoStyle) return input as Logger;
  const target = input as unknown as Record<"debug" | "info" | "warn" | "error", (fields: object, message: string) => void>;
  const level = (name: "debug" | "info" | "warn" | "error") => (message: string, fields?: Record<string, unknown>) => target[name].call(target, fields ?? {}, message);
  return { debug: level("debug"), info: level("info"), warn: level("warn"), error: level("error") };
}
