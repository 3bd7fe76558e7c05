import { setTimeout as sleep } from "node:timers/promises";
import { Attempt } from "../backends/attempt.ts";
import { BackendError, type CallContext } from "../backends/types.ts";
import type { AttemptOutcome, Permit } from "./limiter.ts";

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Per attempt; a request that takes longer is aborted and retried. */
  timeoutMs: number;
  /** The longest Retry-After the harness will honour before it treats the server as down. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 8,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  timeoutMs: 120_000,
  maxRetryAfterMs: 120_000,
};

/** The default policy with a stage's --retries (attempts = retries + 1) and, if given, its per-request timeout. */
export function retryPolicy(settings: { retries: number; timeoutMs?: number }): RetryPolicy {
  return {
    ...DEFAULT_RETRY_POLICY,
    maxAttempts: settings.retries + 1,
    ...(settings.timeoutMs !== undefined ? { timeoutMs: Math.round(settings.timeoutMs) } : {}),
  };
}

/**
 * Exponential backoff with full jitter; a Retry-After from the server is a floor on the wait.
 * Pure, so a test can check the schedule without sleeping.
 */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number, retryAfterMs?: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  const jittered = random() * ceiling;
  if (retryAfterMs === undefined) return jittered;
  return Math.min(Math.max(retryAfterMs, jittered), policy.maxRetryAfterMs);
}

const seconds = (ms: number): string => `${Math.round(ms / 1000)} s`;

/**
 * A Retry-After past the cap means the server expects to be away longer than the harness will
 * wait: the call fails now (not retried) instead of stalling silently, and a rerun resumes.
 */
export function overCapError(error: BackendError, capMs: number): BackendError {
  return new BackendError(
    "other",
    `${error.message} (the server asked to wait ${seconds(error.retryAfterMs ?? 0)} before retrying, more than the ${seconds(capMs)} the harness waits)`,
    { ...(error.status === undefined ? {} : { status: error.status }), cause: error },
  );
}

/** The one line said when a server first asks to wait past the cap. */
export function retryAfterOverCapLine(askedMs: number, capMs: number): string {
  return `the server asked to wait ${seconds(askedMs)} before retrying (Retry-After), more than the ${seconds(capMs)} the harness waits: those requests fail now instead of waiting; rerun the same command later to resume from the cache`;
}

/** The attempts in flight under each run signal: one abort listener per run, not one per attempt. */
const attemptsByRun = new WeakMap<AbortSignal, Set<Attempt>>();

function linkToRun(run: AbortSignal, attempt: Attempt): () => void {
  let attempts = attemptsByRun.get(run);
  if (!attempts) {
    const set = new Set<Attempt>();
    attempts = set;
    attemptsByRun.set(run, set);
    run.addEventListener(
      "abort",
      () => {
        for (const a of set) a.abort(run.reason);
      },
      { once: true },
    );
  }
  if (run.aborted) attempt.abort(run.reason);
  attempts.add(attempt);
  const set = attempts;
  return () => set.delete(attempt);
}

export interface RetryHooks {
  onRetry?: (error: BackendError, attempt: number, delayMs: number) => void;
  /** A server asked to wait longer than policy.maxRetryAfterMs: the call fails now instead (see overCapError). */
  onRetryAfterOverCap?: (askedMs: number, capMs: number) => void;
  /** Aborts waits and the attempt in flight (Ctrl-C, or a fatal error elsewhere in the run). */
  signal?: AbortSignal;
  random?: () => number;
  /**
   * The adaptive concurrency gate (limiter.ts): each attempt waits for a permit before its timer
   * starts and ends it with how it went, so waiting in the gate is never a timeout and a backoff
   * wait holds no place.
   */
  admit?: (signal?: AbortSignal) => Permit | Promise<Permit>;
}

/** What an attempt's error says of the server's load: 429, 503 and timeouts mean "too much". */
export function attemptOutcome(error: BackendError): AttemptOutcome {
  return error.kind === "rate-limit" || error.kind === "timeout" || error.status === 503 ? "overload" : "other";
}

/**
 * Runs one call with a per-attempt timeout, retrying rate limits, 5xx, network errors and
 * timeouts. Other failures (a rejected key, a bad request) are thrown at once.
 */
export async function withRetry<T>(call: (attempt: CallContext) => Promise<T>, policy: RetryPolicy, hooks: RetryHooks = {}): Promise<T> {
  const random = hooks.random ?? Math.random;
  for (let attempt = 0; ; attempt++) {
    hooks.signal?.throwIfAborted();
    // No await when a place is free: a resolved promise per attempt shows at thousands a second.
    let permit = hooks.admit?.(hooks.signal);
    if (permit instanceof Promise) permit = await permit;
    // One Attempt and one timer per attempt: an AbortController per attempt (let alone
    // AbortSignal.timeout/any) costs several times more, which shows at thousands of requests a second.
    const current = new Attempt();
    const timer = setTimeout(() => current.abort(new BackendError("timeout", `no answer within ${policy.timeoutMs} ms`)), policy.timeoutMs);
    const unlink = hooks.signal ? linkToRun(hooks.signal, current) : undefined;
    try {
      const result = await call(current);
      permit?.end("ok");
      return result;
    } catch (raw) {
      hooks.signal?.throwIfAborted();
      // The run is not aborted, so an aborted attempt is our timer: a timeout, whatever the
      // backend made of the abort.
      const error = current.aborted
        ? new BackendError("timeout", `no answer within ${policy.timeoutMs} ms`, { cause: raw })
        : raw instanceof BackendError
          ? raw
          : new BackendError("other", raw instanceof Error ? raw.message : String(raw), { cause: raw });
      permit?.end(attemptOutcome(error));
      if (error.retryable && error.retryAfterMs !== undefined && error.retryAfterMs > policy.maxRetryAfterMs) {
        hooks.onRetryAfterOverCap?.(error.retryAfterMs, policy.maxRetryAfterMs);
        const final = overCapError(error, policy.maxRetryAfterMs);
        final.attempts = attempt + 1;
        throw final;
      }
      if (!error.retryable || attempt + 1 >= policy.maxAttempts) {
        error.attempts = attempt + 1;
        throw error;
      }
      const delay = backoffDelay(attempt, policy, random, error.retryAfterMs);
      hooks.onRetry?.(error, attempt + 1, delay);
      await sleep(delay, undefined, hooks.signal ? { signal: hooks.signal } : undefined);
    } finally {
      // An attempt ended by Ctrl-C (or thrown before it was read) says nothing of the server.
      permit?.end("other");
      clearTimeout(timer);
      unlink?.();
    }
  }
}
