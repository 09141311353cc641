/**
 * The quickstart and the orders demo use fixed topic and group names ("orders", "billing"). On a
 * backend the root runner shares between test files (Kafka, Kinesis), two files running them at
 * once would meet in one consumer group, and each would consume the other's messages: the
 * quickstart waited for an order the demo's billing service had taken (a CI run: "not billed
 * within 30 s"). Runs of the examples on one backend take turns here, across jest workers.
 *
 * The turn is a directory under the OS temp dir named after the backend's address, holding the
 * holder's pid; a holder that died (its pid is gone) leaves a turn the next one takes over.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const WAIT_MS = 300_000;
const POLL_MS = 200;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The holder's pid, or undefined while the holder is still writing it (or wrote garbage). */
function holderOf(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dir, "pid"), "utf8"));
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Runs `fn` (synchronous: the examples run with spawnSync) while no other run of an example on `backend` does. */
export function takingTurns<T>(backend: string, fn: () => T): T {
  const dir = join(tmpdir(), `brook-example-turn-${createHash("sha256").update(backend).digest("hex").slice(0, 16)}`);
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, "pid"), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const pid = holderOf(dir);
    // A holder that died, or a directory left without a pid for long (killed between mkdir and write).
    let stale = pid !== undefined && !alive(pid);
    if (pid === undefined) {
      try {
        stale = Date.now() - statSync(dir).mtimeMs > 10_000;
      } catch {
        continue; // removed meanwhile: try again at once
      }
    }
    if (stale) {
      rmSync(dir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`waited ${WAIT_MS / 1000} s for another test's run of an example on ${backend} (pid ${pid}) to end`);
    sleepSync(POLL_MS);
  }
  try {
    return fn();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
