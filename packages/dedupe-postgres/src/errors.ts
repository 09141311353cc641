import { BrookError } from "@brook/core";

/** Node socket errors: the server is not reachable right now. */
const SOCKET_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "ENOTFOUND"]);

/**
 * node-postgres error → BrookError, the original kept as `cause`. Lost connections, a server
 * shutting down or starting up, and serialization failures/deadlocks are UNAVAILABLE
 * (retriable); lock and statement timeouts are TIMEOUT; a missing table names install().
 */
export function toPgBrookError(err: unknown, what: string): BrookError {
  if (err instanceof BrookError) return err;
  const e = err as { code?: string; message?: string } | undefined;
  const code = typeof e?.code === "string" ? e.code : "";
  const message = e?.message ?? String(err);
  const text = `${what}: ${message}`;
  const make = (c: ConstructorParameters<typeof BrookError>[0], retriable?: boolean): BrookError =>
    new BrookError(c, text, retriable === undefined ? { cause: err } : { cause: err, retriable });
  if (SOCKET_CODES.has(code)) return make("UNAVAILABLE");
  if (code.startsWith("08") || code === "57P01" || code === "57P02" || code === "57P03" || code === "25P03") return make("UNAVAILABLE");
  if (code === "40001" || code === "40P01") return make("UNAVAILABLE");
  if (code.startsWith("53")) return make("THROTTLED");
  if (code === "55P03" || code === "57014") return make("TIMEOUT");
  if (code.startsWith("28")) return make("UNAUTHENTICATED");
  if (code === "42501") return make("PERMISSION_DENIED");
  if (code === "42P01") return new BrookError("INVALID_ARGUMENT", `${text} (create the tables first: install())`, { cause: err });
  if (code === "" && /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect|Client was closed|Connection closed|terminating connection/i.test(message)) {
    return make("UNAVAILABLE");
  }
  return make("INTERNAL");
}

/** True when the error means the connection it came from cannot be used again. */
export function isConnectionLoss(err: unknown): boolean {
  const e = toPgBrookError(err, "");
  return e.code === "UNAVAILABLE" || e.code === "TIMEOUT";
}
