import pRetry from "p-retry";
import { invalidArgument } from "./errors.js";
import type { RetryOptions } from "./contract.js";

export interface RetryPolicy {
  maxAttempts: number;
  minDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, minDelayMs: 100, maxDelayMs: 30_000 };

export function resolveRetryPolicy(options: RetryOptions | undefined, field = "retry"): RetryPolicy {
  const policy = { ...DEFAULT_RETRY, ...stripUndefined(options ?? {}) };
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) {
    throw invalidArgument(`${field}.maxAttempts`, "an integer >= 1", policy.maxAttempts);
  }
  if (!(policy.minDelayMs >= 0)) throw invalidArgument(`${field}.minDelayMs`, "a number >= 0", policy.minDelayMs);
  if (!(policy.maxDelayMs >= policy.minDelayMs)) {
    throw invalidArgument(`${field}.maxDelayMs`, `a number >= minDelayMs (${policy.minDelayMs})`, policy.maxDelayMs);
  }
  return policy;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Carries whatever a task threw through p-retry, which would not retry a TypeError or a non-Error. */
class AttemptFailure extends Error {
  constructor(readonly original: unknown) {
    super("attempt failed");
  }
}

export interface RetryRunOptions {
  /** whether this failure may be retried (e.g. not a PermanentError) */
  shouldRetry?: (error: unknown) => boolean;
  onFailedAttempt?: (error: unknown, attempt: number) => void;
  signal?: AbortSignal;
}

/**
 * Runs `task(attempt)` until it succeeds, the policy's attempts are used up, `shouldRetry`
 * says no, or the signal aborts; waits between attempts follow p-retry's exponential
 * schedule with jitter. Rejects with what the last attempt threw.
 */
export async function runWithRetry<R>(
  policy: RetryPolicy,
  task: (attempt: number) => Promise<R>,
  options: RetryRunOptions = {},
): Promise<R> {
  try {
    return await pRetry(
      async (attempt) => {
        try {
          return await task(attempt);
        } catch (err) {
          throw new AttemptFailure(err);
        }
      },
      {
        retries: policy.maxAttempts - 1,
        minTimeout: policy.minDelayMs,
        maxTimeout: policy.maxDelayMs,
        factor: 2,
        randomize: true,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        onFailedAttempt: ({ error, attemptNumber }) => {
          options.onFailedAttempt?.(unwrap(error), attemptNumber);
        },
        shouldRetry: ({ error }) => options.shouldRetry?.(unwrap(error)) ?? true,
      },
    );
  } catch (err) {
    throw unwrap(err);
  }
}

function unwrap(err: unknown): unknown {
  return err instanceof AttemptFailure ? err.original : err;
}
