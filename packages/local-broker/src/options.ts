import { BrookError } from "@brook/core/base";
import { invalidArgument } from "@brook/core/base";
import type { LocalBroker } from "./broker.js";
import type { BrookClientOptions } from "./client/options.js";

export type FsyncPolicy = "never" | "interval" | "always";

/** Options of `memory:` and `local:./dir`; each has a URL query parameter of the same name. */
export interface LocalBrokerOptions {
  /** durability of `local:` appends (default "interval") */
  fsync?: FsyncPolicy;
  fsyncIntervalMs?: number;
  /** how long a publish idempotency key is remembered (default 120000) */
  dedupeWindowMs?: number;
  /** largest message accepted (default 1 MiB) */
  maxMessageBytes?: number;
  /** segment file size before a new one starts (default 64 MiB) */
  segmentBytes?: number;
}

export interface ParsedLocalUrl {
  kind: "memory" | "local";
  /** memory: a shared name within the process ("" = private); local: the data directory */
  location: string;
  options: LocalBrokerOptions;
}

const NUMERIC = ["fsyncIntervalMs", "dedupeWindowMs", "maxMessageBytes", "segmentBytes"] as const;

/** Parses `memory:`, `memory:name`, `local:./dir`, `local:/abs/dir?fsync=always`. */
export function parseLocalUrl(url: string): ParsedLocalUrl {
  const match = /^(memory|local):([^?]*)(?:\?(.*))?$/i.exec(url);
  if (match === null) throw new BrookError("INVALID_URL", `url "${url}": expected memory:[name] or local:<directory>`);
  const kind = match[1]!.toLowerCase() as "memory" | "local";
  let location: string;
  try {
    location = decodeURIComponent(match[2] ?? "");
  } catch {
    throw new BrookError("INVALID_URL", `url "${url}": malformed percent-escape in "${match[2] ?? ""}" (a literal % is written %25)`);
  }
  if (kind === "local" && location.length === 0) {
    throw new BrookError("INVALID_URL", `url "${url}": local: needs a data directory, e.g. local:./data`);
  }
  const options: LocalBrokerOptions = {};
  const params = new URLSearchParams(match[3] ?? "");
  for (const [name, value] of params) {
    if (name === "fsync") {
      if (value !== "never" && value !== "interval" && value !== "always") {
        throw new BrookError("INVALID_URL", `url "${url}": fsync must be never, interval or always, got "${value}"`);
      }
      options.fsync = value;
    } else if ((NUMERIC as readonly string[]).includes(name)) {
      const n = Number(value);
      if (!Number.isFinite(n) || n <= 0) throw new BrookError("INVALID_URL", `url "${url}": ${name} must be a positive number, got "${value}"`);
      options[name as (typeof NUMERIC)[number]] = n;
    } else {
      throw new BrookError("INVALID_URL", `url "${url}": unknown parameter "${name}"; known: fsync, ${NUMERIC.join(", ")}`);
    }
  }
  return { kind, location, options };
}

/** Merges typed options over URL ones, checking their types. */
export function mergeOptions(fromUrl: LocalBrokerOptions, given: Record<string, unknown>): LocalBrokerOptions {
  const out: LocalBrokerOptions = { ...fromUrl };
  if (given.fsync !== undefined) {
    if (given.fsync !== "never" && given.fsync !== "interval" && given.fsync !== "always") throw invalidArgument("fsync", '"never", "interval" or "always"', given.fsync);
    out.fsync = given.fsync;
  }
  for (const name of NUMERIC) {
    const v = given[name];
    if (v === undefined) continue;
    if (typeof v !== "number" || !(v > 0)) throw invalidArgument(name, "a positive number", v);
    out[name] = v;
  }
  return out;
}

declare module "@brook/core" {
  interface ConnectOptionsByScheme {
    memory: LocalBrokerOptions;
    local: LocalBrokerOptions;
    brook: BrookClientOptions;
  }
  interface BrokersByScheme {
    memory: LocalBroker;
    local: LocalBroker;
    brook: LocalBroker;
  }
}
