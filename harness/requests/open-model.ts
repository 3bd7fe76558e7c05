/**
 * The one road from a stage to a model: the registry builds the backend, its preflight runs under
 * a timeout, the request cache opens under the cache root for the backend's identity, and every
 * call goes through the Asker's retries and timeouts. Embeddings take the same road (openEmbedder),
 * cached per text. Stages call these; none builds a backend or opens a cache by hand.
 */
import { backendSpecOf, createBackend, createEmbeddingBackend, type BackendSpec } from "../backends/registry.ts";
import {
  isFatalError,
  PREFLIGHT_TIMEOUT_MS,
  refusedRunError,
  type BackendIdentity,
  type EmbeddingBackend,
  type ModelBackend,
} from "../backends/types.ts";
import { CACHE_DIR_LABEL, cacheRoot, requestCacheDir } from "../util/cache-root.ts";
import { checkWritableDir } from "../util/paths.ts";
import type { ConcurrencySetting } from "../util/request-flags.ts";
import { Asker, type AskCounters } from "./ask.ts";
import { embeddingKey, RequestCache } from "./cache.ts";
import { concurrencyLimiter, type ConcurrencyLimiter } from "./limiter.ts";
import { retryAfterOverCapLine, retryPolicy, withRetry, type RetryPolicy } from "./retry.ts";

/** What a stage's config supplies to open a model. */
export interface ModelRequestSettings {
  /** "openai:<model>", "hf:<model>", "classifier:<model>", "baseline:random", ... or a parsed spec. */
  model: string | BackendSpec;
  /** One server, or several asked as one pool. */
  baseUrls?: readonly string[];
  apiKeyEnv?: string;
  provider?: string;
  adapter?: string;
  servedFrom?: string;
  /** For the baselines (eval). */
  seed?: number;
  scoredGolds?: () => Iterable<string>;
  /** The cache identity instead of the backend's own (distill: the model name only, shared by every server and batch engine). */
  identity?: BackendIdentity;
  /** The cache root (--cache-dir); undefined: the default root. */
  cacheDir?: string;
  /** false: --no-cache (default true). */
  cache?: boolean;
  protocolVersion: string;
  retries: number;
  /** Per attempt. */
  timeoutMs: number;
  /** How long the preflight may take (default PREFLIGHT_TIMEOUT_MS). */
  preflightTimeoutMs?: number;
  /** false: no preflight (a backend opened again for another task of a run already checked). */
  preflight?: boolean;
  signal: AbortSignal;
  log: (line: string) => void;
  /** Hears the Asker's one-time lines about the run's requests (a Retry-After past the cap); default `log`. */
  notice?: (line: string) => void;
  /**
   * The stage's --concurrency: adaptive puts the Asker's attempts behind a gate of their own that
   * finds the level the server sustains (limiter.ts); fixed (or absent) leaves the bound to the
   * stage's pools, as before.
   */
  concurrency?: ConcurrencySetting;
  /** A gate shared by several openModel calls (eval: one model's tasks); takes the place of `concurrency`. */
  limiter?: ConcurrencyLimiter;
}

export interface OpenedModel {
  backend: ModelBackend;
  asker: Asker;
  /** Null with cache: false, or for a backend whose answers are not worth caching (baselines). */
  cache: RequestCache | null;
}

/**
 * Builds the backend from the registry, runs its preflight (with the timeout, under the signal),
 * opens the request cache for the backend's identity, and wraps it in an Asker with the stage's
 * retries and timeout. A preflight refused by the server throws refusedRunError.
 */
export async function openModel(settings: ModelRequestSettings): Promise<OpenedModel> {
  const spec = typeof settings.model === "string" ? backendSpecOf(settings.model) : settings.model;
  const backend = createBackend(spec, {
    ...(settings.baseUrls ? { baseUrls: settings.baseUrls } : {}),
    ...(settings.identity ? { identity: settings.identity } : {}),
    ...(settings.adapter ? { adapter: settings.adapter } : {}),
    ...(settings.servedFrom ? { servedFrom: settings.servedFrom } : {}),
    ...(settings.provider ? { provider: settings.provider } : {}),
    ...(settings.apiKeyEnv ? { apiKeyEnv: settings.apiKeyEnv } : {}),
    seed: settings.seed ?? 0,
    scoredGolds: settings.scoredGolds ?? (() => []),
  });
  if (settings.preflight !== false) await preflight(backend, settings);
  const cache =
    settings.cache !== false && backend.cacheable ? openRequestCache(settings.cacheDir, backend.identity(), settings.log) : null;
  const asker = new Asker({
    backend,
    cache,
    protocolVersion: settings.protocolVersion,
    retry: retryPolicy(settings),
    signal: settings.signal,
    notice: settings.notice ?? settings.log,
    // A baseline answers in-process: nothing to pace.
    ...(backend.cacheable ? limiterOf(settings) : {}),
  });
  return { backend, asker, cache };
}

function limiterOf(settings: ModelRequestSettings): { limiter?: ConcurrencyLimiter } {
  const limiter = settings.limiter ?? (settings.concurrency ? concurrencyLimiter(settings.concurrency, settings.timeoutMs) : undefined);
  return limiter ? { limiter } : {};
}

async function preflight(backend: ModelBackend, settings: ModelRequestSettings): Promise<void> {
  if (!backend.preflight) return;
  const timeout = AbortSignal.timeout(settings.preflightTimeoutMs ?? PREFLIGHT_TIMEOUT_MS);
  try {
    await backend.preflight(AbortSignal.any([settings.signal, timeout]));
  } catch (error) {
    if (isFatalError(error)) throw refusedRunError(error, backend.id());
    throw error;
  }
}

/**
 * One identity's request cache under the cache root, for a stage that reads answers without
 * asking a model (distill's batch and cache-only modes). openModel opens the same instance.
 */
export function openRequestCache(cacheDir: string | undefined, identity: BackendIdentity, log: (line: string) => void): RequestCache {
  return RequestCache.open(requestCacheDir(cacheRoot(cacheDir)), identity, log);
}

/** The one writability check of the request cache folder, before a run asks anything. */
export async function checkRequestCacheWritable(cacheDir?: string): Promise<void> {
  await checkWritableDir(CACHE_DIR_LABEL(cacheDir), requestCacheDir(cacheRoot(cacheDir)));
}

export interface EmbeddingSettings {
  /** "openai:<model>" or "hf:<model>": a kind of the registry with an embedding endpoint. */
  model: string;
  baseUrl?: string;
  apiKeyEnv?: string;
  cacheDir?: string;
  cache?: boolean;
  retries: number;
  /** Per attempt. */
  timeoutMs: number;
  signal: AbortSignal;
  log: (line: string) => void;
}

export interface OpenedEmbedder {
  id(): string;
  /** One vector per text, in order; texts cached before are not sent again. */
  embed(texts: readonly string[]): Promise<number[][]>;
  /** sent: embedding requests sent (attempts included); cacheHits: texts answered from the cache. */
  counters: AskCounters;
}

/**
 * The registry's embedding backend behind the stage's retries and timeouts, with a cache per text
 * under the same cache root: a rerun sends only the texts it has not embedded yet.
 */
export async function openEmbedder(settings: EmbeddingSettings): Promise<OpenedEmbedder> {
  const backend = createEmbeddingBackend(settings.model, {
    ...(settings.baseUrl ? { baseUrl: settings.baseUrl } : {}),
    ...(settings.apiKeyEnv ? { apiKeyEnv: settings.apiKeyEnv } : {}),
  });
  const cache = settings.cache === false ? null : openRequestCache(settings.cacheDir, backend.identity(), settings.log);
  return new CachedEmbedder(backend, cache, retryPolicy(settings), settings.signal, settings.log);
}

class CachedEmbedder implements OpenedEmbedder {
  readonly counters: AskCounters = { sent: 0, cacheHits: 0, retries: 0, failures: 0 };
  private readonly identity: BackendIdentity;
  private retryAfterNoticed = false;

  constructor(
    private readonly backend: EmbeddingBackend,
    private readonly cache: RequestCache | null,
    private readonly retry: RetryPolicy,
    private readonly signal: AbortSignal,
    private readonly log: (line: string) => void,
  ) {
    this.identity = backend.identity();
  }

  id(): string {
    return this.backend.id();
  }

  async embed(texts: readonly string[]): Promise<number[][]> {
    const vectors = new Map<string, number[]>();
    const missing: string[] = [];
    for (const text of new Set(texts)) {
      const hit = this.cached(text);
      if (hit) {
        this.counters.cacheHits += 1;
        vectors.set(text, hit);
      } else missing.push(text);
    }
    if (missing.length > 0) {
      const started = performance.now();
      const embedded = await this.ask(missing);
      const latencyMs = Math.round(performance.now() - started);
      for (const [i, text] of missing.entries()) {
        const vector = embedded[i]!;
        vectors.set(text, vector);
        this.cache?.put(embeddingKey(this.identity, text), { response: { text: JSON.stringify(vector) }, latencyMs });
      }
    }
    return texts.map((text) => vectors.get(text)!);
  }

  /** A cached vector, or undefined (a line that is not a list of numbers is a miss). */
  private cached(text: string): number[] | undefined {
    const hit = this.cache?.get(embeddingKey(this.identity, text));
    if (!hit) return undefined;
    try {
      const vector = JSON.parse(hit.response.text) as unknown;
      return Array.isArray(vector) && vector.length > 0 && vector.every((x) => typeof x === "number" && Number.isFinite(x))
        ? (vector as number[])
        : undefined;
    } catch {
      return undefined;
    }
  }

  private async ask(texts: string[]): Promise<number[][]> {
    try {
      return await withRetry(
        (attempt) => {
          this.counters.sent += 1;
          return this.backend.embed(texts, attempt);
        },
        this.retry,
        {
          signal: this.signal,
          onRetry: () => {
            this.counters.retries += 1;
          },
          onRetryAfterOverCap: (askedMs, capMs) => {
            if (this.retryAfterNoticed) return;
            this.retryAfterNoticed = true;
            this.log(retryAfterOverCapLine(askedMs, capMs));
          },
        },
      );
    } catch (error) {
      this.counters.failures += 1;
      throw error;
    }
  }
}
