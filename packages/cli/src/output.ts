/**
 * What the CLI prints: tables for people, JSON for scripts, colour only on a terminal (never
 * with NO_COLOR), and a stdout that may close early (`brook tail … | head`).
 */
import { createRequire } from "node:module";
import type TableClass from "cli-table3";
import pc from "picocolors";
import { InvalidArgumentError } from "commander";

/** Colour on a terminal unless NO_COLOR is set (https://no-color.org); FORCE_COLOR forces it. */
export function colorEnabled(stream: NodeJS.WriteStream = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "" && env.FORCE_COLOR !== "0") return true;
  return stream.isTTY === true && env.TERM !== "dumb";
}

/** Colours for stdout and stderr, decided once per stream. */
export const colors = pc.createColors(colorEnabled(process.stdout));
export const errorColors = pc.createColors(colorEnabled(process.stderr));

export type ListingFormat = "text" | "json";

/** Commander parser for `--output text|json` of the listing commands. */
export function listingFormat(value: string): ListingFormat {
  if (value !== "text" && value !== "json") throw new InvalidArgumentError(`--output must be text or json, got "${value}"`);
  return value;
}

/**
 * Aligned columns without borders (one row per line, so `grep` and `awk` work), the header
 * bold on a terminal. Cells are strings; "-" stands for "unknown".
 */
export function table(head: string[], rows: string[][]): string {
  // Loaded on first use: `brook serve` (whose start-up time counts) never prints a table.
  const Table = createRequire(import.meta.url)("cli-table3") as typeof TableClass;
  const t = new Table({
    head: head.map((h) => colors.bold(h)),
    chars: {
      top: "", "top-mid": "", "top-left": "", "top-right": "",
      bottom: "", "bottom-mid": "", "bottom-left": "", "bottom-right": "",
      left: "", "left-mid": "", mid: "", "mid-mid": "", right: "", "right-mid": "", middle: "  ",
    },
    style: { "padding-left": 0, "padding-right": 0, head: [], border: [], compact: true },
  });
  t.push(...rows);
  return t
    .toString()
    .split("\n")
    .map((line) => line.trimEnd())
    .join("\n");
}

/**
 * stdout that may go away: once the reader closes the pipe (EPIPE), `closed` aborts, writes
 * are dropped, and the command winds down and exits 0, as `| head` expects.
 */
export class Stdout {
  private readonly controller = new AbortController();

  constructor(private readonly stream: NodeJS.WriteStream = process.stdout) {
    stream.on("error", this.onError);
  }

  /** aborts when the reader has gone */
  get closed(): AbortSignal {
    return this.controller.signal;
  }

  /** Writes; resolves when the stream can take more (back-pressure), at once after EPIPE. */
  write(text: string): Promise<void> | undefined {
    if (this.controller.signal.aborted) return undefined;
    if (this.stream.write(text)) return undefined;
    return new Promise((resolve) => {
      const done = (): void => {
        this.stream.off("drain", done);
        this.controller.signal.removeEventListener("abort", done);
        resolve();
      };
      this.stream.once("drain", done);
      this.controller.signal.addEventListener("abort", done, { once: true });
    });
  }

  private readonly onError = (err: NodeJS.ErrnoException): void => {
    // EPIPE: the reader closed the pipe. Anything else is as final for output.
    this.controller.abort(err);
  };
}

let shared: Stdout | undefined;

/** The process's stdout as a Stdout, made on first use (importing the library attaches nothing). */
export function stdout(): Stdout {
  shared ??= new Stdout();
  return shared;
}
