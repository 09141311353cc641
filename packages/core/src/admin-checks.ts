import { BrookError, invalidArgument } from "./errors.js";

/** Admin.copyGroupPositions' group arguments: two different, non-empty group names. */
export function checkGroupCopy(from: unknown, to: unknown): void {
  if (typeof from !== "string" || from.length === 0) throw invalidArgument("from", "a group name (non-empty string)", from);
  if (typeof to !== "string" || to.length === 0) throw invalidArgument("to", "a group name (non-empty string)", to);
  if (from === to) throw new BrookError("INVALID_ARGUMENT", `to: the same group as from ("${from}")`);
}
