/**
 * Every failure Brook reports is a BrookError with a stable `code` and whether retrying can help.
 * Adapters map SDK errors onto these codes and keep the original error as `cause`.
 */
export type BrookErrorCode =
  | "INVALID_ARGUMENT"
  | "INVALID_URL"
  | "TOPIC_NOT_FOUND"
  | "MESSAGE_TOO_LARGE"
  | "THROTTLED"
  | "UNAVAILABLE"
  | "UNAUTHENTICATED"
  | "PERMISSION_DENIED"
  | "TIMEOUT"
  | "CLOSED"
  | "CORRUPT_DATA"
  | "OUT_OF_RANGE"
  | "FENCED"
  | "ABORTED"
  | "UNSUPPORTED"
  | "ALREADY_EXISTS"
  | "INTERNAL";

/** Every code, so code that crosses a process boundary (a wire protocol) knows them all. */
const CODES: Record<BrookErrorCode, true> = {
  INVALID_ARGUMENT: true,
  INVALID_URL: true,
  TOPIC_NOT_FOUND: true,
  MESSAGE_TOO_LARGE: true,
  THROTTLED: true,
  UNAVAILABLE: true,
  UNAUTHENTICATED: true,
  PERMISSION_DENIED: true,
  TIMEOUT: true,
  CLOSED: true,
  CORRUPT_DATA: true,
  OUT_OF_RANGE: true,
  FENCED: true,
  ABORTED: true,
  UNSUPPORTED: true,
  ALREADY_EXISTS: true,
  INTERNAL: true,
};

export function isBrookErrorCode(code: unknown): code is BrookErrorCode {
  return typeof code === "string" && Object.hasOwn(CODES, code);
}

/** Codes for which a retry of the same call can succeed without the caller changing anything. */
const RETRIABLE_BY_DEFAULT: ReadonlySet<BrookErrorCode> = new Set<BrookErrorCode>([
  "THROTTLED",
  "UNAVAILABLE",
  "TIMEOUT",
]);

export interface BrookErrorOptions {
  retriable?: boolean;
  cause?: unknown;
}

export class BrookError extends Error {
  readonly code: BrookErrorCode;
  readonly retriable: boolean;

  constructor(code: BrookErrorCode, message: string, options: BrookErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "BrookError";
    this.code = code;
    this.retriable = options.retriable ?? RETRIABLE_BY_DEFAULT.has(code);
  }
}

/**
 * Thrown by a handler to say "retrying cannot help": the message goes to the dead-letter
 * destination at once instead of being retried.
 */
export class PermanentError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "PermanentError";
  }
}

export function isBrookError(err: unknown, code?: BrookErrorCode): err is BrookError {
  return err instanceof BrookError && (code === undefined || err.code === code);
}

/** `INVALID_ARGUMENT` naming the field, what was expected and what was given. */
export function invalidArgument(field: string, expected: string, got?: unknown): BrookError {
  const shown = got === undefined ? "" : `, got ${describeValue(got)}`;
  return new BrookError("INVALID_ARGUMENT", `${field}: expected ${expected}${shown}`);
}

export function closedError(what: string): BrookError {
  return new BrookError("CLOSED", `${what} is closed`);
}

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "string") return value.length > 60 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (value instanceof Uint8Array) return `${value.byteLength} bytes`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return typeof value;
}

/** Wraps anything thrown into a BrookError, keeping an existing one as is. */
export function toBrookError(err: unknown, fallback: BrookErrorCode = "INTERNAL"): BrookError {
  if (err instanceof BrookError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new BrookError(fallback, message, { cause: err });
}

/**
 * Waits for `promise` unless `signal` aborts first; then rejects with ABORTED (the signal's
 * reason as cause). The work behind the promise is not undone: the caller stopped waiting.
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(abortedError(signal, what));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortedError(signal, what));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

export function abortedError(signal: AbortSignal, what: string): BrookError {
  return new BrookError("ABORTED", `${what}: aborted by the caller's signal`, { cause: signal.reason });
}
