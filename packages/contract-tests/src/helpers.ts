import { randomBytes } from "node:crypto";

/** A topic name no other test (or earlier run against the same server) uses. */
export function uniqueTopic(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
}

/** Polls `condition` until true or until `timeoutMs`; then fails naming `what`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, delay));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A promise with its resolve function, for handlers that wait on the test. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/**
 * Resolves once the members' assignments have not changed for `quietMs` (a group whose
 * balancing moves one partition at a time may still be moving after every member owns some).
 */
export async function settledAssignments(members: { assignment(): string[] }[], timeoutMs: number, quietMs = 1_500): Promise<void> {
  const snapshot = (): string => JSON.stringify(members.map((m) => [...m.assignment()].sort()));
  const deadline = Date.now() + timeoutMs;
  let last = snapshot();
  let since = Date.now();
  while (Date.now() - since < quietMs) {
    if (Date.now() > deadline) throw new Error(`assignments still moving after ${timeoutMs} ms: ${last}`);
    await sleep(50);
    const now = snapshot();
    if (now !== last) {
      last = now;
      since = Date.now();
    }
  }
}
