import { randomUUID } from "node:crypto";
import type { Broker } from "@brook/core";

/** What an example found: `ok` when every check held; `lines` say what it saw. */
export interface Report {
  ok: boolean;
  lines: string[];
}

/** A fresh topic name per run, so runs on a shared server do not see each other's messages. */
export async function freshTopic(broker: Broker, base: string, partitions = 4): Promise<string> {
  const name = `${base}-${randomUUID().slice(0, 8)}`;
  await broker.admin.createTopic(name, { partitions });
  return name;
}

/** Waits until `done()` or `timeoutMs`; returns whether it got there. */
export async function until(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

export function check(report: Report, ok: boolean, line: string): void {
  report.lines.push(`${ok ? "ok  " : "FAIL"} ${line}`);
  if (!ok) report.ok = false;
}
