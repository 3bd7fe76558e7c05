import type { BackendError, ChatRequest, ChatResponse, ModelBackend } from "../backends/types.ts";
import { hasSecrets, redact } from "../util/redact.ts";
import { requestKey, type RequestCache } from "./cache.ts";
import type { ConcurrencyLimiter } from "./limiter.ts";
import { attemptOutcome, DEFAULT_RETRY_POLICY, retryAfterOverCapLine, withRetry, type RetryHooks, type RetryPolicy } from "./retry.ts";

export interface AskResult {
  response: ChatResponse;
  latencyMs: number;
  cached: boolean;
}

export interface AskCounters {
  sent: number;
  cacheHits: number;
  retries: number;
  failures: number;
}

export interface AskerOptions {
  backend: ModelBackend;
  /** Null disables the persistent cache (--no-cache). */
  cache: RequestCache | null;
  protocolVersion: string;
  retry?: RetryPolicy;
  /** Aborts every call in flight and every backoff wait. */
  signal?: AbortSignal;
  onRetry?: (error: BackendError, attempt: number, delayMs: number) => void;
  /** Hears one-time lines about the run's requests (a Retry-After past the cap); default stderr. */
  notice?: (line: string) => void;
  /** The adaptive concurrency gate every attempt passes (absent: --concurrency fixed:N, the callers' pools alone bound it). */
  limiter?: ConcurrencyLimiter;
}

/** Where the Asker's one-time lines go unless a stage names its log: the process's stderr, marked as the harness's. */
export function processNotice(line: string): void {
  process.stderr.write(`harness: ${line}\n`);
}

/**
 * The one road every model call takes, in eval and in distill: cache lookup, then the backend
 * with per-request timeout and retries, then the answer's cache write (shared with the answers of
 * the same event-loop turn), which has returned before the answer is handed back.
 */
export class Asker {
  readonly counters: AskCounters = { sent: 0, cacheHits: 0, retries: 0, failures: 0 };
  private identity: ReturnType<ModelBackend["identity"]> | undefined;
  private retryAfterNoticed = false;
  private busyNoticed = false;
  /** The same for every request: built once (per request, the object and its closures showed in distill's profile). */
  private readonly hooks: RetryHooks;
  constructor(private readonly options: AskerOptions) {
    const limiter = options.limiter;
    this.hooks = {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(limiter ? { admit: (signal?: AbortSignal) => limiter.acquire(signal) } : {}),
      onRetryAfterOverCap: (askedMs, capMs) => {
        if (this.retryAfterNoticed) return;
        this.retryAfterNoticed = true;
        (options.notice ?? processNotice)(retryAfterOverCapLine(askedMs, capMs));
      },
      onRetry: (error, attempt, delay) => {
        this.counters.retries += 1;
        this.noticeBusy(error);
        options.onRetry?.(error, attempt, delay);
      },
    };
  }

  /** The adaptive level for a progress line ("concurrency 12/64 (lowered: ...)"); undefined with a fixed level. */
  concurrencyStatus(): string | undefined {
    return this.options.limiter?.status();
  }

  /** Said once per run: the server pushed back and the level went down (stages without a progress line hear it too). */
  private noticeBusy(error: BackendError): void {
    const limiter = this.options.limiter;
    if (this.busyNoticed || limiter === undefined || attemptOutcome(error) !== "overload") return;
    this.busyNoticed = true;
    (this.options.notice ?? processNotice)(
      `the server is busy (${error.kind === "timeout" ? "a request timed out" : `HTTP ${error.status ?? 429}`}): requests in flight lowered to ${limiter.limit.level} of at most ${limiter.ceiling}; the level rises again as the server recovers (--concurrency fixed:N keeps it fixed)`,
    );
  }

  get backend(): ModelBackend {
    return this.options.backend;
  }

  keyOf(request: ChatRequest): string {
    this.identity ??= this.options.backend.identity();
    return requestKey(this.identity, request, this.options.protocolVersion);
  }

  /** `key`: the request's keyOf, when the caller has it already (hashing the messages is not free at thousands of requests a second). */
  async ask(request: ChatRequest, key?: string): Promise<AskResult> {
    const { backend, cache } = this.options;
    const useCache = cache !== null && backend.cacheable;
    const cacheKey = useCache ? (key ?? this.keyOf(request)) : "";
    if (useCache) {
      const hit = cache.get(cacheKey);
      if (hit) {
        this.counters.cacheHits += 1;
        return { response: hit.response, latencyMs: hit.latencyMs, cached: true };
      }
    }
    const started = performance.now();
    try {
      const answer = await withRetry(
        (attempt) => {
          this.counters.sent += 1;
          return backend.callApi(request, attempt);
        },
        this.options.retry ?? DEFAULT_RETRY_POLICY,
        this.hooks,
      );
      // A server may echo the key inside a good answer: it must not reach samples, caches or reports.
      const response = redactAnswer(answer);
      const latencyMs = Math.round(performance.now() - started);
      if (useCache) await cache.putBeforeUse(cacheKey, { response, latencyMs });
      return { response, latencyMs, cached: false };
    } catch (error) {
      this.counters.failures += 1;
      throw error;
    }
  }
}

/** The answer with every configured secret (and bearer token) removed from its text and tokens. */
export function redactAnswer(response: ChatResponse): ChatResponse {
  if (!hasSecrets() && !response.text.includes("Bearer") && !response.text.includes("@")) return response;
  const text = redact(response.text);
  const tokens = response.tokens?.map((t) => ({
    token: redact(t.token),
    logprob: t.logprob,
    top: t.top.map((alt) => ({ token: redact(alt.token), logprob: alt.logprob })),
  }));
  return { ...response, text, ...(tokens ? { tokens } : {}) };
}
