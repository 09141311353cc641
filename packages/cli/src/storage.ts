import { BrookError } from "@brook/core";
import type { CheckReport, CheckOptions } from "@brook/local-broker/engine";

/** Loaded when a storage command runs, not at every command's start. */
async function check(dir: string, options: CheckOptions): Promise<{ report: CheckReport; lines: string[] }> {
  const { checkDirectory, formatCheckReport } = await import("@brook/local-broker/engine");
  const report = await checkDirectory(dir, options);
  return { report, lines: formatCheckReport(report) };
}
import type { Command } from "commander";

/** What opening the directory logs goes to stderr, with its fields (file, offsets, reason). */
const storageLogger = {
  warn: (message: string, fields?: Record<string, unknown>) => process.stderr.write(`warning: ${message}${fields === undefined ? "" : ` ${JSON.stringify(fields)}`}\n`),
  error: (message: string, fields?: Record<string, unknown>) => process.stderr.write(`error: ${message}${fields === undefined ? "" : ` ${JSON.stringify(fields)}`}\n`),
};

function needDir(dir: string | undefined, command: string): string {
  if (dir === undefined || dir.length === 0) throw new BrookError("INVALID_ARGUMENT", `${command}: --dir: expected the data directory of a local broker`);
  return dir;
}

/**
 * `brook check --dir D` and `brook repair --dir D [--skip-damaged]` (FORMAT.md §9). Both take
 * the directory's lock, so the broker that owns it must be stopped. Exit status 3 when a
 * damaged range is left.
 */
export function registerStorage(program: Command): void {
  program
    .command("check")
    .description("CRC-scan a local broker data directory; one line per damaged, torn or skipped range (exit 3 when damaged)")
    .option("--dir <path>", "data directory (the broker that owns it must be stopped)")
    .action(async (options: { dir?: string }) => {
      const { report, lines } = await check(needDir(options.dir, "check"), { logger: storageLogger });
      for (const line of lines) process.stdout.write(`${line}\n`);
      if (report.damaged > 0) process.exitCode = 3;
    });

  program
    .command("repair")
    .description("recover a local broker data directory as opening would, then check it; --skip-damaged skips each damaged range explicitly (logged)")
    .option("--dir <path>", "data directory (the broker that owns it must be stopped)")
    .option("--skip-damaged", "record every damaged range as skipped so readers move past it")
    .action(async (options: { dir?: string; skipDamaged?: boolean }) => {
      const dir = needDir(options.dir, "repair");
      const { report, lines } = await check(dir, { logger: storageLogger, skipDamaged: options.skipDamaged === true });
      for (const line of lines) process.stdout.write(`${line}\n`);
      if (report.damaged > 0) process.exitCode = 3;
    });
}
