import { BrookError } from "@brook/core";

/** Redis error replies whose retry can succeed once the server is back (or has loaded its data). */
const TRANSIENT_REPLIES = ["LOADING", "READONLY", "MASTERDOWN", "TRYAGAIN", "BUSY", "CLUSTERDOWN", "NOREPLICAS"];
/** Socket errors that mean "the server is not reachable right now". */
const SOCKET_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "ENOTFOUND"]);

/**
 * ioredis error → BrookError, the original kept as `cause`. A server that is down, restarting
 * or loading its append-only file is UNAVAILABLE (retriable); a command over its timeout is
 * TIMEOUT; authentication and ACL refusals are not retriable.
 */
export function toRedisBrookError(err: unknown, what: string): BrookError {
  if (err instanceof BrookError) return err;
  const e = err as { name?: string; message?: string; code?: string } | undefined;
  const message = e?.message ?? String(err);
  const text = `${what}: ${message}`;
  if (e?.name === "MaxRetriesPerRequestError" || (e?.code !== undefined && SOCKET_CODES.has(e.code))) return new BrookError("UNAVAILABLE", text, { cause: err });
  if (/Connection is closed|Stream isn't writeable|enableOfflineQueue|Socket closed|Connection closed/i.test(message)) return new BrookError("UNAVAILABLE", text, { cause: err });
  if (/Command timed out/i.test(message)) return new BrookError("TIMEOUT", text, { cause: err });
  const reply = message.split(" ")[0] ?? "";
  if (TRANSIENT_REPLIES.includes(reply)) return new BrookError("UNAVAILABLE", text, { cause: err });
  if (reply === "NOAUTH" || reply === "WRONGPASS") return new BrookError("UNAUTHENTICATED", text, { cause: err });
  if (reply === "NOPERM") return new BrookError("PERMISSION_DENIED", text, { cause: err });
  return new BrookError("INTERNAL", text, { cause: err });
}
