/**
 * Single-process ownership of a data directory through `<dir>/LOCK` (FORMAT.md §6).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { BrookError } from "@brook/core/base";
import { isErrno, readFileIfExists, unlinkIfExists, writeFileSyncDurable } from "./file-io.js";

/** Real paths of the directories locked by stores of this process. */
const heldInThisProcess = new Set<string>();

interface LockOwner {
  pid: number;
  hostname: string;
  startedAt: string;
}

export class DirectoryLock {
  private released = false;

  private constructor(
    private readonly realDir: string,
    readonly file: string,
    private readonly content: Buffer,
  ) {}

  /** Takes `<dir>/LOCK` or throws BrookError UNAVAILABLE naming the directory and owner. */
  static acquire(dir: string): DirectoryLock {
    const realDir = fs.realpathSync(dir);
    if (heldInThisProcess.has(realDir)) {
      throw new BrookError(
        "UNAVAILABLE",
        `data directory ${dir} is already open by another store in this process (pid ${process.pid}); close that store first`,
      );
    }
    const file = path.join(realDir, "LOCK");
    const owner: LockOwner = { pid: process.pid, hostname: os.hostname(), startedAt: new Date().toISOString() };
    const content = Buffer.from(`${JSON.stringify(owner)}\n`, "utf8");
    removeDeadTempFiles(realDir);
    // The content is written to a temporary file first and hard-linked as LOCK: link() creates
    // LOCK only if it does not exist, and LOCK never exists without its content.
    const tmp = path.join(realDir, `LOCK.${process.pid}.tmp`);
    writeFileSyncDurable(tmp, content, true);
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          fs.linkSync(tmp, file);
        } catch (err) {
          if (!isErrno(err, "EEXIST")) throw err;
          const seen = readFileIfExists(file);
          if (seen === undefined) continue; // released meanwhile: try again
          const holder = parseOwner(seen);
          if (holder !== undefined && isLive(holder)) {
            throw new BrookError(
              "UNAVAILABLE",
              `data directory ${dir} is locked by pid ${holder.pid} on ${holder.hostname} (since ${holder.startedAt}); ` +
                `close that broker first — if no Brook process owns the directory, delete ${file}`,
            );
          }
          takeOverStale(file, seen); // dead owner, or content no Brook process writes
          continue;
        }
        heldInThisProcess.add(realDir);
        return new DirectoryLock(realDir, file, content);
      }
    } finally {
      unlinkIfExists(tmp);
    }
    throw new BrookError("UNAVAILABLE", `data directory ${dir}: could not take ${file}, other processes keep taking it`);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    heldInThisProcess.delete(this.realDir);
    const current = readFileIfExists(this.file);
    if (current !== undefined && current.equals(this.content)) unlinkIfExists(this.file);
  }
}

function parseOwner(buf: Buffer): LockOwner | undefined {
  try {
    const v = JSON.parse(buf.toString("utf8")) as Partial<LockOwner>;
    if (typeof v.pid !== "number" || typeof v.hostname !== "string") return undefined;
    return { pid: v.pid, hostname: v.hostname, startedAt: typeof v.startedAt === "string" ? v.startedAt : "?" };
  } catch {
    return undefined;
  }
}

function isLive(owner: LockOwner): boolean {
  // Another host's process cannot be checked from here: assume it is alive.
  if (owner.hostname !== os.hostname()) return true;
  // Our own pid but no store of ours holds it (checked by the caller): a previous process
  // that had the same pid, as happens across container restarts.
  if (owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (err) {
    return !isErrno(err, "ESRCH");
  }
}

/** `LOCK.<pid>.tmp` files left by processes that died while taking the lock. */
function removeDeadTempFiles(dir: string): void {
  for (const name of fs.readdirSync(dir)) {
    const m = /^LOCK\.(\d+)\.tmp$/.exec(name);
    if (m === null) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || !isLive({ pid, hostname: os.hostname(), startedAt: "" })) unlinkIfExists(path.join(dir, name));
  }
}

/**
 * Moves the stale LOCK aside under a unique name and checks that what moved is still the
 * stale content: if another process took the lock over in between, its fresh LOCK is put back.
 */
function takeOverStale(file: string, staleContent: Buffer): void {
  const aside = `${file}.stale-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    fs.renameSync(file, aside);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return;
    throw err;
  }
  const moved = readFileIfExists(aside);
  if (moved !== undefined && !moved.equals(staleContent)) {
    try {
      fs.linkSync(aside, file);
    } catch (err) {
      if (!isErrno(err, "EEXIST")) throw err;
    }
  }
  unlinkIfExists(aside);
}
