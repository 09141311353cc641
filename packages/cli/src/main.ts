#!/usr/bin/env node
/**
 * The `brook` bin. It runs only as the program's entry point (node dist/main.js, or the
 * node_modules/.bin/brook link npm and pnpm make to it), never when imported.
 */
import { realpathSync } from "node:fs";
import nodeModule from "node:module";
import { fileURLToPath } from "node:url";

/** How long the process may linger after the command ended (a driver's stray timer) before it exits anyway. */
const EXIT_GRACE_MS = 2_000;

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  const self = realpathSync(fileURLToPath(import.meta.url));
  for (const candidate of [script, `${script}.js`]) {
    try {
      if (realpathSync(candidate) === self) return true;
    } catch {
      // not this candidate
    }
  }
  return false;
}

/**
 * Node's warnings, except TimeoutNegativeWarning: KafkaJS 2.2.4 sets negative timers, which
 * Node 24 reports on every run (and clamps to 1 ms, which is what KafkaJS meant).
 */
function printWarnings(): void {
  process.removeAllListeners("warning");
  process.on("warning", (warning) => {
    if (warning.name === "TimeoutNegativeWarning" && process.env.BROOK_DEBUG !== "1") return;
    process.stderr.write(`(node:${process.pid}) ${warning.name}: ${warning.message}\n`);
  });
}

if (isEntryPoint()) {
  // Node ≥ 22.1 keeps V8's compiled code of the modules loaded next in a disk cache (os.tmpdir(),
  // NODE_DISABLE_COMPILE_CACHE=1 turns it off): later starts skip parsing and compiling them.
  // Everything but node:fs and node:url is imported below, after this. Node 20 has no such cache.
  (nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();
  printWarnings();
  // `brook serve …` starts without commander and the other commands when serve-fast.ts takes
  // its arguments; anything else (and any serve invocation it does not take) runs the program.
  const fast = process.argv[2] === "serve" ? await (await import("./serve-fast.js")).serveFast(process.argv.slice(3)) : undefined;
  const status = fast ?? (await (await import("./cli.js")).runCli(process.argv));
  process.exitCode = status;
  // A failure may leave a connection attempt behind (a timed-out connect): exit now. After
  // success, exit once the event loop is idle; should a client library keep a handle open,
  // exit anyway after a grace period.
  if (status !== 0) process.exit(status);
  setTimeout(() => process.exit(status), EXIT_GRACE_MS).unref();
}
