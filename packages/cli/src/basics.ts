/**
 * Pieces shared by every command that load nothing else (no commander, no @brook/core barrel),
 * so the `brook serve` fast path (serve-fast.ts) can use them too.
 */
import type { Logger } from "@brook/core/base";

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

/** `value` as an integer from min to max, else undefined. */
export function integerIn(value: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const n = Number(value);
  return value.trim() === "" || !Number.isInteger(n) || n < min || n > max ? undefined : n;
}
