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
