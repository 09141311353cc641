import { InvalidArgumentError } from "commander";

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A point in time on the command line: ISO 8601 (2026-01-31T12:00:00Z), milliseconds since the
 * epoch (1769860800000), or relative to now (-15m, -2h, -1d, -30s).
 */
export function parseTime(value: string, option: string, now: () => number = Date.now): Date {
  const relative = /^-(\d+(?:\.\d+)?)([smhd])$/.exec(value);
  if (relative !== null) return new Date(now() - Number(relative[1]) * UNIT_MS[relative[2]!]!);
  if (/^\d{10,}$/.test(value)) return new Date(Number(value));
  const time = new Date(value);
  if (/^\d/.test(value) && !Number.isNaN(time.getTime())) return time;
  throw new InvalidArgumentError(`${option} expects earliest, latest, an ISO time (2026-01-31T12:00:00Z), ms since the epoch or a relative time (-15m, -2h, -1d), got "${value}"`);
}
