import { BrookError } from "@brook/core/base";
import { invalidArgument } from "@brook/core/base";

/** Options of `brook://host:port?…`; each has a URL query parameter of the same name. */
export interface BrookClientOptions {
  /** the server's token (`brook serve --token`); default: the URL's, else env BROOK_TOKEN */
  token?: string;
  /** TCP connect plus HELLO, per attempt (default 5000) */
  connectTimeoutMs?: number;
  /** per request; a FETCH gets its long-poll wait on top (default 30000) */
  requestTimeoutMs?: number;
  /** requests outstanding on the connection at most; the server's own limit also applies (default 1024) */
  maxInFlight?: number;
  /** reconnect attempts after a connection loss before requests fail for good (default: unlimited) */
  reconnectAttempts?: number;
}

export interface ParsedBrookUrl {
  host: string;
  port: number;
  options: BrookClientOptions;
}

export const DEFAULT_PORT = 7654;
const NUMERIC = ["connectTimeoutMs", "requestTimeoutMs", "maxInFlight", "reconnectAttempts"] as const;

/** Parses `brook://127.0.0.1:7654?token=…`; the port defaults to 7654. */
export function parseBrookUrl(url: string): ParsedBrookUrl {
  let parsed: URL;
  try {
    // WHATWG URL leaves a malformed escape (%zz, or bytes that are not UTF-8) as it is, or turns
    // it into U+FFFD: refuse it rather than send a token or connect to a host nobody wrote.
    decodeURIComponent(url);
    parsed = new URL(url);
  } catch {
    throw new BrookError("INVALID_URL", `url "${redactUrl(url)}": expected brook://host:port[?token=…] with well-formed percent-escapes (a literal % is written %25)`);
  }
  if (parsed.protocol !== "brook:" || parsed.hostname.length === 0 || parsed.hostname.includes("%") || (parsed.pathname !== "" && parsed.pathname !== "/")) {
    throw new BrookError("INVALID_URL", `url "${redactUrl(url)}": expected brook://host:port[?token=…]`);
  }
  if (parsed.username !== "" || parsed.password !== "") {
    throw new BrookError("INVALID_URL", `url "${redactUrl(url)}": credentials before the host are not used; pass the token as ?token=… or BROOK_TOKEN`);
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = parsed.port === "" ? DEFAULT_PORT : Number(parsed.port);
  const options: BrookClientOptions = {};
  for (const [name, value] of parsed.searchParams) {
    if (name === "token") {
      if (value.length === 0) throw new BrookError("INVALID_URL", `url "${redactUrl(url)}": token must not be empty`);
      options.token = value;
    } else if ((NUMERIC as readonly string[]).includes(name)) {
      const n = Number(value);
      if (!Number.isInteger(n) || n <= 0) throw new BrookError("INVALID_URL", `url "${redactUrl(url)}": ${name} must be a positive integer, got "${value}"`);
      options[name as (typeof NUMERIC)[number]] = n;
    } else {
      throw new BrookError("INVALID_URL", `url "${redactUrl(url)}": unknown parameter "${name}"; known: token, ${NUMERIC.join(", ")}`);
    }
  }
  return { host, port, options };
}

/** Typed options win over the URL's; the token falls back to env BROOK_TOKEN. */
export function mergeBrookOptions(fromUrl: BrookClientOptions, given: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): BrookClientOptions {
  const out: BrookClientOptions = { ...fromUrl };
  if (given.token !== undefined) {
    if (typeof given.token !== "string" || given.token.length === 0) throw invalidArgument("token", "a non-empty string");
    out.token = given.token;
  }
  for (const name of NUMERIC) {
    const v = given[name];
    if (v === undefined) continue;
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) throw invalidArgument(name, "a positive integer", v);
    out[name] = v;
  }
  if (out.token === undefined && typeof env.BROOK_TOKEN === "string" && env.BROOK_TOKEN.length > 0) out.token = env.BROOK_TOKEN;
  return out;
}

/** The URL with its token (and any user:password@) replaced, for messages and `broker.url`. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/gi, "$1redacted").replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#@]*@/i, "$1redacted@");
}
