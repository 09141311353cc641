/**
 * Runs the patterns on BROOK_URL (default: the embedded memory broker):
 *   node examples/patterns/dist/main.js [ordering|fanout|all]
 * Prints what each saw and exits 1 when a check failed.
 */
import { connect } from "@brook/core";
import { burst } from "./fanout.js";
import { logLines, statistics, transactions } from "./ordering.js";
import type { Report } from "./util.js";

const url = process.env.BROOK_URL ?? "memory:";
const which = process.argv[2] ?? "all";
const patterns: Record<string, Array<(b: Awaited<ReturnType<typeof connect>>) => Promise<Report>>> = {
  ordering: [statistics, logLines, transactions],
  fanout: [burst],
};

async function main(): Promise<number> {
  const chosen = which === "all" ? Object.values(patterns).flat() : patterns[which];
  if (chosen === undefined) {
    console.error(`unknown pattern "${which}": ordering, fanout or all`);
    return 2;
  }
  const broker = await connect(url);
  let ok = true;
  try {
    for (const run of chosen) {
      const report = await run(broker);
      console.log(report.lines.join("\n  "));
      ok &&= report.ok;
    }
  } finally {
    await broker.close();
  }
  console.log(ok ? "patterns OK" : "patterns FAILED");
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? `${(err as { code?: string }).code ?? "ERROR"}: ${err.message}` : err);
    process.exit(1);
  },
);
